/**
 * Settling the runs of owners that died: their leftover processes are ended first (by the
 * run's marker and process group, whatever their direct child did), then the runs are marked
 * or started again.
 */
import { ErrorCodes, isRunyardError } from '../core/errors.js';
import type { RunOwner, RunRecord } from '../core/types.js';
import { RUN_ID_VARIABLE } from '../process/child-env.js';
import { ownerState } from '../process/owner.js';
import {
  createReadBuffer,
  isDeadState,
  type ProcessInfo,
  readEnvironValue,
  readProcessTable,
} from '../process/process-table.js';
import { type TerminateResult, terminateTree } from '../process/tree-kill.js';
import type { RunStore } from '../store/run-store.js';

export interface RecoverySummary {
  /** Runs whose owner died while they ran (or waited, for function runs): now `interrupted`. */
  interrupted: number;
  /** Queued process runs of a dead owner, taken over and started again. */
  requeued: number;
  /** Runs of a dead owner whose cancel was asked for: now `cancelled`. */
  cancelled: number;
  /** Runs of a dead owner with processes still running, which were ended. */
  orphansEnded: number;
}

export interface RecoveryOptions {
  /** Takes over a queued process run; without it such runs are marked `interrupted`. */
  requeue?: (record: RunRecord) => Promise<void>;
  /** Look at this run only (a cancel from a process that does not own it). */
  only?: RunRecord;
  /** Mark the dead owner's runs `cancelled` with this reason instead of `interrupted`. */
  cancel?: string;
  /**
   * Leave queued process runs alone (for a `TaskManager.recover()` to start again) instead of
   * marking them `interrupted`. @default false
   */
  leaveQueued?: boolean;
}

/** How long an orphan gets between SIGTERM and SIGKILL: its owner is gone, nobody waits on it. */
const orphanGraceMs = 2000;

/**
 * Finds queued and running runs whose owner process died (same host; the owner's start time
 * tells a reused pid apart), ends every process still carrying their run id (all runs at
 * once, so a tree that ignores SIGTERM costs one grace period, not one per run), and settles
 * them: `interrupted` (or `cancelled` when asked), except queued process runs, which
 * `requeue` takes over. A queued run may have a first copy running (its owner died between
 * the spawn and recording `running`): it is ended before the run is started again, and a run
 * whose processes cannot be ended is never started again. Runs owned by live processes, or by
 * another host, are left alone.
 */
export async function recoverRuns(
  store: RunStore,
  self: RunOwner,
  options: RecoveryOptions = {},
): Promise<RecoverySummary> {
  const summary: RecoverySummary = { interrupted: 0, requeued: 0, cancelled: 0, orphansEnded: 0 };
  const all = options.only ? [options.only] : await unfinishedRuns(store);
  const candidates = all.filter(
    (record) =>
      ownerState(record.owner, self) === 'dead' &&
      !(options.leaveQueued && record.status === 'queued' && record.command && isLaunched(record)),
  );
  if (candidates.length === 0) return summary;
  const claimed = await claim(store, candidates, self);
  const endings = await endLeftovers(claimed);
  for (const [i, record] of claimed.entries()) {
    const { signalled, survivors } = endings[i]!;
    if (signalled > 0) summary.orphansEnded++;
    if (
      options.cancel === undefined &&
      record.status === 'queued' &&
      record.command &&
      isLaunched(record) &&
      options.requeue &&
      survivors.length === 0
    ) {
      await options.requeue(record);
      summary.requeued++;
      continue;
    }
    const dead = candidates.find((candidate) => candidate.id === record.id)!.owner;
    const owner = dead ? `pid ${dead.pid}` : 'an unknown process';
    const left =
      survivors.length === 0 ? '' : `; its processes ${survivors.join(', ')} could not be ended`;
    const patch: Partial<RunRecord> =
      options.cancel !== undefined
        ? {
            status: 'cancelled',
            error: {
              code: ErrorCodes.CANCELLED,
              message: `\`${record.name}\` was cancelled after its owner (${owner}) died${left}`,
            },
          }
        : {
            status: 'interrupted',
            error: {
              code: ErrorCodes.INTERRUPTED,
              message: `\`${record.name}\` was interrupted: its owner (${owner}) died while it ${
                record.status === 'running' ? 'ran' : 'waited'
              }${left}`,
            },
          };
    try {
      await store.update(
        record.id,
        { ...patch, waitingFor: undefined, finishedAt: new Date().toISOString() },
        { ifOwner: self },
      );
      if (patch.status === 'cancelled') summary.cancelled++;
      else summary.interrupted++;
    } catch (error) {
      // It ended meanwhile (a cancel through the store, say): nothing is left to settle.
      if (!isRunyardError(error, 'ERR_CONFLICT')) throw error;
    }
  }
  return summary;
}

/**
 * Takes each dead owner's run over before anything is ended or started: the owner is swapped
 * for `self` only if it is still the dead one that was read, so when two processes recover at
 * once each run goes to one of them, and only that one ends its leftovers and starts it again.
 * Runs another process took first, or that ended meanwhile, are left out.
 */
async function claim(
  store: RunStore,
  candidates: readonly RunRecord[],
  self: RunOwner,
): Promise<RunRecord[]> {
  const claimed: RunRecord[] = [];
  for (const record of candidates) {
    try {
      claimed.push(
        await store.update(record.id, { owner: self }, { ifOwner: record.owner ?? null }),
      );
    } catch (error) {
      if (!isRunyardError(error, 'ERR_CONFLICT')) throw error;
    }
  }
  return claimed;
}

/**
 * Runs a `TaskManager` launched (or a schedule fired through one) can start again; the queued
 * tasks of an Executor batch or a pool died with the caller waiting for them.
 */
function isLaunched(record: RunRecord): boolean {
  return record.pattern === 'fire-and-forget' || record.pattern === 'periodic';
}

/**
 * Ends what is left of each run, all at once: every process carrying the run's id in its
 * environment (a `setsid` daemon included), the recorded child if it is still the same
 * process, and the child's process group while it has members, whether or not the child
 * itself is alive. The results are in the order of `records`.
 */
export async function endLeftovers(records: readonly RunRecord[]): Promise<TerminateResult[]> {
  const table = readProcessTable();
  const marked = processesByRunId(table);
  return Promise.all(
    records.map((record) => {
      const target = terminationTarget(record, table, marked.get(record.id) ?? []);
      if (target === undefined) return { signalled: 0, forced: 0, survivors: [] };
      return terminateTree(target.root, {
        graceMs: orphanGraceMs,
        pgid: target.pgid,
        marker: { name: RUN_ID_VARIABLE, value: record.id },
      });
    }),
  );
}

/** Where `terminateTree` starts for a run: a live process of it, and the group to signal. */
function terminationTarget(
  record: RunRecord,
  table: Map<number, ProcessInfo>,
  marked: readonly number[],
): { root: number; pgid: number } | undefined {
  const leader = record.pid;
  if (leader !== undefined) {
    const info = table.get(leader);
    const isAlive = info !== undefined && !isDeadState(info.state);
    const isSame =
      isAlive &&
      (record.childStartTime === undefined ||
        record.childStartTime === 0 ||
        info.startTime === record.childStartTime);
    if (isSame) return { root: leader, pgid: leader };
    // A pid now naming another process says nothing of the group; a gone leader's group
    // cannot have been reused while its members live.
    if (!isAlive) {
      for (const member of table.values()) {
        if (member.pgid === leader && !isDeadState(member.state)) {
          return { root: member.pid, pgid: leader };
        }
      }
    }
  }
  const root = marked[0];
  return root === undefined ? undefined : { root, pgid: root };
}

/**
 * Live processes by the run id in their environment, from one pass over `/proc` (Linux only;
 * elsewhere none are found): one pass for all runs, rather than one per run.
 */
function processesByRunId(table: Map<number, ProcessInfo>): Map<string, number[]> {
  const found = new Map<string, number[]>();
  if (process.platform !== 'linux') return found;
  const buffer = createReadBuffer();
  for (const info of table.values()) {
    if (info.pid === process.pid || info.pid === 1 || isDeadState(info.state)) continue;
    const runId = readEnvironValue(info.pid, RUN_ID_VARIABLE, buffer);
    if (runId === undefined) continue;
    const pids = found.get(runId);
    if (pids) pids.push(info.pid);
    else found.set(runId, [info.pid]);
  }
  return found;
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
