/*
 * `Executor` option types and checks: `executorSettings()`, `checkSubmit()`, `checkRunAll()`.
 * Kept apart so `executor.ts` gets validated settings with defaults applied and holds no checks.
 */
import os from 'node:os';
import { isRunyardError, RunyardError } from '../core/errors.js';
import type { FunctionTask, ProcessTask, RunResult } from '../core/types.js';
import {
  checkAbortSignal,
  checkArgString,
  checkBoolean,
  checkCountOrInfinity,
  checkFiniteNumber,
  checkFunction,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkOptionalString,
  checkPlainObject,
  checkPositiveInteger,
  invalid,
} from '../core/validate.js';
import { defaults, functionTaskKeys, normalizeTask, processTaskKeys } from '../run/task-options.js';
import type { RunStore } from '../store/run-store.js';
import { ResourceMonitor } from './resource-monitor.js';

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
  /** The first task that fails or times out cancels the rest. @default false */
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

/** What `RunAllOptions.onProgress` is called with. */
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

export interface CloseOptions {
  /** Cancel the running tasks too, after `graceMs`. @default false */
  readonly cancelRunning?: boolean;
  /**
   * How long running tasks may go on before they are cancelled.
   * @default 0 with `cancelRunning`, otherwise they are waited for
   */
  readonly graceMs?: number;
}

/** The documented defaults of `ResourceLimits` that belong to the executor, for docs tests. */
export const executorDefaults = { admissionTimeoutMs: 60_000 } as const;

const executorOptionKeys = [
  'concurrency',
  'resources',
  'maxQueue',
  'store',
  'logDir',
  'maxBufferBytes',
] as const;
const resourceLimitKeys = [
  'maxCpuPercent',
  'maxMemoryPercent',
  'admissionTimeoutMs',
  'monitor',
] as const;
const submitOptionKeys = ['priority', 'signal', 'parentId', 'name', 'labels', 'id'] as const;
const runAllOptionKeys = ['failFast', 'onProgress', 'signal', 'priority', 'name'] as const;

/**
 * Rejects keys a `{ command }` or `{ fn }` task does not have (`{ command, timeout: 5 }`), so a
 * misspelt field is an error rather than a silent no-op.
 */
export function checkTaskKeys(field: string, task: unknown): void {
  if (typeof task !== 'object' || task === null) return;
  if ('fn' in task) checkKnownKeys(field, task, functionTaskKeys);
  else if ('command' in task) checkKnownKeys(field, task, processTaskKeys);
}

/** An executor's options once checked, with every default applied. */
export interface ExecutorSettings {
  readonly concurrency: number;
  readonly maxQueue: number;
  readonly store: RunStore | undefined;
  readonly logDir: string | undefined;
  /** Bytes of each stream kept in a result. */
  readonly captureBytes: number;
  /** Undefined with `resources: false`: tasks never wait for CPU or memory then. */
  readonly monitor: ResourceMonitor | undefined;
  /** The monitor was made for this executor, so the executor closes it. */
  readonly ownsMonitor: boolean;
  readonly admissionTimeoutMs: number;
}

/** Checks an `Executor`'s options and applies their defaults, in this one place. */
export function executorSettings(options: ExecutorOptions): ExecutorSettings {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, executorOptionKeys);
  checkPositiveInteger('concurrency', options.concurrency);
  checkCountOrInfinity('maxQueue', options.maxQueue);
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

  const resources = options.resources;
  let limits: ResourceLimits;
  if (resources === false) limits = {};
  else if (resources instanceof ResourceMonitor) limits = { monitor: resources };
  else {
    checkPlainObject('resources', resources);
    checkKnownKeys('resources', resources, resourceLimitKeys);
    limits = resources ?? {};
    checkCountOrInfinity('resources.admissionTimeoutMs', limits.admissionTimeoutMs);
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

  return {
    concurrency: options.concurrency ?? os.availableParallelism(),
    maxQueue: options.maxQueue ?? Number.POSITIVE_INFINITY,
    store: options.store,
    logDir: options.logDir,
    captureBytes:
      options.maxBufferBytes ??
      (options.logDir === undefined ? defaults.runMaxBufferBytes : defaults.startMaxBufferBytes),
    // Made last, once every option passed: a monitor starts sampling as soon as it exists.
    monitor:
      resources === false
        ? undefined
        : (limits.monitor ??
          new ResourceMonitor({
            maxCpuPercent: limits.maxCpuPercent,
            maxMemoryPercent: limits.maxMemoryPercent,
          })),
    ownsMonitor: resources !== false && limits.monitor === undefined,
    admissionTimeoutMs: limits.admissionTimeoutMs ?? executorDefaults.admissionTimeoutMs,
  };
}

/** A `{ command }` or `{ fn }` task, normalized; `field` names it in errors (`tasks[3]`). */
function checkTask(task: unknown, field: string): ProcessTask | FunctionTask {
  if (typeof task !== 'object' || task === null || !('fn' in task || 'command' in task)) {
    const expected =
      typeof task === 'object' && task !== null && 'pool' in task
        ? 'a `{ command }` or `{ fn }` task (`{ pool }` tasks run on their pool, not on an Executor)'
        : 'a `{ command }` or `{ fn }` task';
    throw invalid(field, expected, task);
  }
  checkTaskKeys(field, task);
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

/** Checks `submit()`'s arguments; returns the task, normalized. */
export function checkSubmit(
  task: unknown,
  options: SubmitOptions | undefined,
): ProcessTask | FunctionTask {
  const checked = checkTask(task, 'task');
  if (options === undefined) return checked;
  checkPlainObject('options', options);
  checkKnownKeys('options', options, submitOptionKeys);
  checkFiniteNumber('priority', options.priority);
  checkAbortSignal('signal', options.signal);
  checkOptionalString('parentId', options.parentId);
  checkOptionalString('name', options.name);
  if (options.id !== undefined) checkArgString('id', options.id, { nonEmpty: true });
  checkPlainObject('labels', options.labels);
  for (const [key, value] of Object.entries(options.labels ?? {})) {
    if (typeof value !== 'string') throw invalid(`labels.${key}`, 'a string', value);
  }
  return checked;
}

/** Checks `runAll()`'s arguments; returns the tasks, normalized, in input order. */
export function checkRunAll(
  tasks: unknown,
  options: RunAllOptions | undefined,
): (ProcessTask | FunctionTask)[] {
  if (!Array.isArray(tasks)) throw invalid('tasks', 'an array of tasks', tasks);
  if (options !== undefined) {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, runAllOptionKeys);
    checkBoolean('failFast', options.failFast);
    checkFunction('onProgress', options.onProgress);
    checkAbortSignal('signal', options.signal);
    checkFiniteNumber('priority', options.priority);
    checkOptionalString('name', options.name);
  }
  const checked: (ProcessTask | FunctionTask)[] = [];
  for (let i = 0; i < tasks.length; i++) checked.push(checkTask(tasks[i], `tasks[${i}]`));
  return checked;
}

export function checkCloseOptions(options: CloseOptions): void {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, ['cancelRunning', 'graceMs']);
  checkBoolean('cancelRunning', options.cancelRunning);
  checkNonNegativeNumber('graceMs', options.graceMs);
}
