/*
 * `runyard schedules`: lists the schedules found in the store with their last runs.
 */
import type { RunRecord } from '../../core/types.js';
import type { CliContext } from '../context.js';
import { formatTable } from '../format.js';
import { openRunStore, storeLocation } from '../local-store.js';
import { noPositionals, parseCommand, storeOptions } from '../parse.js';
import { exitCodes, printUsage, storeOptionsUsage } from '../usage.js';

export const schedulesUsage = `Usage: runyard schedules [options]

Lists the schedules that have fired into the local store, with each one's last run and how
many of its recent runs failed. The next run time is known only to the process that runs the
scheduler; the server reports it.

Options:
${storeOptionsUsage()}
  --json              Print the schedules as JSON
  -h, --help          Show this help`;

/** How many of the newest periodic runs are read to find the schedules. */
const recentRuns = 5000;

interface ScheduleSummary {
  name: string;
  id: string;
  lastRun: RunRecord;
  runs: number;
  failures: number;
}

export async function schedulesCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, storeOptions);
  if (values.help) return printUsage(schedulesUsage);
  noPositionals(positionals);
  const store = await openRunStore(storeLocation(values, context));
  try {
    const schedules = new Map<string, ScheduleSummary>();
    let cursor: string | undefined;
    let read = 0;
    do {
      const page = await store.list({ pattern: 'periodic', limit: 1000, cursor });
      for (const run of page.runs) {
        const name = run.labels?.schedule;
        if (!name || !run.parentId) continue;
        // Pages come newest first: the first run seen of a schedule is its last one.
        const summary = schedules.get(name) ?? {
          name,
          id: run.parentId,
          lastRun: run,
          runs: 0,
          failures: 0,
        };
        summary.runs++;
        if (run.status === 'failed' || run.status === 'timed_out') summary.failures++;
        schedules.set(name, summary);
      }
      read += page.runs.length;
      cursor = page.nextCursor;
    } while (cursor && read < recentRuns);
    const list = [...schedules.values()].sort((a, b) => a.name.localeCompare(b.name));
    if (values.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    } else if (list.length === 0) {
      process.stdout.write('No schedule has fired yet.\n');
    } else {
      const rows = list.map((s) => [
        s.name,
        s.lastRun.createdAt.replace('T', ' ').slice(0, 19),
        s.lastRun.status,
        `${s.failures} of ${s.runs}`,
        s.lastRun.id,
      ]);
      process.stdout.write(
        `${formatTable(['SCHEDULE', 'LAST RUN (UTC)', 'STATUS', 'FAILED', 'RUN ID'], rows)}\n`,
      );
    }
    return exitCodes.ok;
  } finally {
    await store.close();
  }
}
