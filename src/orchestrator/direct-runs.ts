/*
 * `DirectRuns`: the runs `Runyard` starts itself (simple, long-running, pooled), recorded,
 * each with a controller that `close()` aborts.
 */
import { basename } from 'node:path';
import { ErrorCodes, RunyardError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import { type LongTimer, setLongTimeout } from '../core/timers.js';
import type {
  FunctionTask,
  Pattern,
  ProcessTask,
  RunOwner,
  RunRecord,
  RunResult,
} from '../core/types.js';
import { processStartTime } from '../process/owner.js';
import { executeTask } from '../run/execute-task.js';
import { type RunHandle, start } from '../run/start.js';
import {
  defaults,
  normalizeTask,
  type RunOptions,
  runOptionKeys,
  type StartOptions,
} from '../run/task-options.js';
import type { RunStore } from '../store/run-store.js';
import { terminalPatch } from '../tasks/launch-record.js';

export type CommandOrTask = string | ProcessTask | FunctionTask;

/**
 * The yard's own simple, long-running and pooled runs: each is recorded (pooled ones by their
 * pool), each has a controller that `close()` aborts once the grace is over.
 */
export class DirectRuns {
  readonly #store: RunStore;
  readonly #owner: RunOwner;
  readonly #logDir: string;
  readonly #active = new Map<Promise<unknown>, AbortController>();
  #isClosed = false;

  constructor(options: { store: RunStore; owner: RunOwner; logDir: string }) {
    this.#store = options.store;
    this.#owner = options.owner;
    this.#logDir = options.logDir;
  }

  run(
    commandOrTask: CommandOrTask,
    argsOrOptions?: readonly string[] | RunOptions,
    maybeOptions?: RunOptions,
  ): Promise<RunResult> {
    try {
      this.#checkOpen();
      const [task, options] = normalizeTask(
        commandOrTask,
        argsOrOptions,
        maybeOptions,
        runOptionKeys,
      );
      const controller = new AbortController();
      const id = newRunId();
      const active = executeTask(task, {
        ...options,
        id,
        pattern: 'simple',
        signal: joinSignals(options?.signal, controller.signal),
        captureBytes: options?.maxBufferBytes ?? defaults.runMaxBufferBytes,
      });
      const done = this.#record(task, options, id, 'simple', active.pid, active.result);
      return this.#track(done, controller);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  start(
    commandOrTask: CommandOrTask,
    argsOrOptions?: readonly string[] | StartOptions,
    maybeOptions?: StartOptions,
  ): RunHandle {
    this.#checkOpen();
    const [task, options] = normalizeTask(commandOrTask, argsOrOptions, maybeOptions);
    const controller = new AbortController();
    const handle = start(task, {
      ...options,
      signal: joinSignals(options?.signal, controller.signal),
      logDir: options?.logDir ?? (options?.logFile === undefined ? this.#logDir : undefined),
    });
    const recorded = this.#record(
      task,
      options,
      handle.id,
      'long-running',
      handle.pid,
      handle.result,
    );
    const result = this.#track(recorded, controller);
    // A caller that only follows lines() must not see an unhandled rejection.
    result.catch(() => {});
    return {
      id: handle.id,
      get pid() {
        return handle.pid;
      },
      output: handle.output,
      lines: (lineOptions) => handle.lines(lineOptions),
      cancel: (reason) => {
        void handle.cancel(reason).catch(() => {});
        return result;
      },
      result,
    };
  }

  /** A task on a pool: the pool records it; the yard only cancels it at close. */
  pooled(work: (signal: AbortSignal) => Promise<unknown>): Promise<unknown> {
    try {
      this.#checkOpen();
      const controller = new AbortController();
      return this.#track(work(controller.signal), controller);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Takes no more runs; running ones get `graceMs`, then are cancelled. */
  async close(graceMs: number): Promise<void> {
    this.#isClosed = true;
    const all = Promise.allSettled([...this.#active.keys()]);
    let timer: LongTimer | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setLongTimeout(() => resolve('grace-over'), graceMs);
    });
    if ((await Promise.race([all, graceOver])) === 'grace-over') {
      for (const controller of this.#active.values()) controller.abort('the yard is closing');
    }
    timer?.clear();
    await all;
  }

  #checkOpen(): void {
    if (this.#isClosed) throw new RunyardError(ErrorCodes.CLOSED, 'The yard is closed');
  }

  #track<T>(done: Promise<T>, controller: AbortController): Promise<T> {
    this.#active.set(done, controller);
    const forget = () => {
      this.#active.delete(done);
    };
    done.then(forget, forget);
    return done;
  }

  /** Records the run as running now, and its end once `result` settles; resolves after both. */
  async #record(
    task: ProcessTask | FunctionTask,
    options: RunOptions | undefined,
    id: string,
    pattern: Pattern,
    pid: number | undefined,
    result: Promise<RunResult>,
  ): Promise<RunResult> {
    const now = new Date().toISOString();
    const record: RunRecord = {
      id,
      name:
        task.name ??
        options?.name ??
        ('fn' in task ? task.fn.name || 'function' : basename(task.command)),
      pattern,
      status: 'running',
      attempt: 1,
      createdAt: now,
      startedAt: now,
      owner: this.#owner,
      output: { lines: 0, bytes: 0, truncated: false },
    };
    if ('command' in task) {
      record.command = task.command;
      record.args = [...(task.args ?? [])];
      const cwd = task.cwd ?? options?.cwd;
      if (cwd !== undefined) record.cwd = cwd;
    }
    if (pid !== undefined) {
      record.pid = pid;
      const startTime = processStartTime(pid);
      if (startTime !== undefined) record.childStartTime = startTime;
    }
    const created = this.#write(id, () => this.#store.create(record));
    let settled: RunResult;
    try {
      settled = await result;
    } catch (error) {
      await created;
      const code = error instanceof RunyardError ? error.code : ErrorCodes.FAILED;
      const message = error instanceof Error ? error.message : String(error);
      const finishedAt = new Date().toISOString();
      await this.#write(id, () =>
        this.#store.update(id, { status: 'failed', finishedAt, error: { code, message } }),
      );
      throw error;
    }
    await created;
    await this.#write(id, () => this.#store.update(id, terminalPatch(settled)));
    return settled;
  }

  async #write(id: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      // The run goes on and settles; only its record is behind.
      console.error(`runyard: could not record run ${id} in the store`, error);
    }
  }
}

function joinSignals(first: AbortSignal | undefined, second: AbortSignal): AbortSignal {
  return first === undefined ? second : AbortSignal.any([first, second]);
}
