/*
 * `ThreadPool`: runs functions from a module on worker threads, with cooperative cancel.
 */
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import { newRunId } from '../../core/ids.js';
import { PoolRecorder, statusOf } from './pool-recorder.js';
import { PoolThreads, type ThreadsHost } from './pool-threads.js';
import { type PoolTask, QUEUED, RUNNING, reasonError, SETTLED } from './slots.js';
import {
  checkCloseOptions,
  checkRunOptions,
  type ThreadPoolCloseOptions,
  type ThreadPoolOptions,
  type ThreadPoolRunOptions,
  type ThreadPoolSettings,
  type ThreadPoolStats,
  threadPoolSettings,
} from './thread-pool-options.js';

export type {
  ThreadPoolCloseOptions,
  ThreadPoolOptions,
  ThreadPoolRunOptions,
  ThreadPoolStats,
} from './thread-pool-options.js';
export { threadPoolDefaults } from './thread-pool-options.js';

/**
 * Runs a JavaScript module's exported function (the default export, or the one `name` picks,
 * as in piscina) on worker threads: pattern 6, resource pooling, for in-process work. Built on piscina; adds cooperative cancellation, batching of small
 * synchronous tasks, a queue of its own (`maxQueue`; `ERR_CLOSED` for what never started), run
 * records and crash isolation.
 *
 * The task is `(payload, { signal }) => result | Promise<result>`; payload and result cross
 * the thread boundary by structured clone. A cancelled or timed-out task sees its `signal`
 * aborted and has `cancelGraceMs` to settle; past that its thread is terminated (the wait for
 * the thread to end is bounded too) and replaced.
 *
 * @example
 * await using pool = new ThreadPool({ filename: new URL('./resize.js', import.meta.url) });
 * const thumbnail = await pool.run({ path, width: 200 }, { timeoutMs: 5000 });
 */
export class ThreadPool {
  /** The pool's name, in error messages and as the name of its runs. */
  readonly name: string;
  readonly #settings: ThreadPoolSettings;
  readonly #threads: PoolThreads;
  readonly #recorder: PoolRecorder | undefined;
  /** Tasks waiting for a thread, oldest at `#head`; settled ones are skipped when reached. */
  #queue: PoolTask[] = [];
  #head = 0;
  #queued = 0;
  #pumpScheduled = false;
  /** Accepted and not yet delivered to the caller. */
  #unsettled = 0;
  #completed = 0;
  #failed = 0;
  #closed = false;
  #forced = false;
  #closing: Promise<void> | undefined;
  #onDrained: (() => void) | undefined;
  /** One abort listener per signal, however many tasks share it. */
  readonly #watched = new Map<AbortSignal, { tasks: Set<PoolTask>; listener: () => void }>();
  readonly #pump = () => this.#sendBatches();

  constructor(options: ThreadPoolOptions) {
    const settings = threadPoolSettings(options);
    this.#settings = settings;
    this.name = settings.runName;
    this.#recorder = settings.store === undefined ? undefined : new PoolRecorder(settings.store);
    const host: ThreadsHost = {
      name: this.name,
      settle: (task, error, value, startedAt) => this.#settle(task, error, value, startedAt),
      requeue: (tasks) => this.#requeue(tasks),
      wake: () => this.#schedulePump(),
    };
    this.#threads = new PoolThreads(host, settings);
  }

  /** Counts, computed on each read. */
  get stats(): ThreadPoolStats {
    const piscina = this.#threads.piscina;
    return {
      threads: piscina.threads.length,
      idleThreads: piscina.idleThreads,
      running: this.#threads.running,
      queued: this.#queued,
      completed: this.#completed,
      failed: this.#failed,
      restarts: this.#threads.restarts,
      utilization: piscina.utilization,
    };
  }

  /**
   * Runs the task with `payload` and resolves with what it returned.
   *
   * @throws (rejects) `ERR_TASK_FAILED` with the task's own message when it throws,
   * `ERR_CANCELLED` when `signal` aborts, `ERR_TIMEOUT` past `timeoutMs`,
   * `ERR_WORKER_CRASHED` when its thread dies under it, `ERR_QUEUE_FULL` past `maxQueue`,
   * `ERR_CLOSED` after `close()`, `ERR_INVALID` for bad options or a payload that cannot be cloned.
   *
   * @example
   * const product = await pool.run({ a: 4, b: 6 }, { name: 'multiply', runName: 'maths' });
   */
  run(payload: unknown, options?: ThreadPoolRunOptions): Promise<unknown> {
    if (options !== undefined) {
      try {
        checkRunOptions(options);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    if (this.#closed) {
      const message = `The thread pool \`${this.name}\` is closed: it takes no new tasks`;
      return Promise.reject(new RunyardError(ErrorCodes.CLOSED, message));
    }
    // The queue holds tasks the threads can take now only until the next microtask.
    const waiting = this.#queued - this.#threads.room;
    if (waiting >= this.#settings.maxQueue) {
      return Promise.reject(
        new RunyardError(
          ErrorCodes.QUEUE_FULL,
          `The thread pool \`${this.name}\`'s queue is full: ${waiting} of \`maxQueue\` ` +
            `${this.#settings.maxQueue} tasks wait, one more does not fit`,
        ),
      );
    }
    let resolve!: (value: unknown) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const task: PoolTask = {
      payload,
      name: options?.runName ?? this.name,
      exportName: options?.name === this.#settings.exportName ? undefined : options?.name,
      transferList: options?.transferList,
      state: QUEUED,
      seq: 0,
      slot: -1,
      timeoutMs: options?.timeoutMs ?? 0,
      reason: undefined,
      detail: undefined,
      terminated: false,
      restarts: 0,
      // Its transferred objects are gone from this side once sent: no batch to resend it in.
      alone: options?.transferList !== undefined,
      waited: waiting >= 0,
      timer: undefined,
      graceTimer: undefined,
      signal: undefined,
      record: undefined,
      resolve,
      reject,
    };
    this.#unsettled++;
    if (this.#recorder !== undefined) {
      task.record = {
        id: options?.id ?? newRunId(),
        name: task.name,
        createdAt: Date.now(),
        writes: Promise.resolve(),
        unrecorded: false,
      };
      this.#recorder.created(task.record, task.waited ? 'queued' : 'running');
    }
    const signal = options?.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#settle(task, reasonError(task, this.name, 'cancel', signal.reason), undefined);
        return promise;
      }
      task.signal = signal;
      this.#watch(task, signal);
    }
    this.#queue.push(task);
    this.#queued++;
    this.#schedulePump();
    return promise;
  }

  /**
   * Stops taking tasks (later calls reject with `ERR_CLOSED`); waiting tasks reject with
   * `ERR_CLOSED` at once; running ones finish, or with `force` are cancelled (their signals
   * aborted, their threads terminated after `cancelGraceMs`) and reject with `ERR_CANCELLED`.
   * Resolves once every task has settled and every thread has ended. A second call returns
   * the same promise, and may still ask for `force`.
   */
  close(options?: ThreadPoolCloseOptions): Promise<void> {
    if (options !== undefined) {
      try {
        checkCloseOptions(options);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    this.#closed = true;
    const queue = this.#queue;
    for (let i = this.#head; i < queue.length; i++) {
      const task = queue[i]!;
      if (task.state !== QUEUED) continue;
      this.#queued--;
      this.#settle(task, reasonError(task, this.name, 'close', undefined), undefined);
    }
    this.#queue = [];
    this.#head = 0;
    if (options?.force && !this.#forced) {
      this.#forced = true;
      for (const task of [...this.#threads.held()]) this.#cancel(task, 'close', undefined);
    }
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    if (this.#unsettled > 0) {
      await new Promise<void>((resolve) => {
        this.#onDrained = resolve;
      });
    }
    // Every task has settled; threads may still hold tasks they will skip.
    await this.#threads.destroy();
  }

  /** Cancels a task (the first reason wins): it never starts, or its signal is aborted. */
  #cancel(task: PoolTask, reason: 'cancel' | 'close', detail: unknown): void {
    if (task.state === QUEUED) {
      this.#queued--;
      this.#settle(task, reasonError(task, this.name, reason, detail), undefined);
    } else if (task.state === RUNNING) {
      this.#threads.cancel(task, reason, detail);
    }
  }

  #watch(task: PoolTask, signal: AbortSignal): void {
    let group = this.#watched.get(signal);
    if (group === undefined) {
      const tasks = new Set<PoolTask>();
      const listener = () => {
        this.#watched.delete(signal);
        for (const each of tasks) this.#cancel(each, 'cancel', signal.reason);
      };
      group = { tasks, listener };
      this.#watched.set(signal, group);
      signal.addEventListener('abort', listener, { once: true });
    }
    group.tasks.add(task);
  }

  #unwatch(task: PoolTask, signal: AbortSignal): void {
    const group = this.#watched.get(signal);
    if (group === undefined || !group.tasks.delete(task) || group.tasks.size > 0) return;
    this.#watched.delete(signal);
    signal.removeEventListener('abort', group.listener);
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#queued === 0) return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#pump);
  }

  /** Hands waiting tasks to the threads, several to a batch while batches run short. */
  #sendBatches(): void {
    this.#pumpScheduled = false;
    const queue = this.#queue;
    let size = this.#threads.nextBatchSize();
    while (this.#queued > 0 && size > 0) {
      const tasks: PoolTask[] = [];
      while (tasks.length < size && this.#queued > 0) {
        const task = queue[this.#head]!;
        if (task.state !== QUEUED) {
          this.#head++;
          continue;
        }
        if (task.alone && tasks.length > 0) break;
        this.#head++;
        this.#queued--;
        tasks.push(task);
        if (task.waited && task.record !== undefined) {
          task.waited = false;
          this.#recorder!.started(task.record, Date.now());
        }
        if (task.alone) break;
      }
      this.#threads.send(tasks);
      size = this.#threads.nextBatchSize();
    }
    if (this.#queued === 0) {
      // What is left are settled tasks.
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Puts tasks that never started back at the front of the queue, in their order. */
  #requeue(tasks: PoolTask[]): void {
    for (let i = tasks.length - 1; i >= 0; i--) {
      const task = tasks[i]!;
      task.state = QUEUED;
      if (this.#head > 0) this.#queue[--this.#head] = task;
      else this.#queue.unshift(task);
      this.#queued++;
    }
  }

  /** Ends a task: with `error` undefined it resolves with `value`. */
  #settle(
    task: PoolTask,
    error: RunyardError | undefined,
    value: unknown,
    startedAt?: number,
  ): void {
    if (task.state === RUNNING) this.#threads.running--;
    task.state = SETTLED;
    this.#threads.clearTimers(task);
    if (task.signal !== undefined) this.#unwatch(task, task.signal);
    if (error === undefined) this.#completed++;
    else this.#failed++;
    if (task.record === undefined) {
      this.#deliver(task, error, value);
      return;
    }
    // Delivered once recorded, so a caller that reads the store finds the final record.
    const status = statusOf(error);
    this.#recorder!.settled(task.record, status, error?.toJSON(), startedAt).then(() =>
      this.#deliver(task, error, value),
    );
  }

  #deliver(task: PoolTask, error: RunyardError | undefined, value: unknown): void {
    task.payload = undefined;
    if (error === undefined) task.resolve(value);
    else task.reject(error);
    if (--this.#unsettled === 0 && this.#onDrained !== undefined) this.#onDrained();
  }
}
