/*
 * `Runyard`: the single entry point that owns a store, the patterns, and their shutdown.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorCodes, RunyardError } from '../core/errors.js';
import type {
  FunctionTask,
  PoolTask,
  ProcessTask,
  RunRecord,
  RunResult,
  TaskSpec,
} from '../core/types.js';
import {
  checkBoolean,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkOptionalString,
  checkPlainObject,
  checkPositiveInteger,
  invalid,
} from '../core/validate.js';
import { Executor, type ResourceLimits } from '../executor/executor.js';
import { ResourceMonitor } from '../executor/resource-monitor.js';
import type { RunHandle } from '../run/start.js';
import type { RunOptions, StartOptions } from '../run/task-options.js';
import { addMaintenance } from '../schedules/maintenance.js';
import { type Schedule, Scheduler } from '../schedules/scheduler.js';
import { defaultHome, openStore } from '../store/open-store.js';
import type { RunStore } from '../store/run-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import { TaskManager } from '../tasks/task-manager.js';
import { DirectRuns } from './direct-runs.js';
import { PoolRegistry } from './pools.js';
import { type ExecuteHints, selectPattern } from './select-pattern.js';

export interface RunyardOptions {
  /** Where the database and the run logs live. @default RUNYARD_HOME, else ./.runyard */
  readonly home?: string;
  /** `'sqlite:<path>'` or `'memory:'`. @default `sqlite:<home>/runyard.db` */
  readonly store?: string;
  /** Tasks running at once, in the executor and in the task manager each. @default os.availableParallelism() */
  readonly concurrency?: number;
  /** Resource admission shared by the executor and the task manager; `false` for none. @default the defaults of `ResourceLimits` */
  readonly resources?: ResourceLimits | false;
  /** Finished runs older than this are pruned by the maintenance jobs. @default 30 */
  readonly retentionDays?: number;
  /** Add the maintenance schedules (prune runs and logs, recover stale runs). @default true */
  readonly maintenance?: boolean;
}

export interface RunyardCloseOptions {
  /** How long running work may go on before it is cancelled, for the whole close. @default 5000 */
  readonly graceMs?: number;
}

/** The documented defaults of `Runyard`, for docs tests. */
export const runyardDefaults = { closeGraceMs: 5000, maintenance: true } as const;

/** Hints that choose the periodic pattern. */
export type PeriodicHints = ExecuteHints &
  ({ readonly everyMs: number } | { readonly cron: string }) & {
    readonly pattern?: 'periodic';
  };
/** Hints that choose the long-running pattern. */
export type LongRunningHints = ExecuteHints &
  (
    | { readonly pattern: 'long-running' }
    | { readonly streaming: true; readonly pattern?: 'long-running' }
  );
/** Hints that choose fire-and-forget. */
export type FireAndForgetHints = ExecuteHints &
  (
    | { readonly pattern: 'fire-and-forget' }
    | { readonly wait: false; readonly pattern?: 'fire-and-forget' }
  );
/** Hints for an array of tasks: concurrent is the only pattern. */
export interface BatchHints {
  readonly pattern?: 'concurrent';
  readonly name?: string;
  readonly expectedDurationMs?: number;
  readonly wait?: true;
}
/** Hints that keep a task waited for and short: simple (or concurrent, or pooled, when named). */
export interface WaitedHints {
  readonly name?: string;
  readonly wait?: true;
  readonly streaming?: false;
}

/** Whatever `execute()` returns, before the pattern is known. */
export type ExecuteOutcome =
  | Promise<RunResult>
  | RunHandle
  | Promise<RunResult[]>
  | Promise<RunRecord>
  | Schedule
  | Promise<unknown>;

/** A release step of the yard; `deadline` is when running work must be cancelled. */
type Release = (deadline: number) => unknown;

/**
 * The single entry point: one store, one resource monitor, an executor, a task manager, a
 * scheduler with the maintenance jobs, and named pools, built together and closed together.
 * `execute()` picks the pattern from the hints; every run lands in the store with its pattern.
 *
 * @example
 * await using yard = await Runyard.open({ home: '.runyard' });
 * const result = await yard.execute({ command: 'ffprobe', args: ['movie.mp4'] });
 * const handle = yard.execute({ command: 'python3', args: ['train.py'] }, { streaming: true });
 * yard.execute({ fn: () => cleanTmp() }, { everyMs: 60_000, name: 'clean-tmp' });
 */
export class Runyard {
  /**
   * Builds the set, runs `recover()` for runs whose owner died, and adds the maintenance
   * schedules. A failed open unwinds what it built and rejects with the first error.
   */
  static async open(options: RunyardOptions = {}): Promise<Runyard> {
    validateOptions(options);
    const home = resolve(options.home ?? defaultHome());
    const logDir = join(home, 'logs');
    const releases: Release[] = [];
    try {
      await mkdir(logDir, { recursive: true });
      const store = await openYardStore(options.store, home);
      releases.push(() => store.close());
      const limits = options.resources;
      let monitor: ResourceMonitor | undefined;
      if (limits !== false && limits?.monitor === undefined) {
        monitor = new ResourceMonitor({
          maxCpuPercent: limits?.maxCpuPercent,
          maxMemoryPercent: limits?.maxMemoryPercent,
        });
        const owned = monitor;
        releases.push(() => owned.close());
      }
      const resources: ResourceLimits | false =
        limits === false
          ? false
          : { monitor: limits?.monitor ?? monitor, admissionTimeoutMs: limits?.admissionTimeoutMs };
      const pools = new PoolRegistry(store);
      releases.push(() => pools.close());
      const common = { concurrency: options.concurrency, resources };
      const executor = new Executor({ ...common, store, logDir });
      releases.push((deadline) => executor.close({ cancelRunning: true, graceMs: left(deadline) }));
      // The manager records its own runs: its executor has no store, or each would be twice.
      const managerExecutor = new Executor(common);
      releases.push((deadline) =>
        managerExecutor.close({ cancelRunning: true, graceMs: left(deadline) }),
      );
      const tasks = new TaskManager({ store, executor: managerExecutor, logDir });
      releases.push((deadline) => tasks.shutdown({ graceMs: left(deadline) }));
      await tasks.recover();
      const direct = new DirectRuns({ store, owner: tasks.owner, logDir });
      releases.push((deadline) => direct.close(left(deadline)));
      const scheduler = new Scheduler({ manager: tasks });
      releases.push((deadline) => scheduler.stop({ graceMs: left(deadline) }));
      if (options.maintenance ?? runyardDefaults.maintenance) {
        addMaintenance(scheduler, { store, logDir, retentionDays: options.retentionDays });
      }
      return new Runyard({ home, store, executor, tasks, scheduler, pools, direct, releases });
    } catch (error) {
      await unwind(releases, Date.now()).catch(() => {});
      throw error;
    }
  }

  /** The folder of the database and of `logs/`. */
  readonly home: string;
  /** Where every run of the yard is recorded. */
  readonly store: RunStore;
  /** The concurrent pattern: `submit()` and `runAll()`, recorded in `store`. */
  readonly executor: Executor;
  /** Fire-and-forget with tracking: `launch()`, `get()`, `wait()`, `cancel()`. */
  readonly tasks: TaskManager;
  /** Periodic schedules, fired through `tasks`; the maintenance jobs are here too. */
  readonly scheduler: Scheduler;
  /** Named pools for `{ pool, payload }` tasks. */
  readonly pools: PoolRegistry;
  /**
   * `run()` recorded in the store (`pattern: 'simple'`); same arguments and result.
   * @example const result = await yard.run('ls', ['-l']);
   */
  readonly run: {
    (command: string, args?: readonly string[], options?: RunOptions): Promise<RunResult>;
    (task: ProcessTask | FunctionTask, options?: RunOptions): Promise<RunResult>;
  };
  /**
   * `start()` recorded in the store (`pattern: 'long-running'`), output in `<home>/logs`.
   * @example const handle = yard.start('python3', ['train.py']);
   */
  readonly start: {
    (command: string, args?: readonly string[], options?: StartOptions): RunHandle;
    (task: ProcessTask | FunctionTask, options?: StartOptions): RunHandle;
  };
  readonly #direct: DirectRuns;
  readonly #releases: Release[];
  #closing: Promise<void> | undefined;

  private constructor(parts: {
    home: string;
    store: RunStore;
    executor: Executor;
    tasks: TaskManager;
    scheduler: Scheduler;
    pools: PoolRegistry;
    direct: DirectRuns;
    releases: Release[];
  }) {
    this.home = parts.home;
    this.store = parts.store;
    this.executor = parts.executor;
    this.tasks = parts.tasks;
    this.scheduler = parts.scheduler;
    this.pools = parts.pools;
    this.#direct = parts.direct;
    this.#releases = parts.releases;
    const direct = parts.direct;
    this.run = (
      commandOrTask: string | ProcessTask | FunctionTask,
      argsOrOptions?: unknown,
      options?: RunOptions,
    ) => direct.run(commandOrTask, argsOrOptions as readonly string[] | RunOptions, options);
    this.start = (
      commandOrTask: string | ProcessTask | FunctionTask,
      argsOrOptions?: unknown,
      options?: StartOptions,
    ) => direct.start(commandOrTask, argsOrOptions as readonly string[] | StartOptions, options);
  }

  /**
   * Runs a task (or an array of tasks) with the pattern `hints.pattern` names, else the one
   * the selection rules choose: `everyMs`/`cron` → periodic (a `Schedule`); `streaming` or
   * `expectedDurationMs` over 60 s → long-running (a `RunHandle`); an array → concurrent
   * (results in input order); `wait: false` → fire-and-forget (the queued record); a
   * `{ pool }` task → pooled (the handler's value); otherwise simple (the result).
   *
   * @throws RunyardError `ERR_INVALID` naming the hint that the pattern cannot honour,
   * `ERR_CLOSED` once the yard is closing.
   */
  execute(tasks: readonly TaskSpec[], hints?: BatchHints): Promise<RunResult[]>;
  execute(task: TaskSpec, hints: PeriodicHints): Schedule;
  execute(task: TaskSpec, hints: LongRunningHints): RunHandle;
  execute(task: TaskSpec, hints: FireAndForgetHints): Promise<RunRecord>;
  execute(task: PoolTask, hints?: WaitedHints & { readonly pattern?: 'pooled' }): Promise<unknown>;
  execute(
    task: TaskSpec,
    hints: ExecuteHints & { readonly pattern: 'simple' | 'concurrent' },
  ): Promise<RunResult>;
  execute(task: ProcessTask | FunctionTask, hints?: WaitedHints): Promise<RunResult>;
  execute(task: TaskSpec | readonly TaskSpec[], hints?: ExecuteHints): ExecuteOutcome;
  execute(task: TaskSpec | readonly TaskSpec[], hints: ExecuteHints = {}): ExecuteOutcome {
    if (this.#closing) throw new RunyardError(ErrorCodes.CLOSED, 'The yard is closed');
    const pattern = selectPattern(task, hints);
    const name = hints.name;
    if (Array.isArray(task)) {
      return this.executor.runAll(
        task.map((one) => this.#runnable(one)),
        { name },
      );
    }
    const one = task as TaskSpec;
    switch (pattern) {
      case 'periodic': {
        const trigger =
          hints.cron !== undefined
            ? { cron: hints.cron, timezone: hints.timezone }
            : { everyMs: hints.everyMs as number };
        const scheduleName = name ?? one.name ?? `schedule-${this.scheduler.list().length + 1}`;
        return this.scheduler.add(scheduleName, trigger, this.#runnable(one));
      }
      case 'long-running':
        return this.#direct.start(this.#runnable(one), name === undefined ? {} : { name });
      case 'concurrent':
        return this.executor.submit(this.#runnable(one), { name });
      case 'fire-and-forget':
        return this.tasks.launch(this.#runnable(one), { name });
      case 'pooled': {
        const pooled = one as PoolTask;
        return this.#direct.pooled((signal) =>
          this.pools.require(pooled.pool).run(pooled.payload, {
            signal,
            timeoutMs: pooled.timeoutMs,
          }),
        );
      }
      default:
        return this.#direct.run(this.#runnable(one), name === undefined ? {} : { name });
    }
  }

  /**
   * Stops the schedules, gives running work `graceMs` (for the whole close) to finish and
   * cancels what is left, closes the pools, the executors and the store. Nothing is left
   * running; the first error is kept. A second call returns the same promise.
   */
  close(options: RunyardCloseOptions = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    try {
      checkPlainObject('options', options);
      checkKnownKeys('options', options, ['graceMs']);
      checkNonNegativeNumber('graceMs', options.graceMs);
    } catch (error) {
      return Promise.reject(error);
    }
    const graceMs = options.graceMs ?? runyardDefaults.closeGraceMs;
    this.#closing = unwind(this.#releases, Date.now() + graceMs);
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** A `{ pool }` task run by another pattern becomes a function task on that pool. */
  #runnable(task: TaskSpec): ProcessTask | FunctionTask {
    if (typeof task !== 'object' || task === null || !('pool' in task)) {
      return task as ProcessTask | FunctionTask;
    }
    const { pool: name, payload, timeoutMs } = task;
    const pools = this.pools;
    return {
      name: task.name ?? name,
      fn: (ctx) => pools.require(name).run(payload, { signal: ctx.signal, timeoutMs }),
    };
  }
}

/** Runs the release steps last-in first-out; every step runs, the first error is thrown. */
async function unwind(releases: Release[], deadline: number): Promise<void> {
  let first: { error: unknown } | undefined;
  while (releases.length > 0) {
    const release = releases.pop()!;
    try {
      await release(deadline);
    } catch (error) {
      first ??= { error };
    }
  }
  if (first) throw first.error;
}

function left(deadline: number): number {
  return Math.max(0, deadline - Date.now());
}

async function openYardStore(url: string | undefined, home: string): Promise<RunStore> {
  if (url === undefined || url === 'sqlite:') {
    return new SqliteStore({ path: join(home, 'runyard.db') });
  }
  return openStore(url);
}

const optionKeys = ['home', 'store', 'concurrency', 'resources', 'retentionDays', 'maintenance'];
const resourceKeys = ['maxCpuPercent', 'maxMemoryPercent', 'admissionTimeoutMs', 'monitor'];

function validateOptions(options: RunyardOptions): void {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, optionKeys);
  checkOptionalString('home', options.home);
  if (options.home === '') throw invalid('home', 'a non-empty path', options.home);
  checkOptionalString('store', options.store);
  checkPositiveInteger('concurrency', options.concurrency);
  if (options.resources !== false) {
    checkPlainObject('resources', options.resources);
    checkKnownKeys('resources', options.resources, resourceKeys);
  }
  checkNonNegativeNumber('retentionDays', options.retentionDays);
  checkBoolean('maintenance', options.maintenance);
}
