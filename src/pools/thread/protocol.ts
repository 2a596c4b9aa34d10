/**
 * What a `ThreadPool` and its threads (`src/workers/thread-worker.ts`) exchange. No imports:
 * the worker loads this module too.
 *
 * - A piscina task is a batch: `[seq, slot, payload, exportName, seq, slot, …]`, four entries
 *   per pool task; `exportName` is `undefined` for the pool's own (`WorkerSetup.exportName`).
 *   Small synchronous tasks travel several to a batch; the others one to a batch.
 * - Its result is `[status, value, status, value, …, elapsedMs, sawPromise]`: one pair per
 *   task in the same order, then how long the batch ran on its thread and whether one of its
 *   tasks returned a promise (1) or not (0).
 * - Out of band, on the thread's `parentPort` (piscina's `'message'` event):
 *   `{ runyardResults: [seq, slot, status, value, …] }`, results sent ahead of their batch:
 *   those of a batch whose thread is about to exit, and, when a task of a batch returns a
 *   promise, those of the tasks before it and the `NOT_STARTED` of those after it. The pool
 *   takes whichever copy comes first. And `{ runyardCrash: { threadId, error } }` when an
 *   error nothing caught is about to end the thread: the thread then exits on its own, so
 *   Node hands the pool every message the thread sent before it reports the exit.
 * - Pool to threads, on a `BroadcastChannel`: `{ id: seq, reason }` aborts one running task's
 *   signal; every thread gets it and the one running that task acts.
 */

/** The task returned (or resolved with) `value`. */
export const OK = 0;
/** The task threw (or rejected); `value` is a `TaskFailure`. */
export const FAILED = 1;
/** The pool cancelled the task before it started; it did not run. */
export const SKIPPED = 2;
/** The thread did not start the task (an earlier one of its batch returned a promise). */
export const NOT_STARTED = 3;

export type Outcome = typeof OK | typeof FAILED | typeof SKIPPED | typeof NOT_STARTED;

/** Values per task in a batch message. */
export const BATCH_STRIDE = 4;

/** A task's failure as it crosses the thread boundary: only strings, so it always clones. */
export interface TaskFailure {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export type CancelReason = 'cancel' | 'timeout' | 'close';

export interface CancelMessage {
  id: number;
  reason: CancelReason;
}

export interface ResultsMessage {
  runyardResults: unknown[];
}

/**
 * Given to every thread as `workerData.runyardThreadPool`.
 *
 * One slot per task a thread may hold; per slot, shared with the pool:
 * - `cells[slot]`: the id of the thread that started the slot's task, 0 until it starts;
 * - `cells[slots + slot]`: the `seq` of a task cancelled in this slot: a thread skips it;
 * - `times[slot]`: when the task started (Unix ms), written before its thread id.
 */
export interface WorkerSetup {
  /** The task module, as a file: URL. */
  filename: string;
  /** The export that runs a task whose batch entry names none. */
  exportName: string;
  channel: string;
  cells: Int32Array;
  times: Float64Array;
  slots: number;
}

export interface CrashMessage {
  runyardCrash: { threadId: number; error: TaskFailure };
}

export function isCrashMessage(message: unknown): message is CrashMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as Partial<CrashMessage>).runyardCrash === 'object'
  );
}

export function isResultsMessage(message: unknown): message is ResultsMessage {
  return (
    typeof message === 'object' &&
    message !== null &&
    Array.isArray((message as Partial<ResultsMessage>).runyardResults)
  );
}
