import { join } from 'node:path';
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import {
  isTerminalStatus,
  type RunRecord,
  type RunStatus,
  terminalStatuses,
} from '../../core/types.js';
import { scanLogFile } from '../../output/log-file.js';
import { TaskManager } from '../../patterns/fire-and-forget.js';
import type { CliContext } from '../context.js';
import { formatDuration, formatTable, runHeader, runRow } from '../format.js';
import { logDirOf, openRunStore, storeLocation } from '../local-store.js';
import { noPositionals, onePositional, parseCommand, parseCount, storeOptions } from '../parse.js';
import { exitCodes, UsageError } from '../usage.js';

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

const statuses: readonly RunStatus[] = ['queued', 'running', ...terminalStatuses];

export const lsUsage = `Usage: runyard ls [options]

Lists runs from the local store, newest first.

Options:
  --status <status>   Only runs with this status (${statuses.join(', ')}); repeatable
  --name <name>       Only runs with this name
  --limit <n>         At most this many runs (default 50)
${storeOptionsUsage()}
  --json              Print the runs as JSON
  -h, --help          Show this help`;

export async function lsCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...storeOptions,
    status: { type: 'string', multiple: true },
    name: { type: 'string' },
    limit: { type: 'string' },
  });
  if (values.help) return printUsage(lsUsage);
  noPositionals(positionals);
  for (const status of values.status ?? []) {
    if (!statuses.includes(status as RunStatus)) {
      throw new UsageError(
        `Expected \`--status\` to be one of ${statuses.join(', ')}, got \`${status}\``,
      );
    }
  }
  const limit = parseCount('--limit', values.limit) ?? 50;
  const store = await openRunStore(storeLocation(values, context));
  try {
    const page = await store.list({
      ...(values.status && { status: values.status as RunStatus[] }),
      ...(values.name !== undefined && { name: values.name }),
      limit,
    });
    if (values.json) process.stdout.write(`${JSON.stringify(page.runs, null, 2)}\n`);
    else if (page.runs.length === 0) process.stdout.write('No runs.\n');
    else process.stdout.write(`${formatTable(runHeader, page.runs.map(runRow))}\n`);
    return exitCodes.ok;
  } finally {
    await store.close();
  }
}

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

export const cancelUsage = `Usage: runyard cancel [options] <id>

Cancels a queued or running run and waits until it has ended. The process that runs it ends
the whole process tree (SIGTERM, then SIGKILL after its grace). A run that already ended is
left as it is.

Options:
${storeOptionsUsage()}
  --json              Print the run record as JSON
  -h, --help          Show this help`;

export async function cancelCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, storeOptions);
  if (values.help) return printUsage(cancelUsage);
  const id = onePositional(positionals, 'run id');
  const location = storeLocation(values, context);
  const store = await openRunStore(location);
  const manager = new TaskManager({ store, logDir: logDirOf(location.home), pollMs: 100 });
  try {
    const run = await manager.cancel(id);
    if (values.json) process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    else process.stdout.write(`${run.id} ${run.status}\n`);
    return exitCodes.ok;
  } finally {
    await manager.shutdown({ graceMs: 0 });
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

export function printUsage(usage: string): number {
  process.stdout.write(`${usage}\n`);
  return exitCodes.ok;
}
