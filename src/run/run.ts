/*
 * `run()`, pattern 1: runs one program or function to the end.
 * Separate from `start.ts` because it waits for the result and keeps no live `OutputLog`.
 */
import type { FunctionTask, ProcessTask, RunResult } from '../core/types.js';
import { executeTask } from './execute-task.js';
import { defaults, normalizeTask, type RunOptions, runOptionKeys } from './task-options.js';

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
