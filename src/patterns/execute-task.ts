import { basename } from 'node:path';
import { ErrorCodes, RunyardError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import type {
  FunctionTask,
  OutputLine,
  OutputStream,
  Pattern,
  ProcessTask,
  RunResult,
  TaskContext,
} from '../core/types.js';
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
  return 'fn' in task ? executeFunction(task, options, emit) : executeProcess(task, options, emit);
}

/**
 * The result of `active`, once `output` is closed: followers have finished and the file is
 * complete when it resolves. A spawn error is written to the log before it is rethrown. With a
 * log file nothing is lost, so `output.truncated` then follows the log, not the captured tail.
 */
export async function closingOutput(active: ActiveRun, output: OutputLog): Promise<RunResult> {
  try {
    const result = await active.result;
    await output.close();
    result.output.truncated = output.truncated;
    return result;
  } catch (error) {
    if (error instanceof Error && !output.isClosed) output.append('system', error.message);
    await output.close();
    throw error;
  }
}

type Emit =
  | ((stream: Exclude<OutputStream, 'system'>, text: string, time: number) => void)
  | undefined;

/** Numbers lines into the run's OutputLog (or a counter) and hands them to `onLine`. */
function lineEmitter(options: ExecuteOptions): Emit {
  const { output, onLine } = options;
  if (!output && !onLine) return undefined;
  let seq = 0;
  return (stream, text, time) => {
    const line: OutputLine = output
      ? output.append(stream, text, time)
      : { seq: ++seq, stream, text, time };
    if (onLine) {
      try {
        onLine(line);
      } catch (error) {
        // A throwing callback must not stop the pipe from being read.
        console.error('runyard: onLine threw', error);
      }
    }
  };
}

function executeProcess(task: ProcessTask, options: ExecuteOptions, emit: Emit): ActiveRun {
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
    onLine: emit,
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

function executeFunction(task: FunctionTask, options: ExecuteOptions, emit: Emit): ActiveRun {
  const id = options.id ?? newRunId();
  const identity: RunIdentity = {
    id,
    name: task.name ?? options.name ?? (task.fn.name || 'function'),
    pattern: options.pattern,
    createdAt: Date.now(),
    timeoutMs: task.timeoutMs ?? options.timeoutMs,
  };
  if (options.signal?.aborted) {
    const result = Promise.resolve(cancelledBeforeStart(identity, options.signal.reason));
    return { id, pid: undefined, result, cancel: () => result };
  }
  const graceMs = options.killGraceMs ?? defaults.killGraceMs;
  const controller = new AbortController();
  const capture = options.captureBytes ? new TailBuffer(options.captureBytes) : undefined;
  const startedAt = Date.now();
  let lines = 0;
  let bytes = 0;
  let terminatedBy: 'cancel' | 'timeout' | undefined;
  let terminationDetail: unknown;
  let giveUp: (() => void) | undefined;
  const givenUp = new Promise<void>((resolve) => {
    giveUp = resolve;
  });
  let graceTimer: NodeJS.Timeout | undefined;

  const terminate = (reason: 'cancel' | 'timeout', detail: unknown) => {
    if (terminatedBy !== undefined) return;
    terminatedBy = reason;
    terminationDetail = detail;
    controller.abort(
      reason === 'timeout'
        ? new RunyardError(ErrorCodes.TIMEOUT, `Timed out after ${identity.timeoutMs} ms`)
        : detail,
    );
    // A function cannot be killed: it gets the grace period to notice its signal, then the
    // run settles without it.
    graceTimer = setTimeout(() => giveUp?.(), graceMs);
  };

  const ctx: TaskContext = {
    runId: id,
    signal: controller.signal,
    log(text: string) {
      for (const line of String(text).split('\n')) {
        lines++;
        const size = Buffer.byteLength(line) + 1;
        bytes += size;
        capture?.push(Buffer.from(`${line}\n`));
        emit?.('stdout', line, Date.now());
      }
    },
  };

  const timer =
    identity.timeoutMs && identity.timeoutMs > 0
      ? setTimeout(() => terminate('timeout', undefined), identity.timeoutMs)
      : undefined;
  const signal = options.signal;
  const onAbort = () => terminate('cancel', signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });

  const settle = async (): Promise<RunResult> => {
    let thrown: { error: unknown } | undefined;
    let value: unknown;
    try {
      const outcome = await Promise.race([
        (async () => task.fn(ctx))().then(
          (v) => ({ value: v }),
          (error: unknown) => ({ error }),
        ),
        givenUp.then(() => undefined),
      ]);
      if (outcome && 'error' in outcome) thrown = { error: outcome.error };
      else if (outcome) value = outcome.value;
    } finally {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      signal?.removeEventListener('abort', onAbort);
    }
    const settlement: Settlement = {
      terminatedBy,
      terminationDetail,
      thrown,
      value,
      stdout: capture?.text() ?? '',
      stderr: '',
      lines,
      bytes,
      truncated: capture?.truncated ?? false,
      startedAt,
      finishedAt: Date.now(),
    };
    return settledResult(identity, settlement);
  };
  const result = settle();
  return {
    id,
    pid: undefined,
    result,
    cancel(reason) {
      terminate('cancel', reason);
      return result;
    },
  };
}
