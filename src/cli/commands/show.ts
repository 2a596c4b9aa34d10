// `runyard show`: one run of the local store, with its output totals read from its log file
// while it runs.
import { join } from 'node:path';
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import { isTerminalStatus, type RunRecord } from '../../core/types.js';
import { scanLogFile } from '../../output/log-file.js';
import type { CliContext } from '../context.js';
import { formatDuration } from '../format.js';
import { logDirOf, openRunStore, storeLocation } from '../local-store.js';
import { onePositional, parseCommand, storeOptions } from '../parse.js';
import { exitCodes, printUsage, storeOptionsUsage } from '../usage.js';

export const showUsage = `Usage: runyard show [options] <id>

Shows one run: its status, timing, command, exit and error. While the run is not finished,
its output totals are counted from its log file.

Options:
${storeOptionsUsage()}
  --json              Print the run record as JSON
  -h, --help          Show this help`;

export async function showCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, storeOptions);
  if (values.help) return printUsage(showUsage);
  const id = onePositional(positionals, 'run id');
  const location = storeLocation(values, context);
  const store = await openRunStore(location);
  try {
    const run = await store.get(id);
    if (!run) throw new RunyardError(ErrorCodes.NOT_FOUND, `No run with id \`${id}\``);
    // The store's totals are written when the run ends; until then the log file knows more.
    if (!isTerminalStatus(run.status)) run.output = await countLogLines(location.home, run);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
      return exitCodes.ok;
    }
    const rows: [string, string | undefined][] = [
      ['id', run.id],
      ['name', run.name],
      ['status', run.status + (run.waitingFor ? ` (waiting for ${run.waitingFor})` : '')],
      ['pattern', run.pattern],
      ['command', run.command && [run.command, ...(run.args ?? [])].join(' ')],
      ['cwd', run.cwd],
      ['attempt', String(run.attempt)],
      ['pid', run.pid?.toString()],
      ['exit', run.exitCode != null ? `code ${run.exitCode}` : (run.exitSignal ?? undefined)],
      ['error', run.error && `${run.error.code}: ${run.error.message}`],
      ['created', run.createdAt],
      ['started', run.startedAt],
      ['finished', run.finishedAt],
      ['duration', run.durationMs === undefined ? undefined : formatDuration(run.durationMs)],
      [
        'output',
        `${run.output.lines} lines, ${run.output.bytes} bytes${run.output.truncated ? ' (truncated)' : ''}`,
      ],
      [
        'labels',
        run.labels &&
          Object.entries(run.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(' '),
      ],
      ['parent', run.parentId],
    ];
    for (const [key, value] of rows) {
      if (value !== undefined && value !== '') process.stdout.write(`${key.padEnd(9)}${value}\n`);
    }
    return exitCodes.ok;
  } finally {
    await store.close();
  }
}

/** Lines and bytes of a run's log file, program lines only, as the store counts them at the end. */
async function countLogLines(home: string, run: RunRecord): Promise<RunRecord['output']> {
  const output = { lines: 0, bytes: 0, truncated: run.output.truncated };
  try {
    for await (const batch of scanLogFile(join(logDirOf(home), `${run.id}.log`), { from: 1 })) {
      for (const line of batch) {
        if (line.stream === 'system') continue;
        output.lines++;
        output.bytes += Buffer.byteLength(line.text) + 1;
      }
    }
  } catch (error) {
    // No log file yet: the run has printed nothing.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return output;
}
