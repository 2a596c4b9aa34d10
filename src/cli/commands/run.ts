import { constants } from 'node:os';
import { parseArgs } from 'node:util';
import { isRunyardError } from '../../core/errors.js';
import type { RunResult } from '../../core/types.js';
import { run } from '../../patterns/simple.js';
import { parseDuration } from '../duration.js';
import { onInterrupt } from '../interrupt.js';
import { usageErrors } from '../parse.js';
import { exitCodes, UsageError } from '../usage.js';

export const runUsage = `Usage: runyard run [options] -- <command> [args...]

Runs a program, streams its stdout and stderr as they come, and exits with its exit code
(128+n when a signal ended it, 124 on timeout). Ctrl-C ends the whole process tree
gracefully (SIGTERM, then SIGKILL after the grace); a second Ctrl-C kills at once.

Options:
  --timeout <duration>     End the run after this long (30s, 2m, 1h; a bare number is seconds)
  --kill-grace <duration>  Time between SIGTERM and SIGKILL (default 5s)
  --cwd <dir>              Working directory of the program
  --shell                  Run the command through the system shell
  --json                   Print the run result as JSON instead of streaming the output
  -h, --help               Show this help`;

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals } = usageErrors(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        timeout: { type: 'string' },
        'kill-grace': { type: 'string' },
        cwd: { type: 'string' },
        shell: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
  );
  if (values.help) {
    process.stdout.write(`${runUsage}\n`);
    return exitCodes.ok;
  }
  const [command, ...args] = positionals;
  if (command === undefined) throw new UsageError('Missing the command to run, after `--`');
  const timeoutMs =
    values.timeout === undefined ? undefined : parseDuration('--timeout', values.timeout);
  const killGraceMs =
    values['kill-grace'] === undefined
      ? undefined
      : parseDuration('--kill-grace', values['kill-grace']);

  const controller = new AbortController();
  const stopListening = onInterrupt(() => controller.abort('interrupted'));
  const json = values.json === true;
  let result: RunResult;
  try {
    result = await run(command, args, {
      cwd: values.cwd,
      shell: values.shell,
      timeoutMs,
      killGraceMs,
      signal: controller.signal,
      onLine: json
        ? undefined
        : (line) =>
            (line.stream === 'stderr' ? process.stderr : process.stdout).write(`${line.text}\n`),
      // Streaming already shows everything; keep only what error messages need.
      maxBufferBytes: json ? undefined : 64 * 1024,
    });
  } catch (error) {
    if (isRunyardError(error, 'ERR_SPAWN')) {
      process.stderr.write(`runyard: ${error.message}\n`);
      const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
      return code === 'EACCES' ? exitCodes.notExecutable : exitCodes.notFound;
    }
    throw error;
  } finally {
    stopListening();
  }
  if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else if (!result.ok && result.status !== 'failed') {
    process.stderr.write(`runyard: ${result.error?.message ?? result.status}\n`);
  }
  return exitCodeOf(result);
}

export function exitCodeOf(result: RunResult): number {
  switch (result.status) {
    case 'succeeded':
      return exitCodes.ok;
    case 'timed_out':
      return exitCodes.timedOut;
    case 'cancelled':
      return exitCodes.interrupted;
    default:
      if (typeof result.exitCode === 'number') return result.exitCode;
      if (result.exitSignal) return 128 + signalNumber(result.exitSignal);
      return exitCodes.failed;
  }
}

function signalNumber(name: string): number {
  return (constants.signals as Record<string, number | undefined>)[name] ?? 0;
}
