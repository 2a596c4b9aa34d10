// `runyard ls`: the runs of the local store, newest first.
import { type RunStatus, terminalStatuses } from '../../core/types.js';
import type { CliContext } from '../context.js';
import { formatTable, runHeader, runRow } from '../format.js';
import { openRunStore, storeLocation } from '../local-store.js';
import { noPositionals, parseCommand, parseCount, storeOptions } from '../parse.js';
import { exitCodes, printUsage, storeOptionsUsage, UsageError } from '../usage.js';

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
