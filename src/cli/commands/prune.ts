import { parseArgs } from 'node:util';
import { maintenanceDefaults, pruneRuns } from '../../patterns/maintenance.js';
import { parseDuration } from '../duration.js';
import { logDirOf, openLocalStore, resolveHome } from '../local-store.js';
import { storeOptions, usageErrors } from '../parse.js';
import { exitCodes, UsageError } from '../usage.js';
import { printUsage } from './runs.js';

export const pruneUsage = `Usage: runyard prune [options]

Deletes finished runs older than a duration from the local store, with their log files, as
the maintenance job \`maintenance.prune-runs\` does. Queued and running runs are never deleted.

Options:
  --older-than <duration>   Runs created longer ago than this: 12h, 7d, 30d (default ${maintenanceDefaults.retentionDays}d)
  --keep-last <n>           Keep the newest n finished runs of each name, however old (default ${maintenanceDefaults.keepLast})
  --home <dir>              Where runs are kept (default: RUNYARD_HOME or ./.runyard)
  --json                    Print { runs, logFiles, ids, errors } as JSON
  -h, --help                Show this help`;

export async function pruneCommand(argv: string[]): Promise<number> {
  const { values, positionals } = usageErrors(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...storeOptions,
        'older-than': { type: 'string' },
        'keep-last': { type: 'string' },
      },
    }),
  );
  if (values.help) return printUsage(pruneUsage);
  if (positionals.length > 0) {
    throw new UsageError(`Unexpected argument \`${positionals[0]}\``);
  }
  const olderThanMs = parseDuration(
    '--older-than',
    values['older-than'] ?? `${maintenanceDefaults.retentionDays}d`,
  );
  const keepLast = parseKeepLast(values['keep-last']);
  const home = resolveHome(values.home);
  const store = await openLocalStore(home);
  try {
    const result = await pruneRuns({ store, logDir: logDirOf(home), olderThanMs, keepLast });
    if (values.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      process.stdout.write(
        `Deleted ${plural(result.runs, 'run')} and ${plural(result.logFiles, 'log file')}.\n`,
      );
      for (const error of result.errors) process.stderr.write(`runyard prune: ${error}\n`);
    }
    return result.errors.length > 0 ? exitCodes.failed : exitCodes.ok;
  } finally {
    await store.close();
  }
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
