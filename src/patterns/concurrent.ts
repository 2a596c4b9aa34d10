import os from 'node:os';
import { basename, join } from 'node:path';
import { ErrorCodes, isRunyardError, RunyardError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import type {
  FunctionTask,
  ProcessTask,
  RunRecord,
  RunResult,
  RunStatus,
  TaskSpec,
} from '../core/types.js';
import {
  checkAbortSignal,
  checkArgString,
  checkBoolean,
  checkFunction,
  checkNonNegativeNumber,
  checkOptionalString,
  checkPlainObject,
  checkPositiveInteger,
  invalid,
} from '../core/validate.js';
import { OutputLog } from '../output/output-log.js';
import type { RunPatch, RunStore } from '../store/run-store.js';
import { type ActiveRun, closingOutput, executeTask } from './execute-task.js';
import { PriorityQueue, type QueueItem } from './priority-queue.js';
import { ResourceMonitor } from './resources.js';
import { queuedRecord, type RunIdentity } from './run-result.js';
import { normalizeTask } from './simple.js';
import { defaults } from './task-options.js';

/** When CPU or memory is short, tasks wait for it, up to `admissionTimeoutMs`. */
export interface ResourceLimits {
  /** Start nothing more while CPU use is above this (0–100, all cores). @default 90 */
  readonly maxCpuPercent?: number;
  /** Start nothing more while memory use is above this (0–100, cgroup-aware). @default 85 */
  readonly maxMemoryPercent?: number;
  /**
   * How long a task may wait for CPU or memory; then it settles `failed` with `ERR_RESOURCES`.
   * `Infinity` waits for good. @default 60_000
   */
  readonly admissionTimeoutMs?: number;
  /** Use this monitor (and its limits) rather than one of the executor's own; it is not closed. */
  readonly monitor?: ResourceMonitor;
}

export interface ExecutorOptions {
  /** Tasks running at once. @default os.availableParallelism() */
  readonly concurrency?: number;
  /**
   * Resource admission: limits, a shared `ResourceMonitor`, or `false` for none.
   * @default a monitor with the defaults of `ResourceLimits`
   */
  readonly resources?: ResourceLimits | ResourceMonitor | false;
  /** Tasks allowed to wait; one more is rejected with `ERR_QUEUE_FULL`. @default Infinity */
  readonly maxQueue?: number;
  /** Record every task (and every `runAll` batch) as a run. @default undefined: no records */
  readonly store?: RunStore;
  /** Write each run's lines to `<logDir>/<runId>.log`. @default undefined: no files */
  readonly logDir?: string;
  /**
   * Bytes of each stream kept in a result's `stdout`/`stderr` (the newest part).
   * @default 67_108_864 (64 MiB), or 1_048_576 (1 MiB) with `logDir`, which keeps every line
   */
  readonly maxBufferBytes?: number;
}

export interface SubmitOptions {
  /** Higher runs sooner; equal priorities run in submission order. @default 0 */
  readonly priority?: number;
  /** Aborting it cancels the task: a queued one never starts, a running one is ended. */
  readonly signal?: AbortSignal;
  /** The batch or schedule this run belongs to. */
  readonly parentId?: string;
  /** The run's name, when the task has none. @default the command's basename, or the function's name */
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** The run's id, chosen by the caller (it must be unique). @default a new UUIDv7 */
  readonly id?: string;
}

export interface RunAllOptions {
  /** The first task that does not succeed cancels the rest. @default false */
  readonly failFast?: boolean;
  /** Called whenever a task of the batch starts or settles. */
  readonly onProgress?: (progress: BatchProgress) => void;
  /** Aborting it cancels the whole batch. */
  readonly signal?: AbortSignal;
  /** Priority of every task of the batch. @default 0 */
  readonly priority?: number;
  /** The batch record's name (with a `store`). @default 'batch' */
  readonly name?: string;
}

export interface BatchProgress {
  total: number;
  /** Settled: `succeeded + failed + cancelled`. */
  done: number;
  running: number;
  queued: number;
  succeeded: number;
  /** Failed or timed out. */
  failed: number;
  cancelled: number;
  /** The result that just settled, when a task settled. */
  lastResult?: RunResult;
}

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

export interface CloseOptions {
  /** Cancel the running tasks too, after `graceMs`. @default false */
  readonly cancelRunning?: boolean;
  /**
   * How long running tasks may go on before they are cancelled.
   * @default 0 with `cancelRunning`, otherwise they are waited for
   */
  readonly graceMs?: number;
}

export interface ExecutorEvents {
  /** A task left the queue and started. */
  start: { id: string; name: string; pid: number | undefined; parentId: string | undefined };
  /** A task settled, whether it ran or not. */
  end: { result: RunResult };
}

/** The documented defaults of `ResourceLimits` that belong to the executor, for docs tests. */
export const executorDefaults = { admissionTimeoutMs: 60_000 } as const;

const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;
const noop = () => {};

/** One task from acceptance to its result. */
class Job implements QueueItem {
  seq = 0;
  queueIndex = -1;
  state = QUEUED;
  waitingFor: 'concurrency' | 'resources' = 'concurrency';
  /** `performance.now()` when it stops waiting for resources. */
  deadline = 0;
  active: ActiveRun | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** Store writes, in order; undefined without a store. */
  writes: Promise<unknown> | undefined = undefined;
  unrecorded = false;
  resolve: ((result: RunResult) => void) | undefined = undefined;
  reject: ((error: unknown) => void) | undefined = undefined;

  constructor(
    readonly task: ProcessTask | FunctionTask,
    readonly priority: number,
    readonly createdAt: number,
    public id: string | undefined,
    readonly options: SubmitOptions | undefined,
    readonly parentId: string | undefined,
    readonly batch: Batch | undefined,
    readonly index: number,
  ) {}
}

/** The jobs of one `runAll()` call. */
class Batch {
  done = 0;
  running = 0;
  queued: number;
  succeeded = 0;
  failed = 0;
  cancelled = 0;
  cancelling = false;
  readonly results: RunResult[];
  readonly jobs: Job[] = [];
  readonly promise: Promise<RunResult[]>;
  resolve!: (results: RunResult[]) => void;
  onAbort: (() => void) | undefined;
  writes: Promise<unknown> | undefined;

  constructor(
    readonly id: string,
    readonly total: number,
    readonly createdAt: number,
    readonly options: RunAllOptions | undefined,
  ) {
    this.queued = total;
    this.results = new Array<RunResult>(total);
    this.promise = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }
}

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
  readonly #store: RunStore | undefined;
  readonly #logDir: string | undefined;
  readonly #captureBytes: number;
  readonly #monitor: ResourceMonitor | undefined;
  readonly #ownsMonitor: boolean;
  readonly #admissionTimeoutMs: number;
  readonly #queue = new PriorityQueue<Job>();
  /** Jobs at the front that wait for CPU or memory, oldest first; never more than the free slots. */
  readonly #admitting: Job[] = [];
  readonly #running = new Set<Job>();
  #pendingWrites = 0;
  #succeeded = 0;
  #failed = 0;
  #cancelled = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #cancelTimer: NodeJS.Timeout | undefined;
  #cancelAt = Number.POSITIVE_INFINITY;
  #idleWaiters: (() => void)[] = [];
  #unsubscribe: (() => void) | undefined;
  #admissionTimer: NodeJS.Timeout | undefined;
  #admissionTimerAt = 0;
  #listenerCount = 0;
  readonly #listeners = {
    start: new Set<(payload: ExecutorEvents['start']) => void>(),
    end: new Set<(payload: ExecutorEvents['end']) => void>(),
  };
  /** The last `createdAt` turned into text: tasks submitted in one millisecond share it. */
  #isoMs = Number.NaN;
  #iso = '';
  readonly #onSample = () => this.#pump();
  readonly #onAdmissionTimeout = () => this.#expireAdmissions();

  constructor(options: ExecutorOptions = {}) {
    checkPlainObject('options', options);
    checkPositiveInteger('concurrency', options.concurrency);
    checkCount('maxQueue', options.maxQueue);
    if (
      options.store !== undefined &&
      (typeof options.store !== 'object' ||
        options.store === null ||
        typeof options.store.create !== 'function' ||
        typeof options.store.update !== 'function')
    ) {
      throw invalid('store', 'a RunStore', options.store);
    }
    if (options.logDir !== undefined) checkArgString('logDir', options.logDir, { nonEmpty: true });
    if (options.maxBufferBytes !== undefined && options.maxBufferBytes !== 0) {
      checkPositiveInteger('maxBufferBytes', options.maxBufferBytes);
    }
    this.concurrency = options.concurrency ?? os.availableParallelism();
    this.maxQueue = options.maxQueue ?? Number.POSITIVE_INFINITY;
    this.#store = options.store;
    this.#logDir = options.logDir;
    this.#captureBytes =
      options.maxBufferBytes ??
      (options.logDir === undefined ? defaults.runMaxBufferBytes : defaults.startMaxBufferBytes);

    const resources = options.resources;
    let limits: ResourceLimits;
    if (resources === false) limits = {};
    else if (resources instanceof ResourceMonitor) limits = { monitor: resources };
    else {
      checkPlainObject('resources', resources);
      limits = resources ?? {};
      checkCount('resources.admissionTimeoutMs', limits.admissionTimeoutMs);
      if (limits.monitor !== undefined && !(limits.monitor instanceof ResourceMonitor)) {
        throw invalid('resources.monitor', 'a ResourceMonitor', limits.monitor);
      }
      if (
        limits.monitor !== undefined &&
        (limits.maxCpuPercent !== undefined || limits.maxMemoryPercent !== undefined)
      ) {
        throw invalid(
          'resources',
          'either `monitor` or `maxCpuPercent`/`maxMemoryPercent` (the monitor has its own limits)',
          resources,
        );
      }
    }
    this.#admissionTimeoutMs = limits.admissionTimeoutMs ?? executorDefaults.admissionTimeoutMs;
    this.#ownsMonitor = resources !== false && limits.monitor === undefined;
    this.#monitor =
      resources === false
        ? undefined
        : (limits.monitor ??
          new ResourceMonitor({
            maxCpuPercent: limits.maxCpuPercent,
            maxMemoryPercent: limits.maxMemoryPercent,
          }));
  }

  /** Counts, computed on each read. */
  get stats(): ExecutorStats {
    const waiting = this.#queue.size;
    const admitting = this.#admitting.length;
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
      checked = checkTask(task, 'task');
      if (options !== undefined) checkSubmitOptions(options);
      this.#checkRoom(1);
    } catch (error) {
      return Promise.reject(error);
    }
    const id = options?.id ?? (this.#store || this.#logDir ? newRunId() : undefined);
    const job = new Job(
      checked,
      options?.priority ?? 0,
      Date.now(),
      id,
      options,
      options?.parentId,
      undefined,
      0,
    );
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
    const checked: (ProcessTask | FunctionTask)[] = [];
    try {
      if (!Array.isArray(tasks)) throw invalid('tasks', 'an array of tasks', tasks);
      if (options !== undefined) checkRunAllOptions(options);
      for (let i = 0; i < tasks.length; i++) checked.push(checkTask(tasks[i], `tasks[${i}]`));
      this.#checkRoom(checked.length);
    } catch (error) {
      return Promise.reject(error);
    }
    if (checked.length === 0) return Promise.resolve([]);
    const store = this.#store;
    const batch = new Batch(newRunId(), checked.length, Date.now(), options);
    if (store) {
      const at = this.#isoOf(batch.createdAt);
      const record: RunRecord = {
        id: batch.id,
        name: options?.name ?? 'batch',
        pattern: 'concurrent',
        status: 'running',
        attempt: 1,
        createdAt: at,
        startedAt: at,
        output: { lines: 0, bytes: 0, truncated: false },
      };
      batch.writes = store.create(record).catch((error) => reportStoreError(batch.id, error));
    }
    const priority = options?.priority ?? 0;
    const needsId = store !== undefined || this.#logDir !== undefined;
    for (let i = 0; i < checked.length; i++) {
      const id = needsId ? newRunId() : undefined;
      const job = new Job(
        checked[i]!,
        priority,
        batch.createdAt,
        id,
        undefined,
        batch.id,
        batch,
        i,
      );
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
      if (options !== undefined) {
        checkPlainObject('options', options);
        checkBoolean('cancelRunning', options.cancelRunning);
        checkNonNegativeNumber('graceMs', options.graceMs);
      }
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
    if (!Object.hasOwn(this.#listeners, event)) throw invalid('event', "'start' or 'end'", event);
    const listeners = this.#listeners[event] as Set<typeof listener>;
    checkFunction('listener', listener);
    if (!listeners.has(listener)) {
      listeners.add(listener);
      this.#listenerCount++;
    }
    return () => {
      if (listeners.delete(listener)) this.#listenerCount--;
    };
  }

  #emit<E extends keyof ExecutorEvents>(event: E, payload: ExecutorEvents[E]): void {
    for (const listener of this.#listeners[event] as Set<(payload: ExecutorEvents[E]) => void>) {
      try {
        listener(payload);
      } catch (error) {
        console.error(`runyard: an executor '${event}' listener threw`, error);
      }
    }
  }

  #checkRoom(count: number): void {
    if (this.#closed) {
      throw new RunyardError(ErrorCodes.CLOSED, 'The executor is closed: it takes no new tasks');
    }
    if (this.maxQueue === Number.POSITIVE_INFINITY) return;
    const queued = this.#queue.size + this.#admitting.length;
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
    if (this.#store) this.#write(job, (store) => store.create(this.#recordOf(job)));
    if (signal?.aborted) {
      this.#finishNotStarted(
        job,
        'cancelled',
        ErrorCodes.CANCELLED,
        cancelledBefore(signal.reason),
      );
      return;
    }
    if (signal) {
      job.onAbort = () => {
        if (job.state !== QUEUED) return;
        this.#unqueue(job);
        this.#finishNotStarted(
          job,
          'cancelled',
          ErrorCodes.CANCELLED,
          cancelledBefore(signal.reason),
        );
        this.#pump();
      };
      signal.addEventListener('abort', job.onAbort, { once: true });
    }
    this.#queue.push(job);
  }

  /** Starts queued jobs while a slot is free and, once something runs, while there is room. */
  #pump(): void {
    const queue = this.#queue;
    const admitting = this.#admitting;
    const monitor = this.#monitor;
    while (this.#running.size < this.concurrency) {
      if (admitting.length === 0 && queue.size === 0) break;
      // Never starves: with nothing running, one task starts whatever the monitor says.
      if (monitor !== undefined && this.#running.size > 0 && !monitor.hasCapacity()) {
        this.#waitForResources();
        break;
      }
      this.#start(admitting.length > 0 ? admitting.shift()! : queue.pop()!);
    }
    if (admitting.length > 0 || this.#unsubscribe !== undefined) this.#syncAdmission();
  }

  /** Moves the jobs that a free slot awaits from the queue to the admission line. */
  #waitForResources(): void {
    const admitting = this.#admitting;
    const free = this.concurrency - this.#running.size;
    const deadline = performance.now() + this.#admissionTimeoutMs;
    while (admitting.length < free && this.#queue.size > 0) {
      const job = this.#queue.pop()!;
      job.waitingFor = 'resources';
      job.deadline = deadline;
      admitting.push(job);
      if (this.#store)
        this.#write(job, (store) => store.update(job.id!, { waitingFor: 'resources' }));
    }
  }

  /** While jobs wait for resources: re-check at every sample, and fail them at their deadline. */
  #syncAdmission(): void {
    const first = this.#admitting[0];
    if (first === undefined) {
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      clearTimeout(this.#admissionTimer);
      this.#admissionTimer = undefined;
      return;
    }
    this.#unsubscribe ??= this.#monitor?.subscribe(this.#onSample);
    if (this.#admissionTimer !== undefined && this.#admissionTimerAt === first.deadline) return;
    clearTimeout(this.#admissionTimer);
    this.#admissionTimer = undefined;
    if (first.deadline === Number.POSITIVE_INFINITY) return;
    this.#admissionTimerAt = first.deadline;
    // Capped so a long timeout does not overflow setTimeout; the handler re-arms if early.
    const delay = Math.min(2 ** 31 - 1, Math.max(1, Math.ceil(first.deadline - performance.now())));
    this.#admissionTimer = setTimeout(this.#onAdmissionTimeout, delay);
  }

  #expireAdmissions(): void {
    this.#admissionTimer = undefined;
    const now = performance.now();
    const admitting = this.#admitting;
    while (admitting.length > 0 && admitting[0]!.deadline <= now) {
      const job = admitting.shift()!;
      const snapshot = this.#monitor!.snapshot();
      const limits = this.#monitor!;
      this.#finishNotStarted(
        job,
        'failed',
        ErrorCodes.RESOURCES,
        `waited ${this.#admissionTimeoutMs} ms for CPU or memory and was not started ` +
          `(CPU ${Math.round(snapshot.cpuPercent)}% of at most ${limits.maxCpuPercent}%, ` +
          `memory ${Math.round(snapshot.memoryPercent)}% of at most ${limits.maxMemoryPercent}%)`,
      );
    }
    this.#pump();
    this.#syncAdmission();
  }

  #start(job: Job): void {
    job.state = RUNNING;
    this.#running.add(job);
    const signal = job.options?.signal;
    if (job.onAbort !== undefined) {
      // From here the run itself listens to the signal.
      signal!.removeEventListener('abort', job.onAbort);
      job.onAbort = undefined;
    }
    const batch = job.batch;
    if (batch !== undefined) {
      batch.queued--;
      batch.running++;
    }
    const output =
      this.#logDir === undefined
        ? undefined
        : new OutputLog({ file: join(this.#logDir, `${job.id}.log`), tailLines: 0 });
    let active: ActiveRun;
    try {
      active = executeTask(job.task, {
        pattern: 'concurrent',
        captureBytes: this.#captureBytes,
        id: job.id,
        signal,
        name: job.options?.name,
        output,
      });
    } catch (error) {
      // Not expected; if it happens the job still settles, through the same path.
      const failed = Promise.reject(error);
      failed.catch(noop);
      active = { id: job.id ?? newRunId(), pid: undefined, result: failed, cancel: () => failed };
    }
    job.active = active;
    job.id = active.id;
    (output ? closingOutput(active, output) : active.result).then(
      (result) => this.#ended(job, result, undefined),
      (error: unknown) => this.#ended(job, undefined, error),
    );
    if (this.#store) {
      const patch: RunPatch = {
        status: 'running',
        startedAt: new Date().toISOString(),
        waitingFor: undefined,
      };
      if (active.pid !== undefined) patch.pid = active.pid;
      this.#write(job, (store) => store.update(job.id!, patch));
    }
    if (this.#listenerCount > 0) {
      this.#emit('start', {
        id: active.id,
        name: nameOf(job),
        pid: active.pid,
        parentId: job.parentId,
      });
    }
    if (batch?.options?.onProgress) this.#progress(batch, undefined);
  }

  #ended(job: Job, result: RunResult | undefined, error: unknown): void {
    this.#running.delete(job);
    if (result === undefined) {
      // The program could not start: `submit()` rejects like `run()`; a batch keeps a result.
      const code = isRunyardError(error) ? error.code : ErrorCodes.SPAWN;
      const message = error instanceof Error ? error.message : String(error);
      this.#finish(job, this.#notStartedResult(job, 'failed', code, message, false), error);
    } else {
      result.createdAt = this.#isoOf(job.createdAt);
      this.#finish(job, result, undefined);
    }
    this.#pump();
  }

  /** Settles a job that never ran (cancelled, closed, refused admission); `what` follows its name. */
  #finishNotStarted(job: Job, status: RunStatus, code: string, what: string): void {
    if (job.onAbort !== undefined) {
      job.options!.signal!.removeEventListener('abort', job.onAbort);
      job.onAbort = undefined;
    }
    this.#finish(job, this.#notStartedResult(job, status, code, what, true), undefined);
  }

  /** A result for a job that never ran: no `startedAt`, no pid, no output. */
  #notStartedResult(
    job: Job,
    status: RunStatus,
    code: string,
    message: string,
    prefixName: boolean,
  ): RunResult {
    const identity = this.#identity(job);
    // Fields are set on the record rather than spread into a new literal: `{ ...record, more }`
    // takes a slow path in V8 (Node 20: ~6 µs an object, against ~0.03 µs for this).
    const result = queuedRecord(identity) as RunResult;
    result.status = status;
    result.finishedAt = new Date().toISOString();
    result.stdout = '';
    result.stderr = '';
    result.ok = false;
    if (identity.command !== undefined) {
      result.exitCode = null;
      result.exitSignal = null;
    }
    const name =
      identity.command === undefined ? `Task \`${identity.name}\`` : `\`${identity.name}\``;
    result.error = { code, message: prefixName ? `${name} ${message}` : message };
    return result;
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
    if (this.#listenerCount > 0) this.#emit('end', { result });

    const store = this.#store;
    if (store) {
      const patch = terminalPatch(result);
      this.#write(job, (s) => s.update(job.id!, patch));
    }
    const batch = job.batch;
    if (batch === undefined) {
      if (store === undefined) this.#deliver(job, result, rejection);
      else {
        this.#pendingWrites++;
        void job.writes!.then(() => {
          this.#pendingWrites--;
          this.#deliver(job, result, rejection);
        });
      }
      return;
    }
    if (wasRunning) batch.running--;
    else batch.queued--;
    batch.done++;
    if (status === 'succeeded') batch.succeeded++;
    else if (status === 'cancelled') batch.cancelled++;
    else batch.failed++;
    batch.results[job.index] = result;
    if (batch.options?.onProgress) this.#progress(batch, result);
    if (batch.done === batch.total) {
      this.#finishBatch(batch);
      return;
    }
    // After this job's own progress; settling the others may finish the batch.
    if (!result.ok && batch.options?.failFast) {
      this.#cancelBatch(batch, `another task of the batch did not succeed (${result.id})`);
    }
    this.#checkIdle();
  }

  #deliver(job: Job, result: RunResult, rejection: unknown): void {
    if (rejection === undefined) job.resolve!(result);
    else job.reject!(rejection);
    this.#checkIdle();
  }

  #finishBatch(batch: Batch): void {
    const signal = batch.options?.signal;
    if (batch.onAbort !== undefined) signal!.removeEventListener('abort', batch.onAbort);
    const store = this.#store;
    if (store === undefined) {
      batch.resolve(batch.results);
      this.#checkIdle();
      return;
    }
    const output = { lines: 0, bytes: 0, truncated: false };
    for (const result of batch.results) {
      output.lines += result.output.lines;
      output.bytes += result.output.bytes;
      output.truncated ||= result.output.truncated;
    }
    const finishedAt = Date.now();
    const patch: RunPatch = {
      status:
        batch.succeeded === batch.total ? 'succeeded' : signal?.aborted ? 'cancelled' : 'failed',
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: finishedAt - batch.createdAt,
      output,
    };
    if (batch.succeeded < batch.total) {
      patch.error = {
        code: signal?.aborted ? ErrorCodes.CANCELLED : ErrorCodes.FAILED,
        message: `${batch.total - batch.succeeded} of ${batch.total} tasks did not succeed (${batch.failed} failed, ${batch.cancelled} cancelled)`,
      };
    }
    this.#pendingWrites++;
    void Promise.all(batch.jobs.map((job) => job.writes))
      .then(() => store.update(batch.id, patch))
      .catch((error) => reportStoreError(batch.id, error))
      .then(() => {
        this.#pendingWrites--;
        batch.resolve(batch.results);
        this.#checkIdle();
      });
  }

  /** Settles the batch's queued jobs as cancelled (they never start) and cancels its running ones. */
  #cancelBatch(batch: Batch, reason: unknown): void {
    if (batch.cancelling) return;
    batch.cancelling = true;
    for (const job of batch.jobs) {
      if (job.state === QUEUED) {
        this.#unqueue(job);
        this.#finishNotStarted(job, 'cancelled', ErrorCodes.CANCELLED, cancelledBefore(reason));
      } else if (job.state === RUNNING) {
        job.active!.cancel(reason).catch(noop);
      }
    }
    this.#pump();
  }

  #unqueue(job: Job): void {
    if (this.#queue.remove(job)) return;
    const index = this.#admitting.indexOf(job);
    if (index >= 0) this.#admitting.splice(index, 1);
  }

  #progress(batch: Batch, lastResult: RunResult | undefined): void {
    const progress: BatchProgress = {
      total: batch.total,
      done: batch.done,
      running: batch.running,
      queued: batch.queued,
      succeeded: batch.succeeded,
      failed: batch.failed,
      cancelled: batch.cancelled,
    };
    if (lastResult !== undefined) progress.lastResult = lastResult;
    try {
      batch.options!.onProgress!(progress);
    } catch (error) {
      console.error('runyard: onProgress threw', error);
    }
  }

  #cancelRunningAfter(graceMs: number): void {
    const at = performance.now() + graceMs;
    if (at >= this.#cancelAt) return;
    this.#cancelAt = at;
    clearTimeout(this.#cancelTimer);
    const cancel = () => {
      const reason = new RunyardError(ErrorCodes.CLOSED, 'The executor was closed');
      for (const job of this.#running) job.active!.cancel(reason).catch(noop);
    };
    if (graceMs === 0) cancel();
    else this.#cancelTimer = setTimeout(cancel, graceMs);
  }

  async #shutdown(): Promise<void> {
    const waiting = [...this.#admitting.splice(0), ...this.#queue.drain()];
    for (const job of waiting) {
      this.#finishNotStarted(
        job,
        'cancelled',
        ErrorCodes.CLOSED,
        'was not started: the executor was closed',
      );
    }
    this.#syncAdmission();
    await this.onIdle();
    clearTimeout(this.#cancelTimer);
    if (this.#ownsMonitor) this.#monitor?.close();
  }

  #isIdle(): boolean {
    return (
      this.#running.size === 0 &&
      this.#queue.size === 0 &&
      this.#admitting.length === 0 &&
      this.#pendingWrites === 0
    );
  }

  #checkIdle(): void {
    if (this.#idleWaiters.length === 0 || !this.#isIdle()) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /** Chains a store write after the job's earlier ones; the first failure stops the rest. */
  #write(job: Job, write: (store: RunStore) => Promise<unknown>): void {
    const store = this.#store!;
    job.writes = (job.writes ?? Promise.resolve()).then(() => {
      if (job.unrecorded) return;
      return write(store).catch((error: unknown) => {
        job.unrecorded = true;
        reportStoreError(job.id, error);
      });
    });
  }

  #recordOf(job: Job): RunRecord {
    const record = queuedRecord(this.#identity(job));
    if (job.parentId !== undefined) record.parentId = job.parentId;
    const labels = job.options?.labels;
    if (labels !== undefined) record.labels = { ...labels };
    if (job.state === QUEUED) record.waitingFor = job.waitingFor;
    return record;
  }

  #identity(job: Job): RunIdentity {
    job.id ??= newRunId();
    const task = job.task;
    const identity: RunIdentity = {
      id: job.id,
      name: nameOf(job),
      pattern: 'concurrent',
      createdAt: job.createdAt,
    };
    if ('command' in task) {
      identity.command = task.command;
      identity.args = [...(task.args ?? [])];
      identity.cwd = task.cwd;
    }
    return identity;
  }

  #isoOf(ms: number): string {
    if (ms !== this.#isoMs) {
      this.#isoMs = ms;
      this.#iso = new Date(ms).toISOString();
    }
    return this.#iso;
  }
}

function nameOf(job: Job): string {
  const task = job.task;
  return (
    task.name ??
    job.options?.name ??
    ('command' in task ? basename(task.command) : task.fn.name || 'function')
  );
}

function cancelledBefore(reason: unknown): string {
  const text = 'was cancelled before it started';
  if (reason === undefined) return text;
  if (reason instanceof Error) {
    // AbortController.abort() without a reason gives a generic AbortError: say nothing then.
    return reason.name === 'AbortError' ? text : `${text}: ${reason.message}`;
  }
  return `${text}: ${String(reason)}`;
}

/** A settled run's record fields: the result without what only the caller gets. */
function terminalPatch(result: RunResult): RunPatch {
  const patch: Partial<RunResult> = { ...result, waitingFor: undefined };
  delete patch.id;
  delete patch.createdAt;
  delete patch.stdout;
  delete patch.stderr;
  delete patch.value;
  delete patch.ok;
  return patch;
}

function reportStoreError(id: string | undefined, error: unknown): void {
  // The run goes on and settles; only its record is behind.
  console.error(`runyard: could not record run ${id ?? ''} in the store`, error);
}

function checkCount(field: string, value: unknown): void {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw invalid(field, 'a non-negative integer or Infinity', value);
  }
}

function checkPriority(field: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
    throw invalid(field, 'a finite number', value);
  }
}

function checkTask(task: unknown, field: string): ProcessTask | FunctionTask {
  if (typeof task !== 'object' || task === null || !('fn' in task || 'command' in task)) {
    const expected =
      typeof task === 'object' && task !== null && 'pool' in task
        ? 'a `{ command }` or `{ fn }` task (`{ pool }` tasks run on their pool, not on an Executor)'
        : 'a `{ command }` or `{ fn }` task';
    throw invalid(field, expected, task);
  }
  try {
    const [checked] = normalizeTask(task as ProcessTask | FunctionTask, undefined, undefined);
    if ('fn' in checked) {
      checkNonNegativeNumber('timeoutMs', checked.timeoutMs);
      checkOptionalString('name', checked.name);
    }
    return checked;
  } catch (error) {
    if (field === 'task' || !isRunyardError(error)) throw error;
    throw new RunyardError(error.code, `${error.message} (in \`${field}\`)`, { cause: error });
  }
}

function checkSubmitOptions(options: SubmitOptions): void {
  checkPlainObject('options', options);
  checkPriority('priority', options.priority);
  checkAbortSignal('signal', options.signal);
  checkOptionalString('parentId', options.parentId);
  checkOptionalString('name', options.name);
  if (options.id !== undefined) checkArgString('id', options.id, { nonEmpty: true });
  checkPlainObject('labels', options.labels);
  for (const [key, value] of Object.entries(options.labels ?? {})) {
    if (typeof value !== 'string') throw invalid(`labels.${key}`, 'a string', value);
  }
}

function checkRunAllOptions(options: RunAllOptions): void {
  checkPlainObject('options', options);
  checkBoolean('failFast', options.failFast);
  checkFunction('onProgress', options.onProgress);
  checkAbortSignal('signal', options.signal);
  checkPriority('priority', options.priority);
  checkOptionalString('name', options.name);
}
