/*
 * `start()`, pattern 2: starts a long-running task and returns a `RunHandle` with live output.
 * Apart from `run.ts` because it returns at once and wires an `OutputLog` for following lines.
 */
import { join } from 'node:path';
import { newRunId } from '../core/ids.js';
import type { FunctionTask, OutputLine, ProcessTask, RunResult } from '../core/types.js';
import { OutputLog } from '../output/output-log.js';
import { closingOutput, executeTask } from './execute-task.js';
import { defaults, normalizeTask, type StartOptions } from './task-options.js';

/** A run that goes on while you watch it. */
export interface RunHandle {
  readonly id: string;
  /** `undefined` for a function task, or when the program could not start. */
  readonly pid: number | undefined;
  /**
   * Every line, numbered: the tail in memory, all of it in the log file when one is set.
   * `output.batches()` follows it in batches, undecoded: the fastest way to read it.
   */
  readonly output: OutputLog;
  /**
   * Replays from `from` (default 1), then follows live lines; ends when the run ends. Built on
   * `output.batches()`: each batch is decoded when the loop reaches it.
   */
  lines(options?: { from?: number; signal?: AbortSignal }): AsyncIterableIterator<OutputLine>;
  /** SIGTERM to the whole process tree, SIGKILL after `killGraceMs`; resolves with the result. */
  cancel(reason?: string): Promise<RunResult>;
  /** Resolves for every outcome once the program started; rejects with `ERR_SPAWN` otherwise. */
  readonly result: Promise<RunResult>;
}

/**
 * Starts a program (or a function) and returns at once: pattern 2, long-running tasks with
 * live output and graceful cancellation.
 *
 * @example
 * const handle = start('python3', ['train.py'], { logDir: './logs' });
 * for await (const line of handle.lines()) {
 *   if (line.text.includes('loss: nan')) await handle.cancel('diverged');
 * }
 * const result = await handle.result;
 */
export function start(command: string, args?: readonly string[], options?: StartOptions): RunHandle;
export function start(task: ProcessTask | FunctionTask, options?: StartOptions): RunHandle;
export function start(
  commandOrTask: string | ProcessTask | FunctionTask,
  argsOrOptions?: readonly string[] | StartOptions,
  maybeOptions?: StartOptions,
): RunHandle {
  const [task, options] = normalizeTask(commandOrTask, argsOrOptions, maybeOptions);
  const id = newRunId();
  const file =
    options?.logFile ?? (options?.logDir ? join(options.logDir, `${id}.log`) : undefined);
  const output = new OutputLog({ tailLines: options?.tailLines ?? defaults.tailLines, file });
  const active = executeTask(task, {
    ...options,
    id,
    pattern: 'long-running',
    output,
    captureBytes: options?.maxBufferBytes ?? defaults.startMaxBufferBytes,
  });
  const result = closingOutput(active, output);
  // A caller that only follows lines() must not see an unhandled rejection.
  result.catch(() => {});
  return {
    id,
    get pid() {
      return active.pid;
    },
    output,
    lines: (lineOptions) => output.follow(lineOptions),
    cancel: (reason) => {
      void active.cancel(reason).catch(() => {});
      return result;
    },
    result,
  };
}
