/*
 * `findHistory()`: looks up a schedule's newest run and last timer firing in the manager's store.
 * Its own file so store paging for downtime detection stays out of `ScheduleState`.
 */
import type { RunRecord } from '../core/types.js';
import type { TaskManager } from '../tasks/task-manager.js';

/** The runs a schedule made before, found in the manager's store. */
export interface History {
  /** The newest run of the schedule, whatever made it. */
  last: RunRecord | undefined;
  /** The due time of the newest firing the timer made (not a `trigger()`). */
  lastDue: number | undefined;
}

/** How many of the newest runs are searched for the last scheduled firing. */
const HISTORY_RUNS = 1000;

/** The schedule's newest run and the due time of its newest timer firing, from the store. */
export async function findHistory(manager: TaskManager, parentId: string): Promise<History> {
  const history: History = { last: undefined, lastDue: undefined };
  let cursor: string | undefined;
  let seen = 0;
  do {
    const page = await manager.list({ parentId, limit: 100, ...(cursor && { cursor }) });
    for (const run of page.runs) {
      history.last ??= run;
      const firing = run.labels?.firing;
      if (firing === 'scheduled' || firing === 'catch-up' || firing === undefined) {
        // A run recorded without labels (an older runyard) counts from when it was made.
        const due = Date.parse(run.labels?.due ?? run.createdAt);
        if (Number.isFinite(due)) {
          history.lastDue = due;
          return history;
        }
      }
    }
    seen += page.runs.length;
    cursor = page.nextCursor;
  } while (cursor && seen < HISTORY_RUNS);
  return history;
}
