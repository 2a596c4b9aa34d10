import type { OutputLine } from '../core/types.js';
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

/** Options of `run()`: one program or function, waited for to the end. */
export interface RunOptions {
  /** Working directory of the child. @default process.cwd() */
  readonly cwd?: string;
  /** Variables for the child; `undefined` removes one. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Merge `env` into `process.env` rather than replace it. @default true */
  readonly extendEnv?: boolean;
  /** Written to the child's stdin, which is then closed. Without it stdin is `/dev/null`. */
  readonly input?: string | Uint8Array;
  /** Run through the system shell. Arguments are then shell text: never pass user input. @default false */
  readonly shell?: boolean;
  /** End the run (status `timed_out`) after this long. 0: never. @default 0 */
  readonly timeoutMs?: number;
  /** Aborting it cancels the run (status `cancelled`). */
  readonly signal?: AbortSignal;
  /** Time between SIGTERM to the process tree and SIGKILL. @default 5000 */
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

export function validateRunOptions(options: unknown): void {
  if (options === undefined) return;
  checkPlainObject('options', options);
  const o = options as Record<string, unknown>;
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
  if (o.input !== undefined && typeof o.input !== 'string' && !(o.input instanceof Uint8Array)) {
    throw invalid('input', 'a string or a Uint8Array', o.input);
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
  checkOptionalString('name', o.name);
  checkPositiveInteger('tailLines', o.tailLines);
  checkOptionalString('logDir', o.logDir);
  checkOptionalString('logFile', o.logFile);
}
