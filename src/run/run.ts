/*
 * `run()`, pattern 1: runs one program or function to the end; `normalizeTask()` checks its input.
 * Separate from `start.ts` because it waits for the result and keeps no live `OutputLog`.
 */
import type { FunctionTask, ProcessTask, RunResult } from '../core/types.js';
import {
  checkKnownKeys,
  checkNonNegativeNumber,
  checkOptionalString,
  invalid,
} from '../core/validate.js';
import { executeTask } from './execute-task.js';
import {
  defaults,
  functionTaskKeys,
  processTaskKeys,
  type RunOptions,
  runOptionKeys,
  startOptionKeys,
  validateCommand,
  validateFields,
  validateRunOptions,
} from './task-options.js';

/**
 * Runs a program (or a function) to the end: pattern 1, simple execution.
 *
 * Resolves for every outcome once the program started — a non-zero exit, a timeout or a
 * cancel is a result with `ok: false`, not a rejection. Rejects only with `RunyardError`
 * `ERR_SPAWN` when it could not start, or `ERR_INVALID` for bad options.
 *
 * @example
 * const result = await run('ffprobe', ['-v', 'error', 'movie.mp4'], { timeoutMs: 30_000 });
 * if (!result.ok) console.error(result.error?.message);
 */
export function run(
  command: string,
  args?: readonly string[],
  options?: RunOptions,
): Promise<RunResult>;
export function run(task: ProcessTask | FunctionTask, options?: RunOptions): Promise<RunResult>;
export async function run(
  commandOrTask: string | ProcessTask | FunctionTask,
  argsOrOptions?: readonly string[] | RunOptions,
  maybeOptions?: RunOptions,
): Promise<RunResult> {
  const [task, options] = normalizeTask(commandOrTask, argsOrOptions, maybeOptions, runOptionKeys);
  return executeTask(task, {
    ...options,
    pattern: 'simple',
    captureBytes: options?.maxBufferBytes ?? defaults.runMaxBufferBytes,
  }).result;
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
