/*
 * `ThreadPool` options, checked, their defaults, and where the thread entry file is.
 */
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import { basename, extname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ResourceLimits, TransferListItem } from 'node:worker_threads';
import {
  checkAbortSignal,
  checkArgString,
  checkCountOrInfinity,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkOptionalString,
  checkPlainObject,
  checkPositiveInteger,
  invalid,
} from '../../core/validate.js';
import type { RunStore } from '../../store/run-store.js';
import { checkRunStore } from '../../store/run-store.js';

export interface ThreadPoolOptions {
  /**
   * The module whose exports are the tasks, `(payload, { signal }) => result`: a path
   * (relative to the working directory), a `file:` URL string or a `URL`.
   */
  readonly filename: string | URL;
  /** The export that runs each task, as piscina's `name`; `run()` may name another. @default 'default' */
  readonly name?: string;
  /** Threads kept even when idle (they never hold the process open). @default 1 */
  readonly minThreads?: number;
  /** Threads at most. @default os.availableParallelism(), and at least `minThreads` */
  readonly maxThreads?: number;
  /** A thread above `minThreads` idle this long ends. @default 10_000 */
  readonly idleTimeoutMs?: number;
  /**
   * Tasks allowed to wait for a thread, beyond those the threads can take now; one more is
   * rejected with `ERR_QUEUE_FULL`. @default Infinity
   */
  readonly maxQueue?: number;
  /**
   * Batches one thread holds at once. Small synchronous tasks travel to a thread up to 32 to a
   * batch (the size adapts to keep a batch near a millisecond); other tasks one to a batch.
   * A thread starts its next batch without a round trip to the pool, and async tasks
   * interleave up to this many. 1 hands a thread more only when it is done, which suits long
   * tasks of uneven length. @default 4
   */
  readonly concurrentTasksPerWorker?: number;
  /**
   * How long a cancelled (or timed out) task has, once its signal is aborted, to settle before
   * its thread is terminated and replaced. @default 1000
   */
  readonly cancelGraceMs?: number;
  /**
   * Memory limits of each thread (`worker_threads` `resourceLimits`); a thread that passes
   * them dies, and its task rejects with `ERR_WORKER_CRASHED`. @default undefined: Node's own
   */
  readonly resourceLimits?: ResourceLimits;
  /** Record every task as a run (`pattern: 'pooled'`). @default undefined: no records */
  readonly store?: RunStore;
  /**
   * The pool's name, in error messages and as the name of its runs. (Earlier versions took
   * this as `name`, which now selects the export, as in piscina.)
   * @default the file's name without extension
   */
  readonly runName?: string;
}

export interface ThreadPoolRunOptions {
  /**
   * Aborting it cancels the task: a waiting one never starts; a running one sees its own
   * `signal` aborted and has `cancelGraceMs` to settle before its thread is terminated.
   */
  readonly signal?: AbortSignal;
  /**
   * Time limit from the task's start on its thread (waiting for a thread does not count); then
   * the task is cancelled as by `signal` and the run rejects with `ERR_TIMEOUT`. 0: none.
   * @default 0
   */
  readonly timeoutMs?: number;
  /** The export that runs this task, as piscina's per-run `name`. @default the pool's `name` */
  readonly name?: string;
  /** The run's name in the store. @default the pool's `runName` */
  readonly runName?: string;
  /** The run's id in the store (it must be unique). @default a new UUIDv7, with a `store` only */
  readonly id?: string;
  /**
   * Objects of the payload to move to the thread rather than copy, as in piscina and
   * `postMessage()`: an `ArrayBuffer` listed here is detached from the caller's side. A task
   * with a `transferList` goes to a thread alone and is never handed to a second thread.
   */
  readonly transferList?: readonly TransferListItem[];
}

export interface ThreadPoolStats {
  /** Live threads: starting, idle or busy. */
  threads: number;
  /** Threads with no task. */
  idleThreads: number;
  /** Tasks handed to threads and not settled. */
  running: number;
  /** Tasks waiting for a thread. */
  queued: number;
  /** Tasks that resolved. */
  completed: number;
  /** Tasks that rejected once accepted: task errors, crashes, timeouts, cancels, close. */
  failed: number;
  /** Threads that died under a task, or were terminated for one that ignored its signal. */
  restarts: number;
  /**
   * Share of the threads' capacity spent running tasks since the pool started, 0–1, as
   * piscina estimates it (mean run time × tasks ÷ (age × `maxThreads`)).
   */
  utilization: number;
}

export interface ThreadPoolCloseOptions {
  /**
   * Cancel the running tasks too (their signals are aborted, their threads terminated after
   * `cancelGraceMs`); they reject with `ERR_CANCELLED`. @default false: they finish
   */
  readonly force?: boolean;
}

/** The documented defaults, for docs tests. */
export const threadPoolDefaults = {
  minThreads: 1,
  idleTimeoutMs: 10_000,
  concurrentTasksPerWorker: 4,
  cancelGraceMs: 1000,
  /** How long a terminated thread may take to end before its tasks settle without it. */
  terminateTimeoutMs: 1000,
  /** A task whose thread died before the task started is handed to another thread this often. */
  maxRestarts: 3,
  /** Small synchronous tasks sent to a thread in one batch, at most. */
  maxBatch: 32,
} as const;

/** A pool's options once checked, with every default applied. */
export interface ThreadPoolSettings {
  /** Absolute path of the task module. */
  readonly filename: string;
  /** The export that runs a task unless `run()` names another. */
  readonly exportName: string;
  readonly minThreads: number;
  readonly maxThreads: number;
  readonly idleTimeoutMs: number;
  readonly maxQueue: number;
  readonly concurrentTasksPerWorker: number;
  readonly cancelGraceMs: number;
  readonly resourceLimits: ResourceLimits | undefined;
  readonly store: RunStore | undefined;
  /** The pool's name, and its runs' unless `run()` gives one. */
  readonly runName: string;
}

const optionKeys = [
  'filename',
  'name',
  'minThreads',
  'maxThreads',
  'idleTimeoutMs',
  'maxQueue',
  'concurrentTasksPerWorker',
  'cancelGraceMs',
  'resourceLimits',
  'store',
  'runName',
] as const;
const resourceLimitKeys = [
  'maxYoungGenerationSizeMb',
  'maxOldGenerationSizeMb',
  'codeRangeSizeMb',
  'stackSizeMb',
] as const;
const runOptionKeys = ['signal', 'timeoutMs', 'name', 'runName', 'id', 'transferList'] as const;
const closeOptionKeys = ['force'] as const;

export function threadPoolSettings(options: ThreadPoolOptions): ThreadPoolSettings {
  if (options === undefined) throw invalid('options', 'an object', options);
  checkPlainObject('options', options);
  checkKnownKeys('options', options, optionKeys);
  const filename = taskPath(options.filename);
  if (options.name !== undefined) checkArgString('name', options.name, { nonEmpty: true });
  checkCount('minThreads', options.minThreads);
  checkPositiveInteger('maxThreads', options.maxThreads);
  checkNonNegativeNumber('idleTimeoutMs', options.idleTimeoutMs);
  checkCountOrInfinity('maxQueue', options.maxQueue);
  checkPositiveInteger('concurrentTasksPerWorker', options.concurrentTasksPerWorker);
  checkNonNegativeNumber('cancelGraceMs', options.cancelGraceMs);
  checkPlainObject('resourceLimits', options.resourceLimits);
  checkKnownKeys('resourceLimits', options.resourceLimits, resourceLimitKeys);
  checkRunStore('store', options.store);
  const store = options.store;
  if (options.runName !== undefined) {
    checkArgString('runName', options.runName, { nonEmpty: true });
  }
  const minThreads = options.minThreads ?? threadPoolDefaults.minThreads;
  if (options.maxThreads !== undefined && options.maxThreads < minThreads) {
    throw invalid('maxThreads', `at least \`minThreads\` (${minThreads})`, options.maxThreads);
  }
  return {
    filename,
    exportName: options.name ?? 'default',
    minThreads,
    maxThreads: options.maxThreads ?? Math.max(os.availableParallelism(), minThreads),
    idleTimeoutMs: options.idleTimeoutMs ?? threadPoolDefaults.idleTimeoutMs,
    maxQueue: options.maxQueue ?? Number.POSITIVE_INFINITY,
    concurrentTasksPerWorker:
      options.concurrentTasksPerWorker ?? threadPoolDefaults.concurrentTasksPerWorker,
    cancelGraceMs: options.cancelGraceMs ?? threadPoolDefaults.cancelGraceMs,
    resourceLimits:
      options.resourceLimits === undefined ? undefined : { ...options.resourceLimits },
    store,
    runName: options.runName ?? basename(filename, extname(filename)),
  };
}

export function checkRunOptions(options: ThreadPoolRunOptions): void {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, runOptionKeys);
  checkAbortSignal('signal', options.signal);
  checkNonNegativeNumber('timeoutMs', options.timeoutMs);
  if (options.name !== undefined) checkArgString('name', options.name, { nonEmpty: true });
  if (options.runName !== undefined) {
    checkArgString('runName', options.runName, { nonEmpty: true });
  }
  checkOptionalString('id', options.id);
  if (options.transferList !== undefined && !Array.isArray(options.transferList)) {
    throw invalid('transferList', 'an array', options.transferList);
  }
}

export function checkCloseOptions(options: ThreadPoolCloseOptions): void {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, closeOptionKeys);
  if (options.force !== undefined && typeof options.force !== 'boolean') {
    throw invalid('force', 'a boolean', options.force);
  }
}

/** The task module as an absolute path; it must exist, as a thread could not load it otherwise. */
function taskPath(filename: unknown): string {
  let path: string;
  if (filename instanceof URL || (typeof filename === 'string' && filename.startsWith('file:'))) {
    const url = new URL(filename);
    if (url.protocol !== 'file:') throw invalid('filename', 'a path or a file: URL', filename);
    path = fileURLToPath(url);
  } else {
    checkArgString('filename', filename, { nonEmpty: true });
    path = resolve(filename as string);
  }
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw invalid('filename', 'an existing file', filename instanceof URL ? filename.href : path);
  }
  return path;
}

/**
 * The compiled worker wrapper. Beside this module in `dist/`; when the pool itself runs from
 * the TypeScript sources (the test suite), a thread cannot load the `.ts` wrapper, so the one
 * compiled into `dist/` is used (`npm test` builds first).
 */
export function threadWorkerPath(): string {
  const beside = fileURLToPath(new URL('./thread-worker.js', import.meta.url));
  if (existsSync(beside)) return beside;
  const built = fileURLToPath(
    new URL('../../../dist/pools/thread/thread-worker.js', import.meta.url),
  );
  if (existsSync(built)) return built;
  throw new Error(
    `runyard's thread worker is missing (looked for ${beside}): run \`npm run build\``,
  );
}

export function moduleUrl(path: string): string {
  return pathToFileURL(path).href;
}

function checkCount(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw invalid(field, 'a non-negative integer', value);
  }
}
