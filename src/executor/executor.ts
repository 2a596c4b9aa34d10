/*
 * `Executor`, pattern 3: runs many tasks at once under a concurrency limit and resource admission.
 * It drives the queue and slots; jobs, admission, store writes and options have their own files.
 */
import { ErrorCodes, isRunyardError, RunyardError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import { type LongTimer, setLongTimeout } from '../core/timers.js';
import type { FunctionTask, ProcessTask, RunResult, RunStatus, TaskSpec } from '../core/types.js';
import { Admission } from './admission.js';
import { Batch } from './batch.js';
import { type ExecutorEvents, ExecutorListeners } from './executor-listeners.js';
import {
  type CloseOptions,
  checkCloseOptions,
  checkRunAll,
  checkSubmit,
  type ExecutorOptions,
  executorSettings,
  type RunAllOptions,
  type SubmitOptions,
} from './executor-options.js';
import {
  batchJob,
  cancelledBefore,
  DONE,
  type Job,
  launch,
  nameOf,
  notStartedResult,
  QUEUED,
  RUNNING,
  submittedJob,
} from './job.js';
import { PriorityQueue } from './priority-queue.js';
import { RunRecorder } from './run-recorder.js';

export type { ExecutorEvents } from './executor-listeners.js';
export {
  type BatchProgress,
  type CloseOptions,
  type ExecutorOptions,
  executorDefaults,
  type ResourceLimits,
  type RunAllOptions,
  type SubmitOptions,
} from './executor-options.js';

export interface ExecutorStats {
  running: number;
  queued: number;
  succeeded: number;
  /** Failed, timed out, or refused admission. */
  failed: number;
  cancelled: number;
  /** Why the queued tasks wait: for a free slot, or for CPU or memory. */
  waitingFor: { concurrency: number; resources: number };
}

const noop = () => {};

/**
 * Runs many programs and functions at once under a concurrency limit and resource admission:
 * pattern 3, concurrent execution.
 *
 * Every accepted task settles with a `RunResult`, whatever happens to it: a cancelled queued
 * task is `cancelled` without starting, one refused CPU or memory for `admissionTimeoutMs` is
 * `failed` with `ERR_RESOURCES`, one still queued at `close()` is `cancelled` with
 * `ERR_CLOSED`. `submit()` rejects only when the task is not accepted (`ERR_INVALID`,
 * `ERR_QUEUE_FULL`, `ERR_CLOSED`) and, like `run()`, with `ERR_SPAWN` when a program cannot
 * start; `runAll()` turns that into a `failed` result with `error.code` `ERR_SPAWN`, so it
 * never rejects for a task.
 *
 * @example
 * await using executor = new Executor({ concurrency: 4 });
 * const results = await executor.runAll(files.map((file) => ({ command: 'ffprobe', args: [file] })));
 * const failed = results.filter((result) => !result.ok);
 */
export class Executor {
  readonly concurrency: number;
  readonly maxQueue: number;
  /** Undefined without a `store`. */
  readonly #records: RunRecorder | undefined;
  readonly #logDir: string | undefined;
  readonly #captureBytes: number;
  readonly #queue = new PriorityQueue<Job>();
  /** Jobs at the front that wait for CPU or memory; never more than the free slots. */
  readonly #admission: Admission<Job>;
  readonly #running = new Set<Job>();
  readonly #listeners = new ExecutorListeners();
  #pendingWrites = 0;
  #succeeded = 0;
  #failed = 0;
  #cancelled = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #cancelTimer: LongTimer | undefined;
  #cancelAt = Number.POSITIVE_INFINITY;
  #idleWaiters: (() => void)[] = [];
  /** The last `createdAt` turned into text: tasks submitted in one millisecond share it. */
  #isoMs = Number.NaN;
  #iso = '';
  readonly #onWaitForResources = (job: Job) => this.#records?.waitingForResources(job);

  constructor(options: ExecutorOptions = {}) {
    const settings = executorSettings(options);
    this.concurrency = settings.concurrency;
    this.maxQueue = settings.maxQueue;
    this.#records = settings.store === undefined ? undefined : new RunRecorder(settings.store);
    this.#logDir = settings.logDir;
    this.#captureBytes = settings.captureBytes;
    this.#admission = new Admission<Job>({
      monitor: settings.monitor,
      ownsMonitor: settings.ownsMonitor,
      timeoutMs: settings.admissionTimeoutMs,
      tryStart: () => this.#pump(),
      onTimeout: (job, message) =>
        this.#finishNotStarted(job, 'failed', ErrorCodes.RESOURCES, message),
    });
  }

  /** Counts, computed on each read. */
  get stats(): ExecutorStats {
    const waiting = this.#queue.size;
    const admitting = this.#admission.size;
    return {
      running: this.#running.size,
      queued: waiting + admitting,
      succeeded: this.#succeeded,
      failed: this.#failed,
      cancelled: this.#cancelled,
      waitingFor: { concurrency: waiting, resources: admitting },
    };
  }

  /**
   * Queues one task and resolves with its result once it settled.
   *
   * @throws (rejects) `ERR_INVALID` for a bad task or option, `ERR_QUEUE_FULL` past `maxQueue`,
   * `ERR_CLOSED` after `close()`, and `ERR_SPAWN` when the program cannot start.
   */
  submit(task: TaskSpec, options?: SubmitOptions): Promise<RunResult> {
    let checked: ProcessTask | FunctionTask;
    try {
      checked = checkSubmit(task, options);
      this.#checkRoom(1);
    } catch (error) {
      return Promise.reject(error);
    }
    const id = options?.id ?? (this.#records || this.#logDir ? newRunId() : undefined);
    const job = submittedJob(checked, id, options);
    const result = new Promise<RunResult>((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
    });
    this.#enqueue(job, options?.signal);
    this.#pump();
    return result;
  }

  /**
   * Runs every task and resolves with their results in input order, once all settled. Never
   * rejects for a task: failures, spawn errors and cancellations are results. Rejects only
   * when the batch is not accepted: a bad task or option (nothing starts), `ERR_CLOSED`, or
   * `ERR_QUEUE_FULL` when the tasks that cannot start now do not all fit in the queue.
   */
  runAll(tasks: readonly TaskSpec[], options?: RunAllOptions): Promise<RunResult[]> {
    let checked: (ProcessTask | FunctionTask)[];
    try {
      checked = checkRunAll(tasks, options);
      this.#checkRoom(checked.length);
    } catch (error) {
      return Promise.reject(error);
    }
    if (checked.length === 0) return Promise.resolve([]);
    const records = this.#records;
    const batch = new Batch<Job>(newRunId(), checked.length, Date.now(), options);
    if (records) {
      records.batchCreated(batch, options?.name ?? 'batch', this.#isoOf(batch.createdAt));
    }
    const priority = options?.priority ?? 0;
    const needsId = records !== undefined || this.#logDir !== undefined;
    for (let i = 0; i < checked.length; i++) {
      const job = batchJob(checked[i]!, needsId ? newRunId() : undefined, batch, i, priority);
      job.writes = batch.writes;
      batch.jobs.push(job);
      this.#enqueue(job, undefined);
    }
    const signal = options?.signal;
    if (signal?.aborted) this.#cancelBatch(batch, signal.reason);
    else if (signal) {
      batch.onAbort = () => this.#cancelBatch(batch, signal.reason);
      signal.addEventListener('abort', batch.onAbort, { once: true });
    }
    this.#pump();
    return batch.promise;
  }

  /** Resolves when nothing runs, waits or is still being recorded. */
  onIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Stops taking tasks (later calls reject with `ERR_CLOSED`); queued tasks settle `cancelled`
   * with `ERR_CLOSED`; running ones finish, or are cancelled with `cancelRunning` (after
   * `graceMs`). Resolves when nothing is left. A second call returns the same promise, and may
   * still ask to cancel the running tasks.
   */
  close(options?: CloseOptions): Promise<void> {
    try {
      if (options !== undefined) checkCloseOptions(options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#closed = true;
    const graceMs = options?.cancelRunning ? (options.graceMs ?? 0) : options?.graceMs;
    if (graceMs !== undefined) this.#cancelRunningAfter(graceMs);
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Calls `listener` on every `event`; a listener that throws is logged, never breaks a run.
   * @returns The unsubscribe function.
   */
  on<E extends keyof ExecutorEvents>(
    event: E,
    listener: (payload: ExecutorEvents[E]) => void,
  ): () => void {
    return this.#listeners.on(event, listener);
  }

  #checkRoom(count: number): void {
    if (this.#closed) {
      throw new RunyardError(ErrorCodes.CLOSED, 'The executor is closed: it takes no new tasks');
    }
    if (this.maxQueue === Number.POSITIVE_INFINITY) return;
    const queued = this.#queue.size + this.#admission.size;
    const startNow = queued === 0 ? Math.max(0, this.concurrency - this.#running.size) : 0;
    if (queued + count - startNow > this.maxQueue) {
      throw new RunyardError(
        ErrorCodes.QUEUE_FULL,
        `The executor's queue is full: ${queued} of \`maxQueue\` ${this.maxQueue} tasks wait, ` +
          `${count === 1 ? 'one more does' : `${count} more do`} not fit`,
      );
    }
  }

  #enqueue(job: Job, signal: AbortSignal | undefined): void {
    this.#records?.created(job);
    if (signal?.aborted) {
      this.#cancelNotStarted(job, signal.reason);
      return;
    }
    if (signal) {
      job.onAbort = () => {
        if (job.state !== QUEUED) return;
        this.#unqueue(job);
        this.#cancelNotStarted(job, signal.reason);
        this.#pump();
      };
      signal.addEventListener('abort', job.onAbort, { once: true });
    }
    this.#queue.push(job);
  }

  /** Starts queued jobs while a slot is free and, once something runs, while there is room. */
  #pump(): void {
    const queue = this.#queue;
    const admission = this.#admission;
    while (this.#running.size < this.concurrency) {
      if (admission.size === 0 && queue.size === 0) break;
      // Never starves: with nothing running, one task starts whatever the monitor says.
      if (this.#running.size > 0 && !admission.hasCapacity()) {
        // The jobs that the free slots await wait for CPU or memory instead.
        admission.fillFrom(queue, this.concurrency - this.#running.size, this.#onWaitForResources);
        break;
      }
      this.#start(admission.size > 0 ? admission.shift()! : queue.pop()!);
    }
    admission.sync();
  }

  #start(job: Job): void {
    job.state = RUNNING;
    this.#running.add(job);
    // From here the run itself listens to the signal.
    job.removeAbortListener();
    const batch = job.batch;
    batch?.started();
    launch(job, this.#logDir, this.#captureBytes).then(
      (result) => this.#ended(job, result, undefined),
      (error: unknown) => this.#ended(job, undefined, error),
    );
    const active = job.active!;
    this.#records?.started(job, active.pid);
    if (this.#listeners.count > 0) {
      const payload = { id: active.id, name: nameOf(job), pid: active.pid, parentId: job.parentId };
      this.#listeners.emit('start', payload);
    }
    batch?.reportProgress(undefined);
  }

  #ended(job: Job, result: RunResult | undefined, error: unknown): void {
    this.#running.delete(job);
    if (result === undefined) {
      // The program could not start: `submit()` rejects like `run()`; a batch keeps a result.
      const code = isRunyardError(error) ? error.code : ErrorCodes.SPAWN;
      const message = error instanceof Error ? error.message : String(error);
      this.#finish(job, notStartedResult(job, 'failed', code, message, false), error);
    } else {
      result.createdAt = this.#isoOf(job.createdAt);
      this.#finish(job, result, undefined);
    }
    this.#pump();
  }

  #cancelNotStarted(job: Job, reason: unknown): void {
    this.#finishNotStarted(job, 'cancelled', ErrorCodes.CANCELLED, cancelledBefore(reason));
  }

  /** Settles a job that never ran (cancelled, closed, refused admission); `what` follows its name. */
  #finishNotStarted(job: Job, status: RunStatus, code: string, what: string): void {
    job.removeAbortListener();
    this.#finish(job, notStartedResult(job, status, code, what, true), undefined);
  }

  /** Counts, records and delivers a result. */
  #finish(job: Job, result: RunResult, rejection: unknown): void {
    const wasRunning = job.state === RUNNING;
    job.state = DONE;
    const status = result.status;
    if (status === 'succeeded') this.#succeeded++;
    else if (status === 'cancelled') this.#cancelled++;
    else this.#failed++;
    if (job.parentId !== undefined) result.parentId = job.parentId;
    const labels = job.options?.labels;
    if (labels !== undefined) result.labels = { ...labels };
    if (this.#listeners.count > 0) this.#listeners.emit('end', { result });

    const records = this.#records;
    records?.settled(job, result);
    const batch = job.batch;
    if (batch === undefined) {
      if (records === undefined) this.#deliver(job, result, rejection);
      else {
        // Delivered once recorded, so a caller that reads the store finds the final record.
        this.#pendingWrites++;
        void job.writes!.then(() => {
          this.#pendingWrites--;
          this.#deliver(job, result, rejection);
        });
      }
      return;
    }
    batch.settled(job.index, result, wasRunning);
    batch.reportProgress(result);
    if (batch.done === batch.total) {
      this.#finishBatch(batch);
      return;
    }
    // After this job's own progress; settling the others may finish the batch.
    // A failure or a timeout, not a cancel: a task cancelled by `close()` or by its own
    // signal says nothing about the others, which go on.
    if ((result.status === 'failed' || result.status === 'timed_out') && batch.options?.failFast) {
      this.#cancelBatch(batch, `another task of the batch did not succeed (${result.id})`);
    }
    this.#checkIdle();
  }

  #deliver(job: Job, result: RunResult, rejection: unknown): void {
    if (rejection === undefined) job.resolve!(result);
    else job.reject!(rejection);
    this.#checkIdle();
  }

  #finishBatch(batch: Batch<Job>): void {
    const signal = batch.options?.signal;
    if (batch.onAbort !== undefined) signal!.removeEventListener('abort', batch.onAbort);
    const records = this.#records;
    if (records === undefined) {
      batch.resolve(batch.results);
      this.#checkIdle();
      return;
    }
    this.#pendingWrites++;
    void records.batchSettled(batch, signal?.aborted === true).then(() => {
      this.#pendingWrites--;
      batch.resolve(batch.results);
      this.#checkIdle();
    });
  }

  /** Settles the batch's queued jobs as cancelled (they never start) and cancels its running ones. */
  #cancelBatch(batch: Batch<Job>, reason: unknown): void {
    if (batch.cancelling) return;
    batch.cancelling = true;
    for (const job of batch.jobs) {
      if (job.state === QUEUED) {
        this.#unqueue(job);
        this.#cancelNotStarted(job, reason);
      } else if (job.state === RUNNING) {
        job.active!.cancel(reason).catch(noop);
      }
    }
    this.#pump();
  }

  #unqueue(job: Job): void {
    if (!this.#queue.remove(job)) this.#admission.remove(job);
  }

  #cancelRunningAfter(graceMs: number): void {
    const at = performance.now() + graceMs;
    if (at >= this.#cancelAt) return;
    this.#cancelAt = at;
    this.#cancelTimer?.clear();
    const cancel = () => {
      const reason = new RunyardError(ErrorCodes.CLOSED, 'The executor was closed');
      for (const job of this.#running) job.active!.cancel(reason).catch(noop);
    };
    if (graceMs === 0) cancel();
    else this.#cancelTimer = setLongTimeout(cancel, graceMs);
  }

  async #shutdown(): Promise<void> {
    const waiting = [...this.#admission.drain(), ...this.#queue.drain()];
    const what = 'was not started: the executor was closed';
    for (const job of waiting) {
      // Settling one may settle others (a fail-fast batch cancels its rest): skip those.
      if (job.state === QUEUED) this.#finishNotStarted(job, 'cancelled', ErrorCodes.CLOSED, what);
    }
    this.#admission.sync();
    await this.onIdle();
    this.#cancelTimer?.clear();
    this.#admission.close();
    await this.#records?.close();
  }

  #isIdle(): boolean {
    return (
      this.#running.size === 0 &&
      this.#queue.size === 0 &&
      this.#admission.size === 0 &&
      this.#pendingWrites === 0
    );
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #isoOf(ms: number): string {
    if (ms !== this.#isoMs) {
      this.#isoMs = ms;
      this.#iso = new Date(ms).toISOString();
    }
    return this.#iso;
  }
}
