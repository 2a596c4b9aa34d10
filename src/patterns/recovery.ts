import { ErrorCodes, isRunyardError } from '../core/errors.js';
import type { RunOwner, RunRecord } from '../core/types.js';
import { isSameProcessAlive, ownerState } from '../process/owner.js';
import { RUN_ID_VARIABLE } from '../process/spawn-process.js';
import { terminateTree } from '../process/tree-kill.js';
import type { RunStore } from '../store/run-store.js';

export interface RecoverySummary {
  /** Runs whose owner died while they ran (or waited, for function runs): now `interrupted`. */
  interrupted: number;
  /** Queued process runs of a dead owner, taken over and started again. */
  requeued: number;
  /** Runs of a dead owner whose cancel was asked for: now `cancelled`. */
  cancelled: number;
  /** Orphaned processes that were still running and were ended. */
  orphansEnded: number;
}

export interface RecoveryOptions {
  /** Takes over a queued process run; without it such runs are left queued. */
  requeue?: (record: RunRecord) => Promise<void>;
  /** Look at this run only (a cancel from a process that does not own it). */
  only?: RunRecord;
  /** Mark the dead owner's runs `cancelled` with this reason instead of `interrupted`. */
  cancel?: string;
}

/** How long an orphan gets between SIGTERM and SIGKILL: its owner is gone, nobody waits on it. */
const orphanGraceMs = 2000;

/**
 * Finds queued and running runs whose owner process died (same host; the owner's start time
 * tells a reused pid apart), ends their orphaned process trees, and settles them: `interrupted`
 * (or `cancelled` when asked), except queued process runs, which `requeue` takes over.
 * Runs owned by live processes, or by another host, are left alone.
 */
export async function recoverRuns(
  store: RunStore,
  self: RunOwner,
  options: RecoveryOptions = {},
): Promise<RecoverySummary> {
  const summary: RecoverySummary = { interrupted: 0, requeued: 0, cancelled: 0, orphansEnded: 0 };
  const candidates = options.only ? [options.only] : await unfinishedRuns(store);
  for (const record of candidates) {
    if (ownerState(record.owner, self) !== 'dead') continue;
    if (record.status === 'running' && record.pid !== undefined) {
      if (isSameProcessAlive(record.pid, record.childStartTime)) {
        await terminateTree(record.pid, {
          graceMs: orphanGraceMs,
          marker: { name: RUN_ID_VARIABLE, value: record.id },
        });
        summary.orphansEnded++;
      }
    }
    if (
      options.cancel === undefined &&
      record.status === 'queued' &&
      record.command &&
      options.requeue
    ) {
      await options.requeue(record);
      summary.requeued++;
      continue;
    }
    const owner = record.owner ? `pid ${record.owner.pid}` : 'an unknown process';
    const patch: Partial<RunRecord> =
      options.cancel !== undefined
        ? {
            status: 'cancelled',
            error: {
              code: ErrorCodes.CANCELLED,
              message: `\`${record.name}\` was cancelled after its owner (${owner}) died`,
            },
          }
        : {
            status: 'interrupted',
            error: {
              code: ErrorCodes.INTERRUPTED,
              message: `\`${record.name}\` was interrupted: its owner (${owner}) died while it ${
                record.status === 'running' ? 'ran' : 'waited'
              }`,
            },
          };
    try {
      await store.update(record.id, {
        ...patch,
        waitingFor: undefined,
        finishedAt: new Date().toISOString(),
      });
      if (patch.status === 'cancelled') summary.cancelled++;
      else summary.interrupted++;
    } catch (error) {
      // Another process recovered it first.
      if (!isRunyardError(error, 'ERR_CONFLICT')) throw error;
    }
  }
  return summary;
}

async function unfinishedRuns(store: RunStore): Promise<RunRecord[]> {
  const runs: RunRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ status: ['queued', 'running'], limit: 1000, cursor });
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor);
  // Oldest first, so requeued runs start in the order they were launched.
  return runs.reverse();
}
