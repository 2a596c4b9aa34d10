/*
 * The queue of a `ProcessPool`'s waiting tasks, and the protocol line for each task.
 */
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import type { LongTimer } from '../../core/timers.js';
import {
  checkAbortSignal,
  checkFunction,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPlainObject,
  invalid,
} from '../../core/validate.js';
import type { TaskRecord } from './pool-recorder.js';
import type { PoolWorker, WorkerTask } from './pool-worker.js';
import type { ProcessPoolRunOptions } from './process-pool-options.js';

/** A task from `run()` to its settlement. */
export interface PoolTask extends WorkerTask {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: RunyardError) => void;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly onLog: ((line: string) => void) | undefined;
  onAbort: (() => void) | undefined;
  timer: LongTimer | undefined;
  /** The worker running it, once one took it. */
  worker: PoolWorker | undefined;
  /** Workers it was handed to: more than one when a worker died before it could read it. */
  deliveries: number;
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

  /** Puts a task that never reached a worker back, first in line. */
  unshift(task: PoolTask): void {
    task.isQueued = true;
    if (this.#head > 0) this.#items[--this.#head] = task;
    else this.#items.unshift(task);
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

const runOptionKeys = ['signal', 'timeoutMs', 'onLog'] as const;

export function checkRunOptions(options: ProcessPoolRunOptions): void {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, runOptionKeys);
  checkAbortSignal('signal', options.signal);
  checkNonNegativeNumber('timeoutMs', options.timeoutMs);
  checkFunction('onLog', options.onLog);
}

/**
 * The task's protocol line; `ERR_INVALID` for a payload JSON cannot hold, or one that makes a
 * line longer than `maxBytes`.
 */
export function taskLine(id: number, payload: unknown, maxBytes: number): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(payload);
  } catch (error) {
    const wrapped = invalid('payload', 'a JSON-serialisable value', payload);
    throw new RunyardError(wrapped.code, `${wrapped.message}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const line = `{"id":${id},"payload":${json ?? 'null'}}\n`;
  // A UTF-16 code unit takes at most 3 bytes in UTF-8: most lines need no count.
  if (line.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(line) - 1;
    if (bytes > maxBytes) {
      throw new RunyardError(
        ErrorCodes.INVALID,
        `Expected \`payload\` to make a task line of at most \`maxMessageBytes\` (${maxBytes} bytes), got ${bytes} bytes`,
      );
    }
  }
  return line;
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
