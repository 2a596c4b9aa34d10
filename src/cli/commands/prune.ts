/*
 * `runyard prune`: removes finished runs older than a duration, and their logs.
 */
import { isTerminalStatus, type RunRecord } from '../../core/types.js';
import { maintenanceDefaults, pruneRuns } from '../../schedules/maintenance.js';
import type { RunStore } from '../../store/run-store.js';
import type { CliContext } from '../context.js';
import { parseDuration } from '../duration.js';
import { formatTable, runHeader, runRow } from '../format.js';
import { logDirOf, openRunStore, storeLocation } from '../local-store.js';
import { noPositionals, parseCommand, storeOptions } from '../parse.js';
import { exitCodes, printUsage, storeOptionsUsage, UsageError } from '../usage.js';

export const pruneUsage = `Usage: runyard prune [options]

Deletes finished runs older than a duration from the local store, with their log files, as
the maintenance job \`maintenance.prune-runs\` does, and lists what it deleted. Queued and
running runs are never deleted.

Options:
  --older-than <duration>   Runs created longer ago than this: 12h, 7d, 30d; a unit is required (default ${maintenanceDefaults.retentionDays}d)
  --keep-last <n>           Keep the newest n finished runs of each name, however old (default ${maintenanceDefaults.keepLast})
  --dry-run                 List the runs it would delete, and delete nothing
${storeOptionsUsage(28)}
  --json                    Print { runs, logFiles, ids, errors } as JSON
  -h, --help                Show this help`;

export async function pruneCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...storeOptions,
    'older-than': { type: 'string' },
    'keep-last': { type: 'string' },
    'dry-run': { type: 'boolean' },
  });
  if (values.help) return printUsage(pruneUsage);
  noPositionals(positionals);
  const olderThanMs = parseDuration(
    '--older-than',
    values['older-than'] ?? `${maintenanceDefaults.retentionDays}d`,
  );
  const keepLast = parseKeepLast(values['keep-last']);
  const location = storeLocation(values, context);
  const store = await openRunStore(location);
  try {
    // Read before deleting, so the report can name what went.
    const doomed = await pruneCandidates(store, Date.now() - olderThanMs, keepLast);
    if (values['dry-run']) {
      const ids = doomed.map((run) => run.id);
      if (values.json) {
        process.stdout.write(
          `${JSON.stringify({ runs: ids.length, ids, dryRun: true }, null, 2)}\n`,
        );
      } else {
        process.stdout.write(
          `Would delete ${plural(doomed.length, 'run')}; nothing was deleted.\n`,
        );
        if (doomed.length > 0)
          process.stdout.write(`${formatTable(runHeader, doomed.map(runRow))}\n`);
      }
      return exitCodes.ok;
    }
    const result = await pruneRuns({
      store,
      logDir: logDirOf(location.home),
      olderThanMs,
      keepLast,
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      process.stdout.write(
        `Deleted ${plural(result.runs, 'run')} and ${plural(result.logFiles, 'log file')}.\n`,
      );
      const known = new Map(doomed.map((run) => [run.id, run]));
      const rows = result.ids.map((id) => {
        const run = known.get(id);
        return run ? runRow(run) : [id];
      });
      if (rows.length > 0) process.stdout.write(`${formatTable(runHeader, rows)}\n`);
      for (const error of result.errors) process.stderr.write(`runyard prune: ${error}\n`);
    }
    return result.errors.length > 0 ? exitCodes.failed : exitCodes.ok;
  } finally {
    await store.close();
  }
}

/**
 * The runs the store's prune takes: finished, created before `cutoffMs`, and not among the
 * newest `keepLast` finished runs of their name. Newest first.
 */
async function pruneCandidates(
  store: RunStore,
  cutoffMs: number,
  keepLast: number,
): Promise<RunRecord[]> {
  const rank = new Map<string, number>();
  const doomed: RunRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ limit: 1000, cursor });
    for (const run of page.runs) {
      if (!isTerminalStatus(run.status)) continue;
      const place = (rank.get(run.name) ?? 0) + 1;
      rank.set(run.name, place);
      if (place > keepLast && Date.parse(run.createdAt) < cutoffMs) doomed.push(run);
    }
    cursor = page.nextCursor;
  } while (cursor);
  return doomed;
}

function parseKeepLast(text: string | undefined): number {
  if (text === undefined) return maintenanceDefaults.keepLast;
  const value = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < 0) {
    throw new UsageError(`Expected \`--keep-last\` to be a non-negative integer, got \`${text}\``);
  }
  return value;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
