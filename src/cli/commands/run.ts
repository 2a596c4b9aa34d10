/*
 * `runyard run`: runs one program in the foreground, its output passed through unchanged.
 */
import { createReadStream } from 'node:fs';
import { access, constants as fs } from 'node:fs/promises';
import { isRunyardError } from '../../core/errors.js';
import type { RunResult } from '../../core/types.js';
import { invalid } from '../../core/validate.js';
import { type ActiveRun, executeTask } from '../../run/execute-task.js';
import { normalizeTask } from '../../run/task-options.js';
import type { CliContext } from '../context.js';
import { parseDuration } from '../duration.js';
import { signalExitCode } from '../interrupt.js';
import { killTreeNow } from '../kill-tree.js';
import { parseCommand } from '../parse.js';
import { programInput } from '../stdin.js';
import { exitCodes, printUsage, UsageError } from '../usage.js';

export const runUsage = `Usage: runyard run [options] -- <command> [args...]

Runs a program, passes its stdout and stderr through byte for byte as they come (and its own
stdin to the program), and exits with the program's exit code
(128+n when a signal ended it, 124 on timeout). Ctrl-C (or SIGTERM, SIGHUP, SIGQUIT, SIGUSR2)
ends the whole process tree gracefully (SIGTERM, then SIGKILL after the grace) and exits with
128 + that signal's number (130 for Ctrl-C); a second one kills the tree at once. A closed
stdout (\`runyard run -- yes | head -1\`) ends the tree too, with 141.

Options:
  --timeout <duration>     End the run after this long (500ms, 30s, 2m, 1h30m; a unit is required)
  --kill-grace <duration>  Time between SIGTERM and SIGKILL (default 5s)
  --input <file>           Feed this file to the program's stdin instead of runyard's stdin
  --cwd <dir>              Working directory of the program
  --shell                  Run the command through the system shell
  --json                   Print the run result as JSON instead of streaming the output
  -h, --help               Show this help`;

const options = {
  timeout: { type: 'string' },
  'kill-grace': { type: 'string' },
  input: { type: 'string' },
  cwd: { type: 'string' },
  shell: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function runCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, options);
  if (values.help) return printUsage(runUsage);
  const [command, ...args] = positionals;
  if (command === undefined) throw new UsageError('Missing the command to run, after `--`');
  const timeoutMs =
    values.timeout === undefined ? undefined : parseDuration('--timeout', values.timeout);
  const killGraceMs =
    values['kill-grace'] === undefined
      ? undefined
      : parseDuration('--kill-grace', values['kill-grace']);
  const inputFile = values.input;
  if (inputFile !== undefined) {
    await access(inputFile, fs.R_OK).catch(() => {
      throw invalid('--input', 'a readable file', inputFile);
    });
  }

  const controller = new AbortController();
  const json = values.json === true;
  let active: ActiveRun | undefined;
  const stopListening = context.stops.listen({
    graceful: (stop) => controller.abort(stop.cause),
    forceful: () => {
      if (active?.pid !== undefined) void killTreeNow(active.pid, active.id);
    },
  });
  let result: RunResult;
  try {
    const maxBufferBytes = json ? 64 * 1024 * 1024 : 64 * 1024;
    const [task, runOptions] = normalizeTask(command, args, {
      cwd: values.cwd,
      shell: values.shell,
      timeoutMs,
      killGraceMs,
      signal: controller.signal,
      input: inputFile === undefined ? programInput() : createReadStream(inputFile),
      // The bytes as read: binary data, CRLF and `\r` progress bars pass through unchanged.
      onData: json
        ? undefined
        : (chunk, stream) => {
            const out = stream === 'stderr' ? process.stderr : process.stdout;
            // A copy: the stream may hold it until the reader takes it, and the chunk is lent.
            if (out.writable) out.write(Buffer.from(chunk));
          },
      // The output goes to the terminal as it comes; keep only what error messages need.
      maxBufferBytes,
    });
    // start() without its OutputLog: the lines are never read back here, so they are not
    // split, numbered and kept, and the log's modules are not loaded.
    active = executeTask(task, {
      ...runOptions,
      pattern: 'long-running',
      captureBytes: maxBufferBytes,
    });
    result = await active.result;
  } catch (error) {
    if (isRunyardError(error, 'ERR_SPAWN')) {
      process.stderr.write(`runyard: ${error.message}\n`);
      const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
      return code === 'EACCES' ? exitCodes.notExecutable : exitCodes.notFound;
    }
    throw error;
  } finally {
    stopListening();
    // The run has unpiped it; reading on would keep this process alive.
    process.stdin.destroy();
  }
  const stop = context.stops.first;
  if (json) write(process.stdout, JSON.stringify(result, null, 2));
  else if (!result.ok && result.status !== 'failed' && stop?.cause !== 'SIGPIPE') {
    write(process.stderr, `runyard: ${result.error?.message ?? result.status}`);
  }
  return stop?.exitCode ?? exitCodeOf(result);
}

/** One line; nothing once the reader has gone (the stop is already under way). */
function write(stream: NodeJS.WriteStream, text: string): void {
  if (stream.writable) stream.write(`${text}\n`);
}

function exitCodeOf(result: RunResult): number {
  switch (result.status) {
    case 'succeeded':
      return exitCodes.ok;
    case 'timed_out':
      return exitCodes.timedOut;
    case 'cancelled':
      return exitCodes.interrupted;
    default:
      if (typeof result.exitCode === 'number') return result.exitCode;
      if (result.exitSignal) return signalExitCode(result.exitSignal);
      return exitCodes.failed;
  }
}
