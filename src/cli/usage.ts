/*
 * The usage texts of the commands, and the error for a wrong invocation.
 */
import { ErrorCodes, RunyardError } from '../core/errors.js';

/** A mistake on the command line: printed with the command's usage, exit code 2. */
export class UsageError extends RunyardError {
  constructor(message: string) {
    super(ErrorCodes.INVALID, message);
  }
}

export const exitCodes = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** No run with that id. */
  notFoundRun: 3,
  /** timeout(1)'s convention. */
  timedOut: 124,
  notExecutable: 126,
  notFound: 127,
  /** 128 + SIGINT, as a shell reports a Ctrl-C; the other stop signals give 128 + their number. */
  interrupted: 130,
} as const;

export const mainUsage = `Usage: runyard [--store <url>] [--home <dir>] <command> [options]

Commands:
  run [options] -- <command> [args...]      Run a program, stream its output, exit with its code
  launch [options] -- <command> [args...]   Start a program in the background, print its run id
  ls [--status s]                           List runs, newest first
  show <id>                                 Show one run
  logs [-f] <id>                            Print (and follow) a run's output
  cancel <id>                               Cancel a run, ending its whole process tree
  batch -j <n> [file]                       Run a file of commands, n at a time
  prune [--older-than 30d] [--keep-last n]  Delete old finished runs and their log files
  schedules                                 List schedules with their last run
  advise [--duration 2m] [--tasks n] ...    Recommend a pattern for some work, with reasons

Global options (before the command; each store command takes them too):
  --store <url>    The run store: sqlite:<path> or memory: (default: RUNYARD_STORE, else
                   <home>/runyard.db)
  --home <dir>     Where runs and their logs are kept (default: RUNYARD_HOME or ./.runyard)
  -V, --version    Print runyard's version
  -h, --help       Show this help

Run \`runyard help <command>\` or \`runyard <command> --help\` for a command's options.`;

/** The store options' lines of a store command's usage, descriptions at column `width`. */
export function storeOptionsUsage(width = 22): string {
  return [
    [
      '--store <url>',
      'The run store: sqlite:<path> or memory: (default: RUNYARD_STORE, else <home>/runyard.db)',
    ],
    ['--home <dir>', 'Where runs and logs are kept (default: RUNYARD_HOME or ./.runyard)'],
  ]
    .map(([flag, text]) => `  ${flag!.padEnd(width - 2)}${text}`)
    .join('\n');
}

export function printUsage(usage: string): number {
  process.stdout.write(`${usage}\n`);
  return exitCodes.ok;
}
