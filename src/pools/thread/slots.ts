/*
 * `Slots`: a `ThreadPool`'s tasks by state (queued, running, settled), with the errors a
 * task fails with on cancel, timeout or close.
 */
import type { TransferListItem } from 'node:worker_threads';
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import type { LongTimer } from '../../core/timers.js';
import type { RecordedTask } from './pool-recorder.js';
import type { TaskFailure } from './protocol.js';

export const QUEUED = 0;
export const RUNNING = 1;
export const SETTLED = 2;

/** Why a task was ended early; the first one wins. */
export type Reason = 'cancel' | 'timeout' | 'close';

/** One `run()` call, from acceptance to its settlement. */
export interface PoolTask {
  /** Dropped once the task settled. */
  payload: unknown;
  /** The run's name, in its record and its errors. */
  readonly name: string;
  /** The export that runs it; `undefined`: the pool's. */
  readonly exportName: string | undefined;
  /** Moved, not copied, to its thread; such a task is never handed to a second thread. */
  readonly transferList: readonly TransferListItem[] | undefined;
  /** QUEUED (waiting for a thread), RUNNING (handed to a thread) or SETTLED. */
  state: number;
  /** Identifies this hand-over to a thread; a new one on each. */
  seq: number;
  /** Its cells in `Slots` while a thread holds it; -1 before the first hand-over. */
  slot: number;
  /** 0: no time limit. */
  readonly timeoutMs: number;
  reason: Reason | undefined;
  /** The signal's reason, for a cancel. */
  detail: unknown;
  /** Its thread was terminated because it ignored its signal. */
  terminated: boolean;
  /** Times it was handed to another thread because its own died before it started. */
  restarts: number;
  /** Sent in a batch of its own (its batch could not be cloned: one payload is at fault). */
  alone: boolean;
  /** It waited for a thread, so its run record says `queued` until it is handed over. */
  waited: boolean;
  /** The time limit. */
  timer: LongTimer | undefined;
  /** The grace after a cancel, then the bound on the thread's termination. */
  graceTimer: LongTimer | undefined;
  /** The caller's signal, watched until the task settles. */
  signal: AbortSignal | undefined;
  record: RecordedTask | undefined;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Per-task cells shared with the threads (see `WorkerSetup`), one slot per task the threads
 * may hold at once, so the pool knows without a message whether a task has started, where and
 * since when.
 */
export class Slots {
  readonly size: number;
  readonly cells: Int32Array;
  readonly times: Float64Array;
  /** The task in each slot. */
  readonly tasks: (PoolTask | undefined)[];
  readonly #free: number[] = [];

  constructor(size: number) {
    this.size = size;
    const buffer = new SharedArrayBuffer(size * 16);
    this.cells = new Int32Array(buffer, 0, size * 2);
    this.times = new Float64Array(buffer, size * 8, size);
    this.tasks = new Array<PoolTask | undefined>(size).fill(undefined);
    for (let slot = size - 1; slot >= 0; slot--) this.#free.push(slot);
  }

  take(task: PoolTask): number {
    const slot = this.#free.pop()!;
    this.tasks[slot] = task;
    return slot;
  }

  /** Called once the thread gave the task back (or died): nothing writes to the slot after. */
  release(slot: number): void {
    Atomics.store(this.cells, slot, 0);
    this.tasks[slot] = undefined;
    this.#free.push(slot);
  }

  /** The id of the thread that started the slot's task, or 0. */
  threadOf(slot: number): number {
    return Atomics.load(this.cells, slot);
  }

  /** When the slot's task started on its thread, if it has. */
  startedAt(slot: number): number | undefined {
    return Atomics.load(this.cells, slot) === 0 ? undefined : this.times[slot];
  }

  /**
   * Marks the slot's task cancelled, so a thread that has not started it never will.
   * @returns whether it had started already.
   */
  cancel(slot: number, seq: number): boolean {
    Atomics.store(this.cells, this.size + slot, seq);
    return Atomics.load(this.cells, slot) !== 0;
  }
}

/** The error of a task ended for `reason`; `started`: whether it had begun on its thread. */
export function reasonError(
  task: PoolTask,
  pool: string,
  reason: Reason,
  detail: unknown,
  started = false,
): RunyardError {
  const terminated = task.terminated ? '; it ignored its signal and its thread was terminated' : '';
  if (reason === 'timeout') {
    return new RunyardError(
      ErrorCodes.TIMEOUT,
      `Task \`${task.name}\` timed out after ${task.timeoutMs} ms${terminated}`,
    );
  }
  if (reason === 'close' && !started) {
    // It never reached a thread that ran it.
    return new RunyardError(
      ErrorCodes.CLOSED,
      `The thread pool \`${pool}\` was closed before task \`${task.name}\` started`,
    );
  }
  if (reason === 'close') {
    return new RunyardError(
      ErrorCodes.CANCELLED,
      `Task \`${task.name}\` was cancelled: the thread pool \`${pool}\` was closed${terminated}`,
    );
  }
  return new RunyardError(
    ErrorCodes.CANCELLED,
    `Task \`${task.name}\` was cancelled${describeReason(detail)}${terminated}`,
    detail === undefined ? undefined : { cause: detail },
  );
}

/** The task's own error: its message as it is, the error rebuilt as the cause. */
export function taskFailed(failure: TaskFailure): RunyardError {
  const cause = new Error(failure.message);
  cause.name = failure.name;
  if (failure.stack !== undefined) cause.stack = failure.stack;
  if (failure.code !== undefined) (cause as Error & { code?: string }).code = failure.code;
  return new RunyardError(ErrorCodes.TASK_FAILED, failure.message, { cause });
}

/**
 * The task's thread died under it. `endedFor`: the task the thread was terminated for, when
 * it was not this one.
 */
export function crashed(
  task: PoolTask,
  error: unknown,
  why: { endedFor?: string | undefined; uncaught?: TaskFailure | undefined; graceMs: number },
): RunyardError {
  let message: string;
  if (why.endedFor !== undefined) {
    message =
      `Task \`${task.name}\` ended with its thread, which was terminated because another ` +
      `task (\`${why.endedFor}\`) ignored its signal for ${why.graceMs} ms`;
  } else if (why.uncaught !== undefined) {
    const { name, message: text } = why.uncaught;
    message = `The thread running task \`${task.name}\` died of an uncaught ${name}: ${text}`;
  } else {
    message = `The thread running task \`${task.name}\` died: ${messageOf(error)}`;
  }
  return new RunyardError(ErrorCodes.WORKER_CRASHED, message, { cause: error });
}

export function invalidPayload(error: unknown): RunyardError {
  return new RunyardError(
    ErrorCodes.INVALID,
    `Expected \`payload\` to be structured-cloneable: ${messageOf(error)}`,
    { cause: error },
  );
}

function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message !== '' ? message : String(error);
}

function describeReason(reason: unknown): string {
  if (reason === undefined) return '';
  if (reason instanceof Error) {
    // AbortController.abort() without a reason gives a generic AbortError: say nothing then.
    return reason.name === 'AbortError' ? '' : `: ${reason.message}`;
  }
  return `: ${String(reason)}`;
}
