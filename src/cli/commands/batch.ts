/*
 * `runyard batch`: runs a file of commands, one a line, at a given concurrency.
 */
import { readFile } from 'node:fs/promises';
import type { RunResult } from '../../core/types.js';
import { type BatchProgress, Executor } from '../../executor/executor.js';
import { taskOfLine } from '../batch-lines.js';
import type { CliContext } from '../context.js';
import { parseDuration } from '../duration.js';
import { formatDuration, formatTable } from '../format.js';
import { killTreeNow } from '../kill-tree.js';
import { logDirOf, openRunStore, storeLocation } from '../local-store.js';
import { noPositionals, parseCommand, parseCount, storeOptions } from '../parse.js';
import { exitCodes, printUsage, storeOptionsUsage } from '../usage.js';

export const batchUsage = `Usage: runyard batch [options] [file]

Runs the commands of a file (or stdin), one per line, at most N at a time, and records each
as a run of one batch. Empty lines and lines starting with # are skipped. A plain command
runs directly and is named after its program; a line with shell syntax (\`cd out && make\`,
quotes, pipes, variables) runs through the shell and is named after the line. Shows a live
progress bar on a terminal and one line per finished command otherwise, then a summary table.
Exits 1 when any command failed. Ctrl-C (or SIGTERM, SIGHUP, SIGQUIT, SIGUSR2) cancels the
batch: running commands get SIGTERM, then SIGKILL after --kill-grace; a second signal kills
them at once. Either way every run is recorded as cancelled before runyard exits with 128 +
the signal's number (130 for Ctrl-C).

Options:
  -j, --jobs <n>      Commands at a time (default: the number of CPUs)
  --fail-fast         Cancel the rest after the first failure
  --kill-grace <d>    Time between SIGTERM and SIGKILL when a command is cancelled (default 5s)
${storeOptionsUsage()}
  --json              Print the results as JSON
  -h, --help          Show this help`;

export async function batchCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...storeOptions,
    jobs: { type: 'string', short: 'j' },
    'fail-fast': { type: 'boolean' },
    'kill-grace': { type: 'string' },
  });
  if (values.help) return printUsage(batchUsage);
  noPositionals(positionals.slice(1));
  const concurrency = parseCount('--jobs', values.jobs);
  const killGraceMs =
    values['kill-grace'] === undefined
      ? undefined
      : parseDuration('--kill-grace', values['kill-grace']);
  const location = storeLocation(values, context);
  const text = await readCommands(positionals[0]);
  const tasks = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => ({
      ...taskOfLine(line),
      ...(killGraceMs !== undefined && { killGraceMs }),
    }));
  // A batch writes every run's start and end for as long as it lasts: worth the thread.
  const store = await openRunStore(location, { backgroundCheckpoints: true });
  const executor = new Executor({
    ...(concurrency !== undefined && { concurrency }),
    store,
    logDir: logDirOf(location.home),
  });
  // The running commands, so a second signal can kill their trees at once.
  const running = new Map<string, number>();
  executor.on('start', ({ id, pid }) => {
    if (pid !== undefined) running.set(id, pid);
  });
  executor.on('end', ({ result }) => running.delete(result.id));
  const controller = new AbortController();
  const stopListening = context.stops.listen({
    graceful: (stop) => controller.abort(stop.cause),
    // The runs still settle as cancelled and are recorded: runAll resolves once they are.
    forceful: () => {
      for (const [id, pid] of running) void killTreeNow(pid, id);
    },
  });
  const display = progressDisplay(values.json === true);
  try {
    const results = await executor.runAll(tasks, {
      failFast: values['fail-fast'] === true,
      signal: controller.signal,
      onProgress: display.update,
    });
    display.finish();
    const stop = context.stops.first;
    if (stop?.cause !== 'SIGPIPE') {
      if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      else process.stdout.write(`${summary(results)}\n`);
    }
    if (stop) return stop.exitCode;
    return results.every((r) => r.ok) ? exitCodes.ok : exitCodes.failed;
  } finally {
    stopListening();
    await executor.close();
    await store.close();
  }
}

async function readCommands(file: string | undefined): Promise<string> {
  if (file !== undefined && file !== '-') return readFile(file, 'utf8');
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}

/** A bar redrawn in place on a terminal; one plain line per finished command otherwise. */
function progressDisplay(quiet: boolean) {
  const isTty = process.stderr.isTTY === true;
  let drawn = false;
  return {
    update(progress: BatchProgress) {
      if (quiet || !process.stderr.writable) return;
      if (isTty) {
        const width = 30;
        const filled =
          progress.total === 0 ? width : Math.round((progress.done / progress.total) * width);
        process.stderr.write(
          `\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${progress.done}/${progress.total}` +
            `  running ${progress.running}  failed ${progress.failed}\u001b[K`,
        );
        drawn = true;
      } else if (progress.lastResult) {
        const r = progress.lastResult;
        process.stderr.write(
          `[${progress.done}/${progress.total}] ${r.status} ${r.name} (${formatDuration(r.durationMs)})\n`,
        );
      }
    },
    finish() {
      if (drawn) process.stderr.write('\n');
    },
  };
}

function summary(results: RunResult[]): string {
  const rows = results.map((r) => [
    r.id,
    r.status,
    formatDuration(r.durationMs),
    r.exitCode == null ? (r.exitSignal ?? '-') : String(r.exitCode),
    r.command ?? r.name,
  ]);
  const failed = results.filter((r) => !r.ok).length;
  return `${formatTable(['ID', 'STATUS', 'DURATION', 'EXIT', 'COMMAND'], rows)}\n${
    results.length - failed
  } succeeded, ${failed} failed`;
}
