/*
 * `executeTask()`: starts one process or function task and returns its `ActiveRun`.
 * Separate so `run()`, `start()`, the executor and schedules share one way to spawn and cancel.
 */
import { basename } from 'node:path';
import { ErrorCodes, RunyardError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import { type LongTimer, setLongTimeout } from '../core/timers.js';
import type { FunctionTask, Pattern, ProcessTask, RunResult, TaskContext } from '../core/types.js';
import { OutputBatch } from '../output/output-batch.js';
import type { OutputLog } from '../output/output-log.js';
import { ProcessRun } from '../process/spawn-process.js';
import { TailBuffer } from '../process/tail-buffer.js';
import {
  cancelledBeforeStart,
  type RunIdentity,
  type Settlement,
  settledResult,
} from './run-result.js';
import { defaults, type RunOptions } from './task-options.js';

/** How a pattern asks for one task to be run. Options are already validated. */
export interface ExecuteOptions extends RunOptions {
  readonly pattern: Pattern;
  /** Bytes of each stream kept for `stdout`/`stderr`. */
  readonly captureBytes: number;
  /** Every line also goes here; the caller closes it (see `closingOutput`). */
  readonly output?: OutputLog | undefined;
  readonly id?: string;
}

/** A task that has been started: the common core of every pattern. */
export interface ActiveRun {
  readonly id: string;
  readonly pid: number | undefined;
  /** Resolves for every outcome once the task started; rejects with `ERR_SPAWN` otherwise. */
  readonly result: Promise<RunResult>;
  /** Ends the run (status `cancelled`) and resolves with its result. Harmless once settled. */
  cancel(reason?: unknown): Promise<RunResult>;
}

export function executeTask(task: ProcessTask | FunctionTask, options: ExecuteOptions): ActiveRun {
  const emit = lineEmitter(options);
  const active =
    'fn' in task ? executeFunction(task, options, emit) : executeProcess(task, options, emit);
  return options.output ? withOutputState(active, options.output) : active;
}

/**
 * The run's result once its lines are in the OutputLog's file, with the log's loss folded in:
 * a file that could not be written (a full disk) or a tail that dropped lines without a file
 * makes `output.truncated` true whoever reads the result, with or without `closingOutput`.
 */
function withOutputState(active: ActiveRun, output: OutputLog): ActiveRun {
  const result = active.result.then(async (settled) => {
    await output.flush();
    if (output.truncated) settled.output.truncated = true;
    return settled;
  });
  return {
    id: active.id,
    pid: active.pid,
    result,
    cancel(reason) {
      void active.cancel(reason).catch(() => {});
      return result;
    },
  };
}

/**
 * The result of `active`, once `output` is closed: followers have finished and the file is
 * complete when it resolves. A spawn error is written to the log before it is rethrown.
 * `output.truncated` is true when the captured `stdout`/`stderr` or the log lost anything,
 * the last write of the file included.
 */
export async function closingOutput(active: ActiveRun, output: OutputLog): Promise<RunResult> {
  try {
    const result = await active.result;
    await output.close();
    if (output.truncated) result.output.truncated = true;
    return result;
  } catch (error) {
    if (error instanceof Error && !output.isClosed) output.append('system', error.message);
    await output.close();
    throw error;
  }
}

/** Where a run's lines go: the pipe reader's runs of bytes, and a function task's texts. */
interface Emit {
  run(stream: 'stdout' | 'stderr', bytes: Buffer, count: number, open: boolean, time: number): void;
  text(stream: 'stdout', text: string, time: number): void;
}

/**
 * Numbers lines into the run's OutputLog (or a counter) and hands them to `onLine`. Lines are
 * decoded only for `onLine`: the log keeps them as the bytes they came as.
 */
function lineEmitter(options: ExecuteOptions): Emit | undefined {
  const { output, onLine } = options;
  if (!output && !onLine) return undefined;
  let seq = 0;
  const deliver = (batch: OutputBatch): void => {
    if (!onLine) return;
    for (const line of batch.lines()) {
      try {
        onLine(line);
      } catch (error) {
        // A throwing callback must not stop the pipe from being read.
        console.error('runyard: onLine threw', error);
      }
    }
  };
  return {
    run(stream, bytes, count, open, time) {
      const batch = output
        ? output.appendRun(stream, bytes, count, open, time)
        : new OutputBatch(seq + 1, count, stream, time, bytes, open);
      seq = batch.lastSeq;
      deliver(batch);
    },
    text(stream, text, time) {
      if (output) {
        const line = output.append(stream, text, time);
        if (onLine) deliver(OutputBatch.ofText(line.seq, stream, time, text));
        return;
      }
      deliver(OutputBatch.ofText(++seq, stream, time, text));
    },
  };
}

/** `onData` as the pipe reader calls it: what it throws is logged, the pipe is still read. */
function guardedOnData(
  onData: RunOptions['onData'],
): ((chunk: Buffer, stream: 'stdout' | 'stderr') => void) | undefined {
  if (!onData) return undefined;
  return (chunk, stream) => {
    try {
      onData(chunk, stream);
    } catch (error) {
      console.error('runyard: onData threw', error);
    }
  };
}

function executeProcess(
  task: ProcessTask,
  options: ExecuteOptions,
  emit: Emit | undefined,
): ActiveRun {
  const id = options.id ?? newRunId();
  const args = task.args ?? [];
  const identity: RunIdentity = {
    id,
    name: task.name ?? options.name ?? basename(task.command),
    pattern: options.pattern,
    command: task.command,
    args: [...args],
    cwd: task.cwd ?? options.cwd,
    createdAt: Date.now(),
    timeoutMs: task.timeoutMs ?? options.timeoutMs,
  };
  if (options.signal?.aborted) {
    const result = Promise.resolve(cancelledBeforeStart(identity, options.signal.reason));
    return { id, pid: undefined, result, cancel: () => result };
  }
  const child = new ProcessRun(task.command, args, {
    runId: id,
    cwd: identity.cwd,
    env: task.env ?? options.env,
    extendEnv: options.extendEnv,
    input: task.input ?? options.input,
    shell: task.shell ?? options.shell,
    timeoutMs: identity.timeoutMs,
    signal: options.signal,
    killGraceMs: task.killGraceMs ?? options.killGraceMs ?? defaults.killGraceMs,
    maxLineBytes: options.maxLineBytes,
    captureBytes: options.captureBytes,
    onLines: emit?.run,
    onData: guardedOnData(options.onData),
    backpressure: options.output ? () => options.output?.backlog() : undefined,
    onTerminate: options.output
      ? (reason, detail) => {
          const why =
            reason === 'timeout' ? `timed out after ${identity.timeoutMs} ms` : 'cancelled';
          const said =
            detail === undefined || detail instanceof Error ? '' : ` (${String(detail)})`;
          options.output?.append('system', `${why}${said}: ending the process tree`);
        }
      : undefined,
  });
  const result = child.done.then((outcome) => settledResult(identity, outcome));
  return {
    id,
    pid: child.pid,
    result,
    cancel(reason) {
      child.terminate('cancel', reason);
      return result;
    },
  };
}

function executeFunction(
  task: FunctionTask,
  options: ExecuteOptions,
  emit: Emit | undefined,
): ActiveRun {
  const now = Date.now();
  const identity: RunIdentity = {
    id: options.id ?? newRunId(now),
    name: task.name ?? options.name ?? (task.fn.name || 'function'),
    pattern: options.pattern,
    createdAt: now,
    timeoutMs: task.timeoutMs ?? options.timeoutMs,
  };
  if (options.signal?.aborted) {
    const result = Promise.resolve(cancelledBeforeStart(identity, options.signal.reason));
    return { id: identity.id, pid: undefined, result, cancel: () => result };
  }
  return new FunctionRun(task, identity, options, emit, now);
}

type FunctionOutcome = { value: unknown } | { error: unknown } | undefined;

/**
 * A function task from call to result. It is on the hot path of every in-process task, so it
 * allocates little: the AbortController only when `ctx.signal` is read, timers only when a
 * timeout or a cancel asks for them, and one promise to settle on.
 */
class FunctionRun implements ActiveRun {
  readonly id: string;
  readonly pid = undefined;
  readonly result: Promise<RunResult>;
  readonly #identity: RunIdentity;
  readonly #options: ExecuteOptions;
  readonly #emit: Emit | undefined;
  readonly #onData: ((chunk: Buffer, stream: 'stdout' | 'stderr') => void) | undefined;
  readonly #startedAt: number;
  #controller: AbortController | undefined;
  #capture: TailBuffer | undefined;
  #lines = 0;
  #bytes = 0;
  #terminatedBy: 'cancel' | 'timeout' | undefined;
  #terminationDetail: unknown;
  #timer: LongTimer | undefined;
  #graceTimer: LongTimer | undefined;
  #settle!: (outcome: FunctionOutcome) => void;
  #onAbort: (() => void) | undefined;

  constructor(
    task: FunctionTask,
    identity: RunIdentity,
    options: ExecuteOptions,
    emit: Emit | undefined,
    startedAt: number,
  ) {
    this.id = identity.id;
    this.#identity = identity;
    this.#options = options;
    this.#emit = emit;
    this.#onData = guardedOnData(options.onData);
    this.#startedAt = startedAt;
    const outcome = new Promise<FunctionOutcome>((resolve) => {
      this.#settle = resolve;
    });
    this.result = outcome.then((settled) => this.#finish(settled));

    if (identity.timeoutMs && identity.timeoutMs > 0) {
      this.#timer = setLongTimeout(() => this.#terminate('timeout', undefined), identity.timeoutMs);
    }
    const signal = options.signal;
    if (signal) {
      this.#onAbort = () => this.#terminate('cancel', signal.reason);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
    const run = this;
    const ctx: TaskContext = {
      runId: identity.id,
      get signal() {
        return run.#signal();
      },
      log: (text: string) => this.#log(text),
    };
    try {
      const returned = task.fn(ctx);
      if (isThenable(returned)) {
        returned.then(
          (value) => this.#settle({ value }),
          (error: unknown) => this.#settle({ error }),
        );
      } else {
        this.#settle({ value: returned });
      }
    } catch (error) {
      this.#settle({ error });
    }
  }

  cancel(reason?: unknown): Promise<RunResult> {
    this.#terminate('cancel', reason);
    return this.result;
  }

  #signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#terminatedBy) this.#controller.abort(this.#abortReason());
    }
    return this.#controller.signal;
  }

  #abortReason(): unknown {
    return this.#terminatedBy === 'timeout'
      ? new RunyardError(ErrorCodes.TIMEOUT, `Timed out after ${this.#identity.timeoutMs} ms`)
      : this.#terminationDetail;
  }

  #terminate(reason: 'cancel' | 'timeout', detail: unknown): void {
    if (this.#terminatedBy !== undefined) return;
    this.#terminatedBy = reason;
    this.#terminationDetail = detail;
    this.#controller?.abort(this.#abortReason());
    // A function cannot be killed: it gets the grace period to notice its signal, then the
    // run settles without it.
    const graceMs = this.#options.killGraceMs ?? defaults.killGraceMs;
    this.#graceTimer = setLongTimeout(() => this.#settle(undefined), graceMs);
  }

  #log(text: string): void {
    const captureBytes = this.#options.captureBytes;
    for (const line of String(text).split('\n')) {
      this.#lines++;
      this.#bytes += Buffer.byteLength(line) + 1;
      if (captureBytes) {
        this.#capture ??= new TailBuffer(captureBytes);
        this.#capture.push(Buffer.from(`${line}\n`));
      }
      this.#emit?.text('stdout', line, Date.now());
      this.#onData?.(Buffer.from(`${line}\n`), 'stdout');
    }
  }

  #finish(outcome: FunctionOutcome): RunResult {
    this.#timer?.clear();
    this.#graceTimer?.clear();
    if (this.#onAbort) this.#options.signal?.removeEventListener('abort', this.#onAbort);
    const settlement: Settlement = {
      terminatedBy: this.#terminatedBy,
      terminationDetail: this.#terminationDetail,
      thrown: outcome && 'error' in outcome ? { error: outcome.error } : undefined,
      value: outcome && 'value' in outcome ? outcome.value : undefined,
      stdout: this.#capture?.text() ?? '',
      stderr: '',
      lines: this.#lines,
      bytes: this.#bytes,
      truncated: this.#capture?.truncated ?? false,
      startedAt: this.#startedAt,
      finishedAt: Date.now(),
    };
    return settledResult(this.#identity, settlement);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}
