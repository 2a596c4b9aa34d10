/*
 * Option types of `run()` and `start()`, their known keys, defaults and `validateRunOptions()`.
 * Kept apart so every pattern and the executor check tasks against one set of keys and defaults.
 */
import type { Readable } from 'node:stream';
import type { FunctionTask, OutputLine, ProcessTask } from '../core/types.js';
import {
  checkAbortSignal,
  checkArgString,
  checkBoolean,
  checkFunction,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkOptionalString,
  checkPlainObject,
  checkPositiveInteger,
  invalid,
} from '../core/validate.js';
import { isReadable } from '../process/is-readable.js';

/**
 * Options of `run()`: one program or function, waited for to the end. A key not listed here is
 * `ERR_INVALID` naming the nearest known one (`timeout` → `timeoutMs`).
 */
export interface RunOptions {
  /** Working directory of the child. @default process.cwd() */
  readonly cwd?: string;
  /**
   * Variables for the child; `undefined` removes one. A Python program also gets
   * `PYTHONUNBUFFERED=1` (so its output is live) unless this sets or removes it.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Merge `env` into `process.env` rather than replace it. @default true */
  readonly extendEnv?: boolean;
  /**
   * The child's stdin. A string or bytes are written, then stdin is closed. A `Readable` (such
   * as `process.stdin`) is piped in and stdin is closed when it ends; when the child exits first
   * it is unpiped, never destroyed or closed. Without it stdin is `/dev/null`.
   */
  readonly input?: string | Uint8Array | Readable;
  /** Run through the system shell. Arguments are then shell text: never pass user input. @default false */
  readonly shell?: boolean;
  /** End the run (status `timed_out`) after this long, any length. 0: never. @default 0 */
  readonly timeoutMs?: number;
  /** Aborting it cancels the run (status `cancelled`). */
  readonly signal?: AbortSignal;
  /**
   * Time between SIGTERM to the process tree and SIGKILL; for a function task, the time it
   * gets to notice its aborted signal before the run settles without it. @default 5000
   */
  readonly killGraceMs?: number;
  /**
   * Bytes of each stream kept in `stdout`/`stderr`. Past it the run goes on, the newest part is
   * kept and `output.truncated` is set; totals stay exact. @default 67_108_864 (64 MiB) for
   * `run()`, 1_048_576 (1 MiB) for `start()`, whose full output is in its `OutputLog`
   */
  readonly maxBufferBytes?: number;
  /** A longer line is delivered in pieces of at most this many bytes. @default 1_048_576 */
  readonly maxLineBytes?: number;
  /** Called with every line as it is read, stdout and stderr in one sequence. */
  readonly onLine?: (line: OutputLine) => void;
  /**
   * Called with the raw bytes of each read from the child's stdout or stderr, in order, before
   * they are split into lines (a function task's `ctx.log()` lines come as UTF-8 with `\n`).
   * The chunk is runyard's own buffer: copy it to keep it, never modify it.
   */
  readonly onData?: (chunk: Uint8Array, stream: 'stdout' | 'stderr') => void;
  /** The run's name. @default the command's basename, or the function's name */
  readonly name?: string;
}

/** Options of `start()`: a run to watch while it goes on. */
export interface StartOptions extends RunOptions {
  /** Lines kept in memory for `lines()` and late readers. @default 10_000 */
  readonly tailLines?: number;
  /** Write every line to `<logDir>/<runId>.log`. */
  readonly logDir?: string;
  /** Write every line to this file (wins over `logDir`). */
  readonly logFile?: string;
}

export const defaults = {
  killGraceMs: 5000,
  runMaxBufferBytes: 64 * 1024 * 1024,
  startMaxBufferBytes: 1024 * 1024,
  maxLineBytes: 1024 * 1024,
  tailLines: 10_000,
} as const;

/** Checks a command, its arguments and the options shared by every kind of run. */
export function validateCommand(command: unknown, args: unknown): void {
  checkArgString('command', command, { nonEmpty: true });
  if (args === undefined) return;
  if (!Array.isArray(args)) throw invalid('args', 'an array of strings', args);
  for (let i = 0; i < args.length; i++) checkArgString(`args[${i}]`, args[i]);
}

/** The options `run()` knows; anything else is a mistake (execa's `timeout`, say). */
export const runOptionKeys: readonly string[] = [
  'cwd',
  'env',
  'extendEnv',
  'input',
  'shell',
  'timeoutMs',
  'signal',
  'killGraceMs',
  'maxBufferBytes',
  'maxLineBytes',
  'onLine',
  'onData',
  'name',
];

/** The options `start()` knows: those of `run()` and where its output goes. */
export const startOptionKeys: readonly string[] = [
  ...runOptionKeys,
  'tailLines',
  'logDir',
  'logFile',
];

/** The fields of a `{ command }` task. */
export const processTaskKeys: readonly string[] = [
  'command',
  'args',
  'cwd',
  'env',
  'input',
  'shell',
  'name',
  'timeoutMs',
  'killGraceMs',
];

/** The fields of a `{ fn }` task. */
export const functionTaskKeys: readonly string[] = ['fn', 'name', 'timeoutMs'];

/** Checks an options object of `run()` (or, with `startOptionKeys`, of `start()`). */
export function validateRunOptions(
  options: unknown,
  knownKeys: readonly string[] = startOptionKeys,
): void {
  if (options === undefined) return;
  checkPlainObject('options', options);
  checkKnownKeys('options', options, knownKeys);
  validateFields(options as Record<string, unknown>);
}

/** Checks the values of the fields an options object or a task has. */
export function validateFields(o: Readonly<Record<string, unknown>>): void {
  checkOptionalString('cwd', o.cwd);
  checkPlainObject('env', o.env);
  if (o.env !== undefined) {
    for (const [key, value] of Object.entries(o.env as object)) {
      if (key.includes('=') || key.includes('\0') || key === '') {
        throw invalid(`env key`, 'a name without `=` or NUL bytes', key);
      }
      if (value !== undefined) checkArgString(`env.${key}`, value);
    }
  }
  checkBoolean('extendEnv', o.extendEnv);
  if (
    o.input !== undefined &&
    typeof o.input !== 'string' &&
    !(o.input instanceof Uint8Array) &&
    !isReadable(o.input)
  ) {
    throw invalid('input', 'a string, a Uint8Array or a Readable', o.input);
  }
  checkBoolean('shell', o.shell);
  checkNonNegativeNumber('timeoutMs', o.timeoutMs);
  checkAbortSignal('signal', o.signal);
  checkNonNegativeNumber('killGraceMs', o.killGraceMs);
  if (o.maxBufferBytes !== undefined && o.maxBufferBytes !== 0) {
    checkPositiveInteger('maxBufferBytes', o.maxBufferBytes);
  }
  checkPositiveInteger('maxLineBytes', o.maxLineBytes);
  checkFunction('onLine', o.onLine);
  checkFunction('onData', o.onData);
  checkOptionalString('name', o.name);
  checkPositiveInteger('tailLines', o.tailLines);
  checkOptionalString('logDir', o.logDir);
  checkOptionalString('logFile', o.logFile);
}

/**
 * Accepts both `(command, args, options)` and `(task, options)`, and validates either: a
 * field or an option it does not know is `ERR_INVALID` naming the nearest known one.
 * `optionKeys` are the options the caller takes. @default startOptionKeys
 */
export function normalizeTask<O extends RunOptions>(
  commandOrTask: string | ProcessTask | FunctionTask,
  argsOrOptions: readonly string[] | O | undefined,
  maybeOptions: O | undefined,
  optionKeys: readonly string[] = startOptionKeys,
): [ProcessTask | FunctionTask, O | undefined] {
  if (typeof commandOrTask === 'string') {
    validateCommand(commandOrTask, argsOrOptions);
    validateRunOptions(maybeOptions, optionKeys);
    const args = (argsOrOptions as readonly string[] | undefined) ?? [];
    return [{ command: commandOrTask, args: [...args] }, maybeOptions];
  }
  const options = argsOrOptions as O | undefined;
  validateRunOptions(options, optionKeys);
  if (typeof commandOrTask === 'object' && commandOrTask !== null) {
    if ('fn' in commandOrTask) {
      if (typeof commandOrTask.fn !== 'function')
        throw invalid('task.fn', 'a function', commandOrTask.fn);
      checkKnownKeys('task', commandOrTask, functionTaskKeys);
      checkOptionalString('name', commandOrTask.name);
      checkNonNegativeNumber('timeoutMs', commandOrTask.timeoutMs);
      return [commandOrTask, options];
    }
    if ('command' in commandOrTask) {
      checkKnownKeys('task', commandOrTask, processTaskKeys);
      validateCommand(commandOrTask.command, commandOrTask.args);
      validateFields(commandOrTask as unknown as Record<string, unknown>);
      const input = commandOrTask.input;
      // A task is data that can be recorded and run again: a stream is an option, not a task field.
      if (input !== undefined && typeof input !== 'string' && !(input instanceof Uint8Array)) {
        throw invalid('task.input', 'a string or a Uint8Array', input);
      }
      return [commandOrTask, options];
    }
  }
  throw invalid('task', 'a command string, `{ command }` or `{ fn }`', commandOrTask);
}
