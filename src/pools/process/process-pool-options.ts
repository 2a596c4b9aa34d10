/*
 * `ProcessPool` options, checked, their defaults, and the Python and Node helper presets.
 */
import os from 'node:os';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkArgString,
  checkCountOrInfinity,
  checkFunction,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkOptionalString,
  checkPlainObject,
  checkPositiveInteger,
  invalid,
} from '../../core/validate.js';
import type { RunStore } from '../../store/run-store.js';
import { checkRunStore } from '../../store/run-store.js';

export interface ProcessPoolOptions {
  /** The worker program; it must speak the protocol of `workers/PROTOCOL.md`. */
  readonly command: string;
  /** @default [] */
  readonly args?: readonly string[];
  /** The workers' working directory. @default process.cwd() */
  readonly cwd?: string;
  /** Added to `process.env` for the workers; `undefined` removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Worker processes at most; each runs one task at a time. @default os.availableParallelism() */
  readonly size?: number;
  /** A worker is replaced after this many tasks (whatever their outcome). @default Infinity */
  readonly maxTasksPerWorker?: number;
  /** A worker idle this long exits; 0 keeps idle workers for good. @default 30_000 */
  readonly idleTimeoutMs?: number;
  /** A worker that sends no ready line within this counts as a failed start. @default 30_000 */
  readonly startupTimeoutMs?: number;
  /**
   * Time limit of each task once a worker took it (waiting in the queue does not count); the
   * worker is then ended and replaced. `run()`'s `timeoutMs` overrides it; 0: none.
   * @default 0
   */
  readonly timeoutMs?: number;
  /** Tasks allowed to wait for a worker; one more is rejected with `ERR_QUEUE_FULL`. @default Infinity */
  readonly maxQueue?: number;
  /** Between SIGTERM and SIGKILL when a worker is ended. @default 5000 */
  readonly killGraceMs?: number;
  /**
   * The longest protocol line, in bytes, either way. A task whose payload makes a longer line
   * rejects with `ERR_INVALID` before it is sent; a worker that sends a longer line (a result,
   * a log) fails the task it holds with `ERR_TASK_FAILED` and is replaced.
   * @default 67_108_864 (64 MiB)
   */
  readonly maxMessageBytes?: number;
  /** Record every task as a run (`pattern: 'pooled'`). @default undefined: no records */
  readonly store?: RunStore;
  /** The pool's name, in error messages and as the name of its runs. @default the command's basename */
  readonly name?: string;
  /** Receives each line a worker writes on stderr (the newest 8 KiB also go into crash errors). */
  readonly onStderr?: (line: string, pid: number) => void;
}

/** Options of `ProcessPool.python()`: those of the pool, with the helper as the command. */
export interface PythonPoolOptions extends Omit<ProcessPoolOptions, 'command' | 'args' | 'name'> {
  /**
   * `package.module:function`, imported once per worker (the working directory is on
   * `sys.path`); `function(payload)` is called for each task, `def` or `async def`.
   */
  readonly handler: string;
  /**
   * The interpreter. On a machine with pyenv, `python3` on PATH is a shim that costs 80–90 ms
   * a start against ~10 ms for `/usr/bin/python3`: name the interpreter when starts matter.
   * @default 'python3'
   */
  readonly python?: string;
  /** @default the handler */
  readonly name?: string;
}

/** Options of `ProcessPool.node()`: those of the pool, with the helper as the command. */
export interface NodePoolOptions extends Omit<ProcessPoolOptions, 'command' | 'args' | 'name'> {
  /**
   * `./file.mjs#exportName` (relative to `cwd`, absolute, a file: URL or a package name); the
   * default export without `#name`. The export is called with each task's payload.
   */
  readonly handler: string;
  /** The Node.js binary. @default process.execPath */
  readonly node?: string;
  /** @default the handler */
  readonly name?: string;
}

export interface ProcessPoolRunOptions {
  /** Aborting it cancels the task: a queued one never starts, a running one's worker is ended and replaced. */
  readonly signal?: AbortSignal;
  /** Overrides the pool's `timeoutMs` for this task; 0: none. */
  readonly timeoutMs?: number;
  /** Receives the task's `log` lines (what the handler printed). */
  readonly onLog?: (line: string) => void;
}

export interface ProcessPoolStats {
  /** Worker processes counted against `size`: starting, idle or busy. */
  workers: number;
  starting: number;
  idle: number;
  busy: number;
  /** Tasks waiting for a worker. */
  queued: number;
  /** Tasks that resolved. */
  completed: number;
  /** Tasks that rejected once accepted: handler errors, crashes, timeouts, cancels, close. */
  failed: number;
  /**
   * Workers started to replace one that crashed, failed to start, broke the protocol, or was
   * ended for a timeout or a cancel. Recycling (`maxTasksPerWorker`) and idle exits are not counted.
   */
  restarts: number;
}

/** The documented defaults, for docs tests. */
export const processPoolDefaults = {
  idleTimeoutMs: 30_000,
  startupTimeoutMs: 30_000,
  killGraceMs: 5000,
  /** The first restart after a failed start waits this long... */
  restartBackoffMs: 100,
  /** ...doubling after each further failed start, up to this. */
  maxRestartBackoffMs: 5000,
  /** Failed starts in a row (none ready in between) that put the pool in its failed state. */
  maxStartFailures: 3,
  /** Bytes of each worker's stderr kept for error messages. */
  stderrTailBytes: 8192,
  maxMessageBytes: 64 * 1024 * 1024,
  /** Times a task is handed to another worker because the one it was given had died before it could read it. */
  maxDeliveries: 3,
} as const;

const poolOptionKeys = [
  'command',
  'args',
  'cwd',
  'env',
  'size',
  'maxTasksPerWorker',
  'idleTimeoutMs',
  'startupTimeoutMs',
  'timeoutMs',
  'maxQueue',
  'killGraceMs',
  'maxMessageBytes',
  'store',
  'name',
  'onStderr',
] as const;
/** The options of `ProcessPool.python()` and `ProcessPool.node()`: no `command` or `args`. */
const helperOptionKeys = poolOptionKeys.filter((key) => key !== 'command' && key !== 'args');

/** The shipped worker helpers, for a `ProcessPool` built by hand around them. */
export const processPoolHelpers = {
  python: fileURLToPath(new URL('../../../workers/python/runyard_worker.py', import.meta.url)),
  node: fileURLToPath(new URL('../../../workers/node/runyard-worker.mjs', import.meta.url)),
} as const;

/** A pool's options once checked, with every default applied. */
export interface ProcessPoolSettings {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string | undefined;
  /** The workers' whole environment. */
  readonly env: Record<string, string>;
  readonly size: number;
  readonly maxTasksPerWorker: number;
  readonly idleTimeoutMs: number;
  readonly startupTimeoutMs: number;
  readonly timeoutMs: number;
  readonly maxQueue: number;
  readonly killGraceMs: number;
  readonly maxMessageBytes: number;
  readonly store: RunStore | undefined;
  readonly name: string;
  readonly onStderr: ((line: string, pid: number) => void) | undefined;
}

/** Checks a `ProcessPool`'s options and applies their defaults, in this one place. */
export function processPoolSettings(options: ProcessPoolOptions): ProcessPoolSettings {
  checkPlainObject('options', options);
  if (options === undefined) throw invalid('options', 'an object', options);
  checkKnownKeys('options', options, poolOptionKeys);
  checkArgString('command', options.command, { nonEmpty: true });
  if (options.args !== undefined && !Array.isArray(options.args)) {
    throw invalid('args', 'an array of strings', options.args);
  }
  options.args?.forEach((arg, i) => {
    checkArgString(`args[${i}]`, arg);
  });
  checkOptionalString('cwd', options.cwd);
  checkPlainObject('env', options.env);
  checkPositiveInteger('size', options.size);
  if (options.maxTasksPerWorker !== Number.POSITIVE_INFINITY) {
    checkPositiveInteger('maxTasksPerWorker', options.maxTasksPerWorker);
  }
  checkNonNegativeNumber('idleTimeoutMs', options.idleTimeoutMs);
  checkNonNegativeNumber('startupTimeoutMs', options.startupTimeoutMs);
  checkNonNegativeNumber('timeoutMs', options.timeoutMs);
  checkCountOrInfinity('maxQueue', options.maxQueue);
  checkNonNegativeNumber('killGraceMs', options.killGraceMs);
  checkPositiveInteger('maxMessageBytes', options.maxMessageBytes);
  checkRunStore('store', options.store);
  const store = options.store;
  if (options.name !== undefined) checkArgString('name', options.name, { nonEmpty: true });
  checkFunction('onStderr', options.onStderr);

  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  for (const key in env) if (env[key] === undefined) delete env[key];
  return {
    command: options.command,
    args: options.args ? [...options.args] : [],
    cwd: options.cwd,
    env: env as Record<string, string>,
    size: options.size ?? os.availableParallelism(),
    maxTasksPerWorker: options.maxTasksPerWorker ?? Number.POSITIVE_INFINITY,
    idleTimeoutMs: options.idleTimeoutMs ?? processPoolDefaults.idleTimeoutMs,
    startupTimeoutMs: options.startupTimeoutMs ?? processPoolDefaults.startupTimeoutMs,
    timeoutMs: options.timeoutMs ?? 0,
    maxQueue: options.maxQueue ?? Number.POSITIVE_INFINITY,
    killGraceMs: options.killGraceMs ?? processPoolDefaults.killGraceMs,
    maxMessageBytes: options.maxMessageBytes ?? processPoolDefaults.maxMessageBytes,
    store,
    name: options.name ?? basename(options.command),
    onStderr: options.onStderr,
  };
}

/** The generic options that run the Python helper with `options.handler`. */
export function pythonPoolOptions(options: PythonPoolOptions): ProcessPoolOptions {
  checkPlainObject('options', options);
  if (options === undefined) throw invalid('options', 'an object', options);
  checkKnownKeys('options', options, [...helperOptionKeys, 'handler', 'python']);
  const { handler, python, ...rest } = options;
  checkArgString('handler', handler, { nonEmpty: true });
  if (!/^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$/.test(handler)) {
    throw invalid('handler', 'a `package.module:function` reference', handler);
  }
  if (python !== undefined) checkArgString('python', python, { nonEmpty: true });
  return {
    ...rest,
    command: python ?? 'python3',
    args: [processPoolHelpers.python, handler],
    name: options.name ?? handler,
  };
}

/** The generic options that run the Node helper with `options.handler`. */
export function nodePoolOptions(options: NodePoolOptions): ProcessPoolOptions {
  checkPlainObject('options', options);
  if (options === undefined) throw invalid('options', 'an object', options);
  checkKnownKeys('options', options, [...helperOptionKeys, 'handler', 'node']);
  const { handler, node, ...rest } = options;
  checkArgString('handler', handler, { nonEmpty: true });
  if (handler.startsWith('#') || handler.endsWith('#')) {
    throw invalid('handler', 'a `./file.mjs#exportName` reference', handler);
  }
  if (node !== undefined) checkArgString('node', node, { nonEmpty: true });
  return {
    ...rest,
    command: node ?? process.execPath,
    args: [processPoolHelpers.node, handler],
    name: options.name ?? handler,
  };
}
