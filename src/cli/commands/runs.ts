import { parseArgs } from 'node:util';
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import { type RunStatus, terminalStatuses } from '../../core/types.js';
import { TaskManager } from '../../patterns/fire-and-forget.js';
import { formatDuration, formatTable, runHeader, runRow } from '../format.js';
import { logDirOf, openLocalStore, resolveHome } from '../local-store.js';
import { parseCount, storeOptions, usageErrors } from '../parse.js';
import { exitCodes, UsageError } from '../usage.js';

const statuses: readonly RunStatus[] = ['queued', 'running', ...terminalStatuses];

export const lsUsage = `Usage: runyard ls [options]

Lists runs from the local store, newest first.

Options:
  --status <status>   Only runs with this status (${statuses.join(', ')}); repeatable
  --name <name>       Only runs with this name
  --limit <n>         At most this many runs (default 50)
  --home <dir>        Where runs are kept (default: RUNYARD_HOME or ./.runyard)
  --json              Print the runs as JSON
  -h, --help          Show this help`;

export async function lsCommand(argv: string[]): Promise<number> {
  const { values } = usageErrors(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...storeOptions,
        status: { type: 'string', multiple: true },
        name: { type: 'string' },
        limit: { type: 'string' },
      },
    }),
  );
  if (values.help) return printUsage(lsUsage);
  for (const status of values.status ?? []) {
    if (!statuses.includes(status as RunStatus)) {
      throw new UsageError(
        `Expected \`--status\` to be one of ${statuses.join(', ')}, got \`${status}\``,
      );
    }
  }
  const store = await openLocalStore(resolveHome(values.home));
  try {
    const page = await store.list({
      ...(values.status && { status: values.status as RunStatus[] }),
      ...(values.name !== undefined && { name: values.name }),
      limit: parseCount('--limit', values.limit) ?? 50,
    });
    if (values.json) process.stdout.write(`${JSON.stringify(page.runs, null, 2)}\n`);
    else if (page.runs.length === 0) process.stdout.write('No runs.\n');
    else process.stdout.write(`${formatTable(runHeader, page.runs.map(runRow))}\n`);
    return exitCodes.ok;
  } finally {
    await store.close();
  }
}

export const showUsage = `Usage: runyard show [--home <dir>] [--json] <id>

Shows one run: its status, timing, command, exit and error.`;

export async function showCommand(argv: string[]): Promise<number> {
  const { values, positionals } = usageErrors(() =>
    parseArgs({ args: argv, allowPositionals: true, options: storeOptions }),
  );
  if (values.help) return printUsage(showUsage);
  const id = onePositional(positionals, 'run id');
  const store = await openLocalStore(resolveHome(values.home));
  try {
    const run = await store.get(id);
    if (!run) throw new RunyardError(ErrorCodes.NOT_FOUND, `No run with id \`${id}\``);
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

export const cancelUsage = `Usage: runyard cancel [--home <dir>] [--json] <id>

Cancels a queued or running run and waits until it has ended. The process that runs it ends
the whole process tree (SIGTERM, then SIGKILL after its grace). A run that already ended is
left as it is.`;

export async function cancelCommand(argv: string[]): Promise<number> {
  const { values, positionals } = usageErrors(() =>
    parseArgs({ args: argv, allowPositionals: true, options: storeOptions }),
  );
  if (values.help) return printUsage(cancelUsage);
  const id = onePositional(positionals, 'run id');
  const home = resolveHome(values.home);
  const store = await openLocalStore(home);
  const manager = new TaskManager({ store, logDir: logDirOf(home), pollMs: 100 });
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

export function onePositional(positionals: string[], what: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      `Expected one ${what}, got ${positionals.length === 0 ? 'none' : positionals.length}`,
    );
  }
  return positionals[0]!;
}

export function printUsage(usage: string): number {
  process.stdout.write(`${usage}\n`);
  return exitCodes.ok;
}
