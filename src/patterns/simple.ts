import type { FunctionTask, ProcessTask, RunResult } from '../core/types.js';
import { invalid } from '../core/validate.js';
import { executeTask } from './execute-task.js';
import { defaults, type RunOptions, validateCommand, validateRunOptions } from './task-options.js';

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
  const [task, options] = normalizeTask(commandOrTask, argsOrOptions, maybeOptions);
  return executeTask(task, {
    ...options,
    pattern: 'simple',
    captureBytes: options?.maxBufferBytes ?? defaults.runMaxBufferBytes,
  }).result;
}

/** Accepts both `(command, args, options)` and `(task, options)`, and validates either. */
export function normalizeTask<O extends RunOptions>(
  commandOrTask: string | ProcessTask | FunctionTask,
  argsOrOptions: readonly string[] | O | undefined,
  maybeOptions: O | undefined,
): [ProcessTask | FunctionTask, O | undefined] {
  if (typeof commandOrTask === 'string') {
    validateCommand(commandOrTask, argsOrOptions);
    validateRunOptions(maybeOptions);
    const args = (argsOrOptions as readonly string[] | undefined) ?? [];
    return [{ command: commandOrTask, args: [...args] }, maybeOptions];
  }
  const options = argsOrOptions as O | undefined;
  validateRunOptions(options);
  if (typeof commandOrTask === 'object' && commandOrTask !== null) {
    if ('fn' in commandOrTask) {
      if (typeof commandOrTask.fn !== 'function')
        throw invalid('task.fn', 'a function', commandOrTask.fn);
      return [commandOrTask, options];
    }
    if ('command' in commandOrTask) {
      validateCommand(commandOrTask.command, commandOrTask.args);
      validateRunOptions({ ...commandOrTask, command: undefined, args: undefined });
      return [commandOrTask, options];
    }
  }
  throw invalid('task', 'a command string, `{ command }` or `{ fn }`', commandOrTask);
}
