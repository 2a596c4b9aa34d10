import { ErrorCodes, RunyardError } from '../core/errors.js';
import {
  checkAbortSignal,
  checkFunction,
  checkNonNegativeNumber,
  checkPlainObject,
  invalid,
} from '../core/validate.js';
import type { ProcessPoolRunOptions } from './process-pool-options.js';
import type { TaskRecord } from './process-pool-records.js';
import type { PoolWorker, WorkerTask } from './process-pool-worker.js';

/** A task from `run()` to its settlement. */
export interface PoolTask extends WorkerTask {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: RunyardError) => void;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onLog: ((line: string) => void) | undefined;
  onAbort: (() => void) | undefined;
  timer: NodeJS.Timeout | undefined;
  /** The worker running it, once one took it. */
  worker: PoolWorker | undefined;
  isQueued: boolean;
  isSettled: boolean;
  /** Only with a store. */
  record: TaskRecord | undefined;
}

/**
 * The queued tasks, first in first out. A cancelled task stays in the array until it comes
 * up, so removing one costs nothing; `size` counts only the live ones.
 */
export class TaskQueue {
  #items: (PoolTask | undefined)[] = [];
  #head = 0;
  size = 0;

  push(task: PoolTask): void {
    task.isQueued = true;
    this.#items.push(task);
    this.size++;
  }

  /** The oldest live task, or undefined. */
  shift(): PoolTask | undefined {
    const items = this.#items;
    while (this.#head < items.length) {
      const task = items[this.#head];
      items[this.#head++] = undefined;
      if (task?.isQueued) {
        task.isQueued = false;
        this.size--;
        this.#compact();
        return task;
      }
    }
    this.#compact();
    return undefined;
  }

  /** A queued task settled (cancelled) where it stands. */
  forget(task: PoolTask): void {
    task.isQueued = false;
    this.size--;
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}

export function checkRunOptions(options: ProcessPoolRunOptions): void {
  checkPlainObject('options', options);
  checkAbortSignal('signal', options.signal);
  checkNonNegativeNumber('timeoutMs', options.timeoutMs);
  checkFunction('onLog', options.onLog);
}

/** The task's protocol line; `ERR_INVALID` for a payload JSON cannot hold. */
export function taskLine(id: number, payload: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch (error) {
    const wrapped = invalid('payload', 'a JSON-serialisable value', payload);
    throw new RunyardError(wrapped.code, `${wrapped.message}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return `{"id":${id},"payload":${json ?? 'null'}}\n`;
}

export function cancelledError(reason: unknown): RunyardError {
  return new RunyardError(ErrorCodes.CANCELLED, 'The task was cancelled', { cause: reason });
}

/** `ERR_TASK_FAILED` with the handler's own type and message; its stack is in `cause`. */
export function taskFailedError(remote: {
  type?: string;
  message: string;
  stack?: string;
}): RunyardError {
  const cause = new Error(remote.message);
  cause.name = remote.type ?? 'Error';
  cause.stack = remote.stack ?? `${cause.name}: ${remote.message}`;
  const message = remote.type === undefined ? remote.message : `${remote.type}: ${remote.message}`;
  return new RunyardError(ErrorCodes.TASK_FAILED, message, { cause });
}
