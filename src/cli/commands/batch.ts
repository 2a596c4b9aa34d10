import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { ProcessTask, RunResult } from '../../core/types.js';
import { type BatchProgress, Executor } from '../../patterns/concurrent.js';
import { formatDuration, formatTable } from '../format.js';
import { onInterrupt } from '../interrupt.js';
import { logDirOf, openLocalStore, resolveHome } from '../local-store.js';
import { parseCount, storeOptions, usageErrors } from '../parse.js';
import { exitCodes, UsageError } from '../usage.js';
import { printUsage } from './runs.js';

export const batchUsage = `Usage: runyard batch [options] [file]

Runs the commands of a file (or stdin), one per line, at most N at a time, and records each
as a run of one batch. Lines are shell commands; empty lines and lines starting with # are
skipped. Shows a live progress bar on a terminal and one line per finished command otherwise,
then a summary table. Exits 1 when any command failed.

Options:
  -j, --jobs <n>      Commands at a time (default: the number of CPUs)
  --fail-fast         Cancel the rest after the first failure
  --home <dir>        Where runs are kept (default: RUNYARD_HOME or ./.runyard)
  --json              Print the results as JSON
  -h, --help          Show this help`;

export async function batchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = usageErrors(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...storeOptions,
        jobs: { type: 'string', short: 'j' },
        'fail-fast': { type: 'boolean' },
      },
    }),
  );
  if (values.help) return printUsage(batchUsage);
  if (positionals.length > 1) throw new UsageError('Expected at most one file');
  const text = await readCommands(positionals[0]);
  const tasks: ProcessTask[] = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => ({ command: line, shell: true, name: line.split(/\s+/)[0]! }));
  const home = resolveHome(values.home);
  const store = await openLocalStore(home);
  const concurrency = parseCount('--jobs', values.jobs);
  const executor = new Executor({
    ...(concurrency !== undefined && { concurrency }),
    store,
    logDir: logDirOf(home),
  });
  const controller = new AbortController();
  const stopListening = onInterrupt(() => controller.abort('interrupted'));
  const display = progressDisplay(values.json === true);
  try {
    const results = await executor.runAll(tasks, {
      failFast: values['fail-fast'] === true,
      signal: controller.signal,
      onProgress: display.update,
    });
    display.finish();
    if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    else process.stdout.write(`${summary(results)}\n`);
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
      if (quiet) return;
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
