/*
 * `ProcessPool`: warm worker processes that take tasks over NDJSON, recycled and replaced.
 */
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import { newRunId } from '../../core/ids.js';
import { setLongTimeout } from '../../core/timers.js';
import { PoolRecorder } from './pool-recorder.js';
import { PoolWorker, type WorkerAnswer, type WorkerHost } from './pool-worker.js';
import {
  type NodePoolOptions,
  nodePoolOptions,
  type ProcessPoolOptions,
  type ProcessPoolRunOptions,
  type ProcessPoolSettings,
  type ProcessPoolStats,
  type PythonPoolOptions,
  processPoolDefaults,
  processPoolSettings,
  pythonPoolOptions,
} from './process-pool-options.js';
import {
  cancelledError,
  checkRunOptions,
  type PoolTask,
  TaskQueue,
  taskFailedError,
  taskLine,
} from './task-queue.js';

export type {
  NodePoolOptions,
  ProcessPoolOptions,
  ProcessPoolRunOptions,
  ProcessPoolStats,
  PythonPoolOptions,
} from './process-pool-options.js';
export { processPoolDefaults, processPoolHelpers } from './process-pool-options.js';

/**
 * Warm worker processes that take tasks as JSON lines on stdin and answer on stdout, so an
 * expensive start (an interpreter importing a large library) is paid once per worker, not
 * once per task. Each worker runs one task at a time; the pool runs up to `size` at once and
 * queues the rest.
 *
 * A worker that crashes, prints something that is not the protocol, or passes a task's
 * `timeoutMs` fails only the task it held and is replaced. A worker that fails to start is
 * never handed a task: starts are retried one at a time with a growing backoff, and after
 * `maxStartFailures` failed starts in a row the pool fails its tasks at once, with the
 * worker's own stderr in the error, until a later `run()` retries a start after the backoff.
 *
 * @example
 * await using pool = ProcessPool.python({ handler: 'thumbs.make:thumbnail', size: 4 });
 * const thumb = await pool.run({ path: 'photo.jpg', width: 320 });
 */
export class ProcessPool {
  /**
   * A pool of the shipped Python helper (`workers/python/runyard_worker.py`, standard library
   * only), which imports `package.module` once and calls `function(payload)` for each task.
   *
   * @example
   * const pool = ProcessPool.python({ handler: 'mylib.tasks:score', python: '/usr/bin/python3' });
   */
  static python(options: PythonPoolOptions): ProcessPool {
    return new ProcessPool(pythonPoolOptions(options));
  }

  /**
   * A pool of the shipped Node helper (`workers/node/runyard-worker.mjs`), which imports the
   * file once and calls the named export (the default export without `#name`) for each task.
   *
   * @example
   * const pool = ProcessPool.node({ handler: './tasks.mjs#resize', size: 2 });
   */
  static node(options: NodePoolOptions): ProcessPool {
    return new ProcessPool(nodePoolOptions(options));
  }

  /** The pool's name, as in its error messages and runs. */
  readonly name: string;
  readonly #settings: ProcessPoolSettings;
  readonly #recorder: PoolRecorder | undefined;
  readonly #host: WorkerHost;
  /** Each worker's environment marker is this plus its number, so one tree can be ended alone. */
  readonly #markerPrefix = `pool-${newRunId()}.`;
  #workerCount = 0;
  #taskCount = 0;
  /** Workers counted against `size`: starting, idle or busy (not the ones being ended). */
  readonly #workers = new Set<PoolWorker>();
  /** Idle workers, the most recently used last: it is taken first, the others idle out. */
  readonly #idle: PoolWorker[] = [];
  readonly #queue = new TaskQueue();
  /** Workers being ended, for `close()` to wait for. */
  readonly #ending = new Set<Promise<void>>();
  #startFailures = 0;
  /** `performance.now()` before which no start is tried after a failed one. */
  #nextStartAt = 0;
  #backoffTimer: NodeJS.Timeout | undefined;
  /** Set in the failed state: tasks are rejected with a copy of it. */
  #failure: RunyardError | undefined;
  /** Workers that ended badly and whose replacement has not started yet. */
  #owedRestarts = 0;
  #completed = 0;
  #failed = 0;
  #restarts = 0;
  #isClosed = false;
  #closing: Promise<void> | undefined;

  constructor(options: ProcessPoolOptions) {
    this.#settings = processPoolSettings(options);
    this.name = this.#settings.name;
    const store = this.#settings.store;
    this.#recorder = store === undefined ? undefined : new PoolRecorder(store, this.name);
    this.#host = {
      onReady: (worker) => this.#onReady(worker),
      onAnswer: (worker, task, answer) => this.#onAnswer(worker, task as PoolTask, answer),
      onLog: (_worker, task, text) => this.#onLog(task as PoolTask, text),
      onLost: (worker, error, isUndelivered) => this.#onLost(worker, error, isUndelivered),
    };
  }

  /** A snapshot of the pool's workers and tasks. */
  get stats(): ProcessPoolStats {
    let starting = 0;
    let busy = 0;
    for (const worker of this.#workers) {
      if (worker.state === 'starting') starting++;
      else if (worker.state === 'busy') busy++;
    }
    return {
      workers: this.#workers.size,
      starting,
      idle: this.#idle.length,
      busy,
      queued: this.#queue.size,
      completed: this.#completed,
      failed: this.#failed,
      restarts: this.#restarts,
    };
  }

  /**
   * Runs one task on a worker and resolves with the handler's result. Rejects with
   * `ERR_TASK_FAILED` (the handler threw; its type and message, the remote stack in `cause`),
   * `ERR_WORKER_CRASHED` (the worker died or broke the protocol while it held the task, or no
   * worker could be started), `ERR_TIMEOUT`, `ERR_CANCELLED`, `ERR_QUEUE_FULL`, `ERR_CLOSED`,
   * `ERR_SPAWN` (the command could not be started) or `ERR_INVALID` (bad options, or a
   * payload JSON cannot hold).
   *
   * @example
   * const sum = await pool.run([1, 2, 3], { timeoutMs: 10_000, signal });
   */
  run(payload: unknown, options?: ProcessPoolRunOptions): Promise<unknown> {
    if (this.#isClosed) return Promise.reject(this.#closedError());
    let line: string;
    try {
      if (options !== undefined) checkRunOptions(options);
      line = taskLine(++this.#taskCount, payload, this.#settings.maxMessageBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(cancelledError(signal.reason));
    if (this.#failure !== undefined && performance.now() < this.#nextStartAt) {
      return Promise.reject(this.#failureCopy());
    }
    const idle = this.#idle.pop();
    if (idle === undefined && this.#isQueueFull()) {
      return Promise.reject(
        new RunyardError(
          ErrorCodes.QUEUE_FULL,
          `The queue of pool \`${this.name}\` is full (maxQueue ${this.#settings.maxQueue})`,
        ),
      );
    }
    let resolve!: (value: unknown) => void;
    let reject!: (error: RunyardError) => void;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const task: PoolTask = {
      protocolId: this.#taskCount,
      line,
      resolve,
      reject,
      timeoutMs: options?.timeoutMs ?? this.#settings.timeoutMs,
      signal,
      onLog: options?.onLog,
      onAbort: undefined,
      timer: undefined,
      worker: undefined,
      deliveries: 0,
      isQueued: false,
      isSettled: false,
      record: this.#recorder?.queued(),
    };
    if (signal !== undefined) {
      task.onAbort = () => this.#cancel(task, signal.reason);
      signal.addEventListener('abort', task.onAbort, { once: true });
    }
    if (idle !== undefined) {
      this.#assign(idle, task);
    } else {
      this.#queue.push(task);
      this.#grow();
    }
    return promise;
  }

  /**
   * Ends every worker (its whole process tree, SIGKILL after `killGraceMs`): queued tasks
   * reject with `ERR_CLOSED`, running ones with `ERR_CANCELLED`. Idempotent: a second call
   * returns the same promise. Resolves when no worker process is left and, with a store,
   * every record is written.
   */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#isClosed = true;
      this.#closing = this.#close();
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    clearTimeout(this.#backoffTimer);
    const closed = this.#closedError();
    for (let task = this.#queue.shift(); task !== undefined; task = this.#queue.shift()) {
      this.#settle(task, this.#closedError());
    }
    for (const worker of [...this.#workers]) {
      const task = worker.task as PoolTask | undefined;
      if (task !== undefined) {
        this.#settle(
          task,
          new RunyardError(
            ErrorCodes.CANCELLED,
            `The task was cancelled: pool \`${this.name}\` was closed while it ran`,
            { cause: closed },
          ),
        );
      }
      this.#retire(worker, worker.state === 'idle' ? 'graceful' : 'kill');
    }
    while (this.#ending.size > 0) await Promise.all(this.#ending);
    await this.#recorder?.flush();
  }

  /** True when `maxQueue` tasks wait beyond those the workers being started will take. */
  #isQueueFull(): boolean {
    const { maxQueue, size } = this.#settings;
    if (this.#queue.size < maxQueue) return false;
    let starting = 0;
    for (const worker of this.#workers) if (worker.state === 'starting') starting++;
    // Tasks that will start as soon as a worker starts are not waiting on the queue's account.
    const startable = this.#startFailures > 0 ? 0 : size - this.#workers.size + starting;
    return this.#queue.size >= maxQueue + startable;
  }

  #assign(worker: PoolWorker, task: PoolTask): void {
    worker.idleTimer?.clear();
    worker.idleTimer = undefined;
    task.worker = worker;
    task.deliveries++;
    worker.hold(true);
    worker.send(task);
    if (task.timeoutMs > 0) task.timer = setLongTimeout(() => this.#timeout(task), task.timeoutMs);
    if (task.record !== undefined) this.#recorder!.started(task.record, worker.pid);
  }

  /** Gives queued tasks to idle workers (after a task came back to the queue). */
  #dispatch(): void {
    while (this.#queue.size > 0 && this.#idle.length > 0) {
      this.#assign(this.#idle.pop()!, this.#queue.shift()!);
    }
  }

  /** A worker is free (just ready, or just answered): recycle it, give it work, or let it idle. */
  #next(worker: PoolWorker): void {
    // Gone already (it answered in its last words): it loses itself next, and is replaced.
    if (!worker.isUsable) return;
    if (worker.tasksTaken >= this.#settings.maxTasksPerWorker) {
      this.#retire(worker, 'graceful');
      this.#grow();
      return;
    }
    const task = this.#queue.shift();
    if (task !== undefined) {
      this.#assign(worker, task);
      return;
    }
    worker.hold(false);
    this.#idle.push(worker);
    const idleTimeoutMs = this.#settings.idleTimeoutMs;
    if (idleTimeoutMs > 0) {
      worker.idleTimer = setLongTimeout(() => this.#retire(worker, 'graceful'), idleTimeoutMs);
      worker.idleTimer.unref();
    }
  }

  /** Starts workers for the queued tasks no starting worker will take, up to `size`. */
  #grow(): void {
    if (this.#isClosed) return;
    let starting = 0;
    for (const worker of this.#workers) if (worker.state === 'starting') starting++;
    let counted = this.#workers.size;
    while (this.#queue.size > starting && counted < this.#settings.size) {
      if (this.#startFailures > 0) {
        // After a failed start, one start at a time, each after the backoff.
        if (starting > 0) return;
        const wait = this.#nextStartAt - performance.now();
        if (wait > 0) {
          this.#backoffTimer ??= setTimeout(() => {
            this.#backoffTimer = undefined;
            this.#grow();
          }, wait);
          return;
        }
      }
      this.#spawn();
      starting++;
      counted++;
    }
  }

  /**
   * A worker that ended badly is replaced at once, so the pool stays warm; while starts are
   * failing, only queued tasks start workers (after the backoff).
   */
  #replace(): void {
    if (this.#isClosed) return;
    if (this.#startFailures === 0 && this.#workers.size < this.#settings.size) this.#spawn();
    this.#grow();
  }

  #spawn(): void {
    const isRestart = this.#owedRestarts > 0;
    if (isRestart) {
      this.#owedRestarts--;
      this.#restarts++;
    }
    const marker = this.#markerPrefix + ++this.#workerCount;
    this.#workers.add(new PoolWorker(this.#settings, this.#host, marker, isRestart));
  }

  /** Takes a worker out of the pool and ends it; the pool waits for that on close. */
  #retire(worker: PoolWorker, mode: 'graceful' | 'kill'): void {
    if (!this.#workers.delete(worker)) return;
    if (worker.state === 'idle') {
      const at = this.#idle.indexOf(worker);
      if (at !== -1) this.#idle.splice(at, 1);
    }
    const ending = worker.stop(mode);
    this.#ending.add(ending);
    void ending.then(() => this.#ending.delete(ending));
  }

  #onReady(worker: PoolWorker): void {
    this.#startFailures = 0;
    this.#nextStartAt = 0;
    this.#failure = undefined;
    this.#next(worker);
  }

  #onAnswer(worker: PoolWorker, task: PoolTask, answer: WorkerAnswer): void {
    if (answer.ok) this.#settle(task, undefined, answer.result);
    else this.#settle(task, taskFailedError(answer.error));
    this.#next(worker);
  }

  #onLog(task: PoolTask, text: string): void {
    if (task.record !== undefined) this.#recorder!.log(task.record, text);
    if (task.onLog === undefined) return;
    try {
      task.onLog(text);
    } catch (error) {
      console.error('runyard: a ProcessPool onLog listener threw', error);
    }
  }

  /** The worker crashed, broke the protocol, or never got ready. */
  #onLost(worker: PoolWorker, error: RunyardError, isUndelivered: boolean): void {
    const wasStarting = worker.state === 'starting';
    const task = worker.task as PoolTask | undefined;
    this.#retire(worker, 'kill');
    this.#owedRestarts++;
    if (wasStarting) this.#startFailed(error);
    else if (task !== undefined) {
      if (isUndelivered && task.deliveries < processPoolDefaults.maxDeliveries) {
        // It never ran: it goes first in line, to an idle worker or the replacement.
        this.#unassign(task);
        this.#queue.unshift(task);
        this.#dispatch();
      } else this.#settle(task, error);
      this.#replace();
    } else {
      // Died while idle: replaced only when work waits, or a worker that exits right after
      // its ready line would be restarted in a loop.
      this.#grow();
    }
  }

  #startFailed(error: RunyardError): void {
    const failures = ++this.#startFailures;
    const { restartBackoffMs, maxRestartBackoffMs, maxStartFailures } = processPoolDefaults;
    const backoffMs = Math.min(restartBackoffMs * 2 ** (failures - 1), maxRestartBackoffMs);
    this.#nextStartAt = performance.now() + backoffMs;
    // Workers that did start still take the queued tasks: only a pool with none fails them.
    let hasLiveWorker = false;
    for (const worker of this.#workers) if (worker.state !== 'starting') hasLiveWorker = true;
    // A command that cannot be spawned will not appear by itself within the backoff.
    if (hasLiveWorker || (failures < maxStartFailures && error.code !== ErrorCodes.SPAWN)) {
      this.#grow();
      return;
    }
    const attempts = failures === 1 ? 'a start failed' : `${failures} starts failed in a row`;
    this.#failure = new RunyardError(
      error.code,
      `Pool \`${this.name}\` could not start a worker (${attempts}); tasks fail at once until a run() after ${backoffMs} ms tries again. ${error.message}`,
      { cause: error },
    );
    for (let task = this.#queue.shift(); task !== undefined; task = this.#queue.shift()) {
      this.#settle(task, this.#failureCopy());
    }
  }

  #timeout(task: PoolTask): void {
    const worker = task.worker!;
    this.#settle(
      task,
      new RunyardError(
        ErrorCodes.TIMEOUT,
        `The task passed its timeoutMs (${task.timeoutMs} ms) in pool \`${this.name}\`; worker ${worker.pid} was ended`,
      ),
    );
    this.#owedRestarts++;
    this.#retire(worker, 'kill');
    this.#replace();
  }

  #unassign(task: PoolTask): void {
    task.worker = undefined;
    task.timer?.clear();
    task.timer = undefined;
  }

  #cancel(task: PoolTask, reason: unknown): void {
    if (task.isSettled) return;
    const worker = task.worker;
    this.#settle(task, cancelledError(reason));
    if (worker === undefined) return;
    // A running task is stopped the only way a busy process can be: its worker is ended.
    this.#owedRestarts++;
    this.#retire(worker, 'kill');
    this.#replace();
  }

  #settle(task: PoolTask, error: RunyardError | undefined, value?: unknown): void {
    if (task.isSettled) return;
    task.isSettled = true;
    if (task.isQueued) this.#queue.forget(task);
    task.timer?.clear();
    if (task.onAbort !== undefined) task.signal!.removeEventListener('abort', task.onAbort);
    if (task.record !== undefined) this.#recorder!.settled(task.record, error);
    if (error === undefined) {
      this.#completed++;
      task.resolve(value);
    } else {
      this.#failed++;
      task.reject(error);
    }
  }

  #failureCopy(): RunyardError {
    const failure = this.#failure!;
    return new RunyardError(failure.code, failure.message, { cause: failure.cause });
  }

  #closedError(): RunyardError {
    return new RunyardError(ErrorCodes.CLOSED, `The pool \`${this.name}\` is closed`);
  }
}
