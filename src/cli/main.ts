#!/usr/bin/env node
/*
 * The `runyard` command's entry: parses the command name and loads only that command.
 */
import { readFileSync } from 'node:fs';
import { isRunyardError } from '../core/errors.js';
import { nearestName } from '../core/validate.js';
import type { CliContext, CommandHandler } from './context.js';
import { Stops } from './interrupt.js';
import { unknownOptionError } from './parse.js';
import { exitCodes, mainUsage, UsageError } from './usage.js';

interface Command {
  readonly handler: CommandHandler;
  readonly usage: string;
}

/**
 * Each command's module is imported only when that command is asked for, so a call loads
 * what it uses: `run` neither the store nor the task manager, `ls` no process code.
 */
const commands: Record<string, () => Promise<Command>> = {
  run: async () => {
    const { runCommand, runUsage } = await import('./commands/run.js');
    return { handler: runCommand, usage: runUsage };
  },
  launch: async () => {
    const { launchCommand, launchUsage } = await import('./commands/launch.js');
    return { handler: launchCommand, usage: launchUsage };
  },
  ls: async () => {
    const { lsCommand, lsUsage } = await import('./commands/ls.js');
    return { handler: lsCommand, usage: lsUsage };
  },
  show: async () => {
    const { showCommand, showUsage } = await import('./commands/show.js');
    return { handler: showCommand, usage: showUsage };
  },
  logs: async () => {
    const { logsCommand, logsUsage } = await import('./commands/logs.js');
    return { handler: logsCommand, usage: logsUsage };
  },
  cancel: async () => {
    const { cancelCommand, cancelUsage } = await import('./commands/cancel.js');
    return { handler: cancelCommand, usage: cancelUsage };
  },
  batch: async () => {
    const { batchCommand, batchUsage } = await import('./commands/batch.js');
    return { handler: batchCommand, usage: batchUsage };
  },
  prune: async () => {
    const { pruneCommand, pruneUsage } = await import('./commands/prune.js');
    return { handler: pruneCommand, usage: pruneUsage };
  },
  schedules: async () => {
    const { schedulesCommand, schedulesUsage } = await import('./commands/schedules.js');
    return { handler: schedulesCommand, usage: schedulesUsage };
  },
  supervise: async () => {
    const { superviseCommand, superviseUsage } = await import('./commands/supervise.js');
    return { handler: superviseCommand, usage: superviseUsage };
  },
  advise: async () => {
    const { adviseCommand, adviseUsage } = await import('./commands/advise.js');
    return { handler: adviseCommand, usage: adviseUsage };
  },
};

const globalOptions = {
  store: { type: 'string' },
  home: { type: 'string' },
  version: { type: 'boolean', short: 'V' },
  help: { type: 'boolean', short: 'h' },
} as const;

async function main(argv: string[], stops: Stops): Promise<number> {
  const globals: { store?: string; home?: string } = {};
  let at = 0;
  try {
    for (; at < argv.length && argv[at]!.startsWith('-'); at++) {
      const [flag, inline] = splitFlag(argv[at]!);
      if (flag === '--version' || flag === '-V') return printVersion();
      if (flag === '--help' || flag === '-h') return printHelp(undefined);
      if (flag !== '--store' && flag !== '--home') throw unknownOptionError(flag, globalOptions);
      const value = inline ?? argv[++at];
      if (value === undefined) throw new UsageError(`Missing the value of \`${flag}\``);
      globals[flag === '--store' ? 'store' : 'home'] = value;
    }
  } catch (error) {
    process.stderr.write(`runyard: ${(error as Error).message}\n\n${mainUsage}\n`);
    return exitCodes.usage;
  }
  const [name, ...rest] = argv.slice(at);
  if (name === undefined) {
    process.stdout.write(`${mainUsage}\n`);
    return exitCodes.usage;
  }
  if (name === 'help') return printHelp(rest[0]);
  const load = commands[name];
  if (!load) return unknownCommand(name);
  const context: CliContext = { globals, stops };
  let usage = '';
  try {
    // Inside the try: a module that cannot load (a broken install) is a one-line message too.
    const command = await load();
    usage = command.usage;
    return await command.handler(rest, context);
  } catch (error) {
    if (error instanceof UsageError || isRunyardError(error, 'ERR_INVALID')) {
      process.stderr.write(`runyard ${name}: ${(error as Error).message}\n\n${usage}\n`);
      return exitCodes.usage;
    }
    process.stderr.write(`runyard ${name}: ${messageOf(error)}\n`);
    return isRunyardError(error, 'ERR_NOT_FOUND') ? exitCodes.notFoundRun : exitCodes.failed;
  }
}

/** `--store=x` → [`--store`, `x`]. */
function splitFlag(arg: string): [string, string | undefined] {
  const eq = arg.indexOf('=');
  return eq === -1 ? [arg, undefined] : [arg.slice(0, eq), arg.slice(eq + 1)];
}

async function printHelp(name: string | undefined): Promise<number> {
  if (name === undefined) {
    process.stdout.write(`${mainUsage}\n`);
    return exitCodes.ok;
  }
  const load = commands[name];
  if (!load) return unknownCommand(name);
  process.stdout.write(`${(await load()).usage}\n`);
  return exitCodes.ok;
}

function unknownCommand(name: string): number {
  const near = nearestName(name, Object.keys(commands));
  const hint = near ? `: did you mean \`${near}\`?` : '';
  process.stderr.write(`runyard: unknown command \`${name}\`${hint}\n\n${mainUsage}\n`);
  return exitCodes.usage;
}

function printVersion(): number {
  // dist/cli/main.js and src/cli/main.ts both sit two folders below the package root.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${(pkg as { version: string }).version}\n`);
  return exitCodes.ok;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const stops = new Stops();
// A closed stdout or stderr (`runyard run -- yes | head -1`, a terminal that went away) ends
// the work as a shell pipeline would, instead of an unhandled 'error' event.
process.stdout.on('error', () => stops.outputClosed());
process.stderr.on('error', () => stops.outputClosed());
// A command line tool shows messages, never stack traces: the library's own console.error
// reports (a store write that failed) and anything unexpected are reduced to their message.
const consoleError = console.error.bind(console);
console.error = (...args: unknown[]) =>
  consoleError(...args.map((arg) => (arg instanceof Error ? arg.message : arg)));
const crash = (error: unknown) => {
  process.stderr.write(`runyard: ${messageOf(error)}\n`);
  process.exit(exitCodes.failed);
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

process.exitCode = await main(process.argv.slice(2), stops);
