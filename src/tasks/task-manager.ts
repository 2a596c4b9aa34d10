/*
 * `TaskManager`, pattern 4: launches recorded runs and tracks them in the store across processes.
 * It drives runs; their records, recovery of dead owners and retries live in the files beside it.
 */
import { join } from 'node:path';
import { ErrorCodes, isRunyardError, RunyardError } from '../core/errors.js';
import { sleepUnlessAborted } from '../core/sleep.js';
import { setLongTimeout, sleep } from '../core/timers.js';
import {
  type FunctionTask,
  isTerminalStatus,
  type ProcessTask,
  type RetryPolicy,
  type RunOwner,
  type RunRecord,
  type RunResult,
  type TaskSpec,
} from '../core/types.js';
import {
  checkArgString,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkOptionalString,
  checkPlainObject,
  invalid,
} from '../core/validate.js';
import { Executor } from '../executor/executor.js';
import { checkTaskKeys } from '../executor/executor-options.js';
import { OutputLog } from '../output/output-log.js';
import { currentOwner, ownerState, processStartTime } from '../process/owner.js';
import { executeTask } from '../run/execute-task.js';
import { normalizeTask } from '../run/task-options.js';
import { defaultHome } from '../store/open-store.js';
import type { RunPage, RunQuery, RunStore } from '../store/run-store.js';
import {
  FinishedRuns,
  type LaunchOptions,
  queuedRunRecord,
  spawnFailure,
  type TaskRecord,
  taskFromSpec,
  terminalPatch,
  validateLaunchOptions,
} from './launch-record.js';
import { endLeftovers, type RecoverySummary, recoverRuns } from './recovery.js';
import { RecordWriter, retryDelay, WriteRetry } from './retry.js';

export type { LaunchOptions, TaskRecord } from './launch-record.js';

export interface TaskManagerOptions {
  /** Where runs are recorded; the manager does not close it. */
  readonly store: RunStore;
  /** Runs the tasks under its concurrency limit. @default a new `Executor` with its defaults */
  readonly executor?: Executor;
  /** Each run's output goes to `<logDir>/<runId>.log`. @default `<RUNYARD_HOME or ./.runyard>/logs` */
  readonly logDir?: string;
  /** How often runs owned here are checked for a cancel asked by another process. @default 1000 */
  readonly pollMs?: number;
  /** `health()` reports a run queued longer than this as stuck. @default 60_000 */
  readonly stuckAfterMs?: number;
}

export interface HealthReport {
  /**
   * False when queued work has not moved for `stuckAfterMs`, when the store refuses writes
   * (the runs' changes wait in memory to be written), or when the manager is shut down.
   */
  healthy: boolean;
  reasons: string[];
  running: number;
  queued: number;
  /** How long the oldest queued run has waited, in ms. */
  oldestQueuedMs: number;
}

/** The documented defaults of `TaskManagerOptions`, for docs tests. */
export const taskManagerDefaults = {
  pollMs: 1000,
  stuckAfterMs: 60_000,
  shutdownGraceMs: 5000,
} as const;

/** The keys of `TaskManagerOptions`. */
const managerOptionKeys = ['store', 'executor', 'logDir', 'pollMs', 'stuckAfterMs'] as const;

/** A run this manager drives from launch to its terminal status. */
interface Launch {
  record: RunRecord;
  readonly task: ProcessTask | FunctionTask;
  readonly retries: RetryPolicy | undefined;
  readonly priority: number;
  readonly controller: AbortController;
  readonly output: OutputLog;
  /** Set by `shutdown()`: the run stays queued in the store for the next start. */
  isHeldForRestart: boolean;
  queuedSince: number;
  /** Store writes of one run, in order, retried while the store refuses them. */
  readonly writer: RecordWriter;
  done: Promise<TaskRecord>;
}

/**
 * Pattern 4, fire-and-forget with tracking: `launch()` records a run and returns it before the
 * task runs; the run then moves queued → running → terminal in the store, its output goes to
 * its log file, and `get`/`list`/`wait`/`cancel` work from this process or another one sharing
 * the store. Runs survive restarts: `recover()` finds runs whose owner died.
 *
 * @example
 * const manager = new TaskManager({ store: await openStore('sqlite:.runyard/runyard.db') });
 * await manager.recover();
 * const run = await manager.launch({ command: 'python3', args: ['report.py'] }, { retries: { attempts: 3 } });
 * console.log(run.id, run.status); // '0190…', 'queued'
 */
export class TaskManager {
  readonly #store: RunStore;
  readonly #executor: Executor;
  readonly #ownsExecutor: boolean;
  readonly #logDir: string;
  readonly #pollMs: number;
  readonly #stuckAfterMs: number;
  readonly #owner: RunOwner = currentOwner();
  readonly #launches = new Map<string, Launch>();
  readonly #finished = new FinishedRuns();
  /** Writes the store refused, tried again together. */
  readonly #retry = new WriteRetry({
    onFailure: (error) => {
      const message = error instanceof Error ? error.message : String(error);
      // Since the first refusal of this spell: while earlier changes still wait, it goes on.
      const since = this.#retry.size > 0 ? this.#storeFailure?.since : undefined;
      this.#storeFailure = { message, since: since ?? Date.now() };
    },
  });
  /** Why the latest write was refused, and since when the store refuses. */
  #storeFailure: { message: string; since: number } | undefined;
  #poller: { clear(): void } | undefined;
  /** The latest `recover()`; the next one waits for it. */
  #recovery: Promise<unknown> = Promise.resolve();
  #shutdown: Promise<void> | undefined;

  constructor(options: TaskManagerOptions) {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, managerOptionKeys);
    if (options?.store === undefined) throw invalid('store', 'a RunStore', options?.store);
    checkOptionalString('logDir', options.logDir);
    checkNonNegativeNumber('pollMs', options.pollMs);
    checkNonNegativeNumber('stuckAfterMs', options.stuckAfterMs);
    this.#store = options.store;
    this.#ownsExecutor = options.executor === undefined;
    this.#executor = options.executor ?? new Executor();
    this.#logDir = options.logDir ?? join(defaultHome(), 'logs');
    this.#pollMs = options.pollMs ?? taskManagerDefaults.pollMs;
    this.#stuckAfterMs = options.stuckAfterMs ?? taskManagerDefaults.stuckAfterMs;
  }

  /** The process that owns the runs launched here. */
  get owner(): RunOwner {
    return { ...this.#owner };
  }

  /** Records the run and returns it, queued, before the task runs. */
  async launch(task: TaskSpec, options: LaunchOptions = {}): Promise<RunRecord> {
    if (this.#shutdown) throw new RunyardError(ErrorCodes.CLOSED, 'The task manager is shut down');
    checkTaskKeys('task', task);
    const [normalized] = normalizeTask(task as ProcessTask | FunctionTask, undefined, undefined);
    validateLaunchOptions(options);
    if (options.idempotencyKey !== undefined) {
      const existing = await this.#store.findByIdempotencyKey(options.idempotencyKey);
      if (existing) return existing;
    }
    const record = queuedRunRecord(normalized, options, this.#owner);
    try {
      await this.#store.create(record);
    } catch (error) {
      // Two launches with one key raced: the store's unique key let one through.
      if (options.idempotencyKey !== undefined && isRunyardError(error, 'ERR_CONFLICT')) {
        const existing = await this.#store.findByIdempotencyKey(options.idempotencyKey);
        if (existing) return existing;
      }
      throw error;
    }
    this.#drive(record, normalized, options.retries, options.priority ?? 0);
    return structuredClone(record);
  }

  /** The run's record; for a run of this manager whose changes the store refused, as it is here. */
  async get(id: string): Promise<RunRecord | undefined> {
    const writer = this.#writerWithPending(id);
    if (writer) return structuredClone(writer.record);
    return this.#store.get(id);
  }

  /** Runs from the store, newest first; runs of this manager as `get()` gives them. */
  async list(query?: RunQuery): Promise<RunPage> {
    const page = await this.#store.list(query);
    page.runs = page.runs.map((run) => {
      const writer = this.#writerWithPending(run.id);
      return writer ? structuredClone(writer.record) : run;
    });
    return page;
  }

  /**
   * Cancels a queued or running run and resolves with its record once it is terminal. A run of
   * another live process is asked to stop through the store; a run whose owner died is marked
   * `cancelled` and its leftover processes are ended. Cancelling a terminal run changes nothing.
   * `ERR_NOT_FOUND` for an unknown id.
   */
  async cancel(id: string, reason = 'cancelled'): Promise<RunRecord> {
    checkArgString('id', id, { nonEmpty: true });
    const launch = this.#launches.get(id);
    if (launch) {
      launch.controller.abort(reason);
      return launch.done;
    }
    const unwritten = this.#finished.unwritten(id);
    if (unwritten) return structuredClone(unwritten.record);
    const record = await this.#store.get(id);
    if (!record) throw new RunyardError(ErrorCodes.NOT_FOUND, `No run with id \`${id}\``);
    if (isTerminalStatus(record.status)) return record;
    if (ownerState(record.owner, this.#owner) === 'dead') {
      await recoverRuns(this.#store, this.#owner, { only: record, cancel: reason });
      // Cancelled now, or ended meanwhile by its last try or another process's recovery.
      const settled = await this.#store.get(id);
      if (settled && isTerminalStatus(settled.status)) return settled;
    }
    // Its owner lives: it polls the store and ends the run itself.
    try {
      await this.#store.update(id, { cancelRequestedAt: new Date().toISOString() });
    } catch (error) {
      // It ended between the read and the request: a cancel of a finished run changes nothing.
      if (!isRunyardError(error, 'ERR_CONFLICT')) throw error;
      const ended = await this.#store.get(id);
      if (ended && isTerminalStatus(ended.status)) return ended;
      throw error;
    }
    return this.wait(id);
  }

  /**
   * Resolves with the run's record once it is terminal; for a function run launched here, with
   * its return `value`. `ERR_NOT_FOUND` for an unknown id.
   */
  async wait(id: string): Promise<TaskRecord> {
    const launch = this.#launches.get(id);
    if (launch) return launch.done;
    for (;;) {
      const unwritten = this.#finished.unwritten(id);
      const record = unwritten ? structuredClone(unwritten.record) : await this.#store.get(id);
      if (!record) throw new RunyardError(ErrorCodes.NOT_FOUND, `No run with id \`${id}\``);
      if (isTerminalStatus(record.status)) return this.#finished.withValue(record);
      // It may have been handed to this manager meanwhile (`adopt()`, `recover()`).
      const adopted = this.#launches.get(id);
      if (adopted) return adopted.done;
      await sleep(Math.max(this.#pollMs, 10));
    }
  }

  /**
   * At start: whatever runs of dead owners left running is ended first (every process carrying
   * the run's id, a `setsid` daemon included, and the child's process group, whatever the
   * child itself did; a reused pid is never killed), all runs at once. Then running runs are
   * marked `interrupted`; queued process runs are started again here (at-least-once), never
   * beside a first copy that could not be ended; queued function runs cannot outlive their
   * process and become `interrupted`.
   */
  recover(): Promise<RecoverySummary> {
    // One at a time: two at once could both take over the same queued run.
    const recovery = this.#recovery.then(() =>
      recoverRuns(this.#store, this.#owner, { requeue: (record) => this.#requeue(record) }),
    );
    this.#recovery = recovery.catch(() => {});
    return recovery;
  }

  /**
   * Stops taking launches; running runs get `graceMs` to finish, then are cancelled. Queued runs
   * stay queued in the store for the next start's `recover()`. Nothing is left running.
   */
  shutdown(options: { graceMs?: number } = {}): Promise<void> {
    try {
      checkPlainObject('options', options);
      checkKnownKeys('options', options, ['graceMs']);
      checkNonNegativeNumber('graceMs', options.graceMs);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#shutdown ??= this.#stop(options.graceMs ?? taskManagerDefaults.shutdownGraceMs);
    return this.#shutdown;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  /**
   * Healthy means work moves and is recorded: queued work nothing picked up for `stuckAfterMs`
   * is not, nor a store that refuses writes.
   */
  health(): HealthReport {
    const now = Date.now();
    let running = 0;
    let queued = 0;
    let oldest = 0;
    const reasons: string[] = [];
    for (const launch of this.#launches.values()) {
      if (launch.record.status === 'running') {
        running++;
        continue;
      }
      queued++;
      const waited = now - launch.queuedSince;
      oldest = Math.max(oldest, waited);
      if (waited > this.#stuckAfterMs && launch.record.waitingFor !== 'retry-backoff') {
        const why = launch.record.waitingFor ?? 'a start';
        reasons.push(
          `run ${launch.record.id} (${launch.record.name}) has waited ${Math.round(waited / 1000)} s for ${why}`,
        );
      }
    }
    const failure = this.#storeFailure;
    const store = this.#store.health?.();
    const waiting = this.#retry.size;
    if (failure && waiting > 0) {
      reasons.unshift(
        `the run store cannot be written (for ${Math.round((now - failure.since) / 1000)} s): ${
          failure.message
        }; the changes of ${waiting} run${waiting === 1 ? '' : 's'} wait in memory and are retried`,
      );
    } else if (store && !store.writable && !this.#shutdown) {
      // Its last write, maybe another part's, failed: the next one of a run here may too.
      reasons.unshift(
        `the run store cannot be written: ${store.lastWriteError?.message ?? 'it is read-only or closed'}`,
      );
    }
    if (this.#shutdown) reasons.unshift('the task manager is shut down');
    return { healthy: reasons.length === 0, reasons, running, queued, oldestQueuedMs: oldest };
  }

  /**
   * Runs a queued process run that another process recorded and handed to this one (the CLI's
   * `launch` does so). `ERR_CONFLICT` when the run is not queued, is a function run, or belongs
   * to another live process.
   */
  async adopt(id: string): Promise<RunRecord> {
    const record = await this.#store.get(id);
    if (!record) throw new RunyardError(ErrorCodes.NOT_FOUND, `No run with id \`${id}\``);
    const state = ownerState(record.owner, this.#owner);
    if (record.status !== 'queued' || !record.command || state === 'alive' || state === 'unknown') {
      throw new RunyardError(
        ErrorCodes.CONFLICT,
        `Run \`${id}\` cannot be taken over: it is ${record.status}${record.command ? '' : ', a function run'}${
          state === 'alive' || state === 'unknown' ? ', owned by another live process' : ''
        }`,
      );
    }
    // Its owner died: a copy it may have started is ended before this one starts.
    if (state === 'dead') {
      const [ending] = await endLeftovers([record]);
      if (ending!.survivors.length > 0) {
        throw new RunyardError(
          ErrorCodes.CONFLICT,
          `Run \`${id}\` cannot be taken over: its processes ${ending!.survivors.join(', ')} still run`,
        );
      }
    }
    await this.#requeue(record);
    return this.#launches.get(id)?.record ?? record;
  }

  /** Takes over a queued process run whose owner died, and runs it here. */
  async #requeue(record: RunRecord): Promise<void> {
    const spec = record.spec ?? {};
    // Only if the owner is still the one read: a second process adopting it at once loses.
    const taken = await this.#store.update(
      record.id,
      { owner: this.#owner, waitingFor: 'concurrency' },
      { ifOwner: record.owner ?? null },
    );
    this.#drive(taken, taskFromSpec(record), spec.retries, spec.priority ?? 0);
  }

  #drive(
    record: RunRecord,
    task: ProcessTask | FunctionTask,
    retries: RetryPolicy | undefined,
    priority: number,
  ): void {
    const launch: Launch = {
      record,
      task,
      retries,
      priority,
      controller: new AbortController(),
      output: new OutputLog({ file: join(this.#logDir, `${record.id}.log`), tailLines: 1000 }),
      isHeldForRestart: false,
      queuedSince: Date.now(),
      writer: new RecordWriter(this.#store, record, this.#retry),
      done: Promise.resolve(record),
    };
    this.#launches.set(record.id, launch);
    launch.done = this.#runAttempts(launch).finally(() => {
      this.#launches.delete(record.id);
      this.#finished.keepUntilWritten(launch.writer);
      this.#updatePoller();
    });
    // Callers learn the outcome from the store or `wait()`; a store failure is in the log.
    launch.done.catch(() => {});
    this.#updatePoller();
  }

  async #runAttempts(launch: Launch): Promise<TaskRecord> {
    const { record, controller, output } = launch;
    try {
      for (let attempt = record.attempt; ; attempt++) {
        const result = await this.#runOnce(launch, attempt);
        if (result === undefined) {
          // Aborted before it started: held for the next start, or cancelled.
          if (launch.isHeldForRestart) return launch.record;
          return await this.#finish(launch, {
            status: 'cancelled',
            waitingFor: undefined,
            finishedAt: new Date().toISOString(),
            error: {
              code: ErrorCodes.CANCELLED,
              message: cancelMessage(launch, controller.signal.reason),
            },
          });
        }
        const canRetry =
          (result.status === 'failed' || result.status === 'timed_out') &&
          launch.retries !== undefined &&
          attempt < launch.retries.attempts &&
          !controller.signal.aborted;
        if (!canRetry) return await this.#finish(launch, terminalPatch(result), result.value);
        const waitMs = retryDelay(launch.retries!, attempt);
        output.append('system', `attempt ${attempt} ${result.status}; retrying in ${waitMs} ms`);
        await this.#write(launch, {
          status: 'queued',
          waitingFor: 'retry-backoff',
          attempt: attempt + 1,
          error: result.error,
        });
        launch.queuedSince = Date.now();
        if (!(await sleepUnlessAborted(waitMs, controller.signal))) {
          if (launch.isHeldForRestart) return launch.record;
          return await this.#finish(launch, {
            status: 'cancelled',
            waitingFor: undefined,
            finishedAt: new Date().toISOString(),
            error: {
              code: ErrorCodes.CANCELLED,
              message: cancelMessage(launch, controller.signal.reason),
            },
          });
        }
      }
    } finally {
      await output.close();
    }
  }

  /** One try through the executor; `undefined` when it was aborted before it started. */
  async #runOnce(launch: Launch, attempt: number): Promise<RunResult | undefined> {
    const { record, controller } = launch;
    let inner: Promise<RunResult> | undefined;
    const slot = this.#executor.submit(
      {
        name: record.name,
        fn: async (ctx) => {
          const active = executeTask(launch.task, {
            id: record.id,
            pattern: record.pattern,
            captureBytes: 64 * 1024,
            output: launch.output,
            signal: ctx.signal,
          });
          // A program that could not start is a failed try, with the reason.
          inner = active.result.catch((error: unknown) => spawnFailure(record, error));
          const pid = active.pid;
          await this.#write(launch, {
            status: 'running',
            waitingFor: undefined,
            attempt,
            startedAt: new Date().toISOString(),
            ...(pid !== undefined && { pid, childStartTime: processStartTime(pid) }),
          });
          return inner;
        },
      },
      { signal: controller.signal, priority: launch.priority },
    );
    const outer = await slot.catch((error: unknown) => spawnFailure(record, error));
    // Once started, the try's own result counts, even if the slot gave up waiting for it.
    if (inner) return inner;
    // The slot was never given: aborted while queued, or refused (queue full, executor closed).
    return outer.status === 'cancelled' ? undefined : outer;
  }

  /**
   * Records the run's end. A store that refuses the write for now does not hold the run back:
   * the record is final here at once, and written when the store takes it.
   */
  async #finish(launch: Launch, patch: Partial<RunRecord>, value?: unknown): Promise<TaskRecord> {
    try {
      await this.#write(launch, patch);
    } catch (error) {
      // Someone else (a recover() that took this process for dead) already ended it.
      if (!isRunyardError(error, 'ERR_CONFLICT')) throw error;
      launch.record = (await this.#store.get(launch.record.id)) ?? launch.record;
    }
    this.#finished.keepValue(launch.record.id, value);
    return this.#finished.withValue(structuredClone(launch.record));
  }

  /** Applies a patch in order with the run's other writes, keeping the latest record. */
  async #write(launch: Launch, patch: Partial<RunRecord>): Promise<RunRecord> {
    const write = launch.writer.write(patch);
    launch.record = launch.writer.record;
    const stored = await write;
    launch.record = launch.writer.record;
    return stored;
  }

  /** The writer of a run of this manager that has changes the store has not taken. */
  #writerWithPending(id: string): RecordWriter | undefined {
    const writer = this.#launches.get(id)?.writer ?? this.#finished.unwritten(id);
    return writer?.hasPending ? writer : undefined;
  }

  /** Polls the store for cancels asked by other processes, while runs are owned here. */
  #updatePoller(): void {
    if (this.#launches.size === 0 || this.#pollMs === 0) {
      this.#poller?.clear();
      this.#poller = undefined;
      return;
    }
    if (this.#poller) return;
    const poll = () => {
      this.#poller = setLongTimeout(poll, this.#pollMs).unref();
      void this.#pollCancels();
    };
    this.#poller = setLongTimeout(poll, this.#pollMs).unref();
  }

  /** One query for every active run with a cancel request, whoever owns it; ours are ended. */
  async #pollCancels(): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.#store
        .list({ status: ['queued', 'running'], cancelRequested: true, limit: 1000, cursor })
        .catch(() => undefined);
      if (!page) return;
      for (const run of page.runs) {
        const launch = this.#launches.get(run.id);
        if (launch && !launch.controller.signal.aborted) {
          launch.controller.abort('cancelled from another process');
        }
      }
      cursor = page.nextCursor;
    } while (cursor);
  }

  async #stop(graceMs: number): Promise<void> {
    const deadline = performance.now() + graceMs;
    const launches = [...this.#launches.values()];
    for (const launch of launches) {
      if (launch.record.status !== 'running') {
        launch.isHeldForRestart = true;
        launch.controller.abort('shutdown');
      }
    }
    const all = Promise.allSettled(launches.map((launch) => launch.done));
    let timer: { clear(): void } | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setLongTimeout(() => resolve('grace-over'), graceMs);
    });
    if ((await Promise.race([all, graceOver])) === 'grace-over') {
      for (const launch of this.#launches.values()) launch.controller.abort('shutdown');
    }
    timer?.clear();
    await all;
    this.#poller?.clear();
    this.#poller = undefined;
    // Ends the store has not taken get what is left of the grace (each try still completes).
    await this.#retry.giveUpAfter(Math.max(0, deadline - performance.now()));
    if (this.#ownsExecutor) await this.#executor.close();
  }
}

function cancelMessage(launch: Launch, reason: unknown): string {
  const why = typeof reason === 'string' && reason !== 'cancelled' ? `: ${reason}` : '';
  return `\`${launch.record.name}\` was cancelled before it started${why}`;
}
