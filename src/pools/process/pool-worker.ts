/*
 * `PoolWorker`: one warm worker process of a `ProcessPool`, speaking the NDJSON protocol.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import { type LongTimer, setLongTimeout } from '../../core/timers.js';
import { RUN_ID_VARIABLE } from '../../process/child-env.js';
import { trackGroup, untrackGroup } from '../../process/exit-cleanup.js';
import { LineSplitter } from '../../process/line-splitter.js';
import { describeSpawnError } from '../../process/spawn-error.js';
import { TailBuffer } from '../../process/tail-buffer.js';
import { terminateTree } from '../../process/tree-kill.js';
import { type ProcessPoolSettings, processPoolDefaults } from './process-pool-options.js';
import { ProtocolLines } from './protocol-lines.js';

const isWindows = process.platform === 'win32';
/** The protocol version this pool speaks (`"protocol"` in the ready line). */
const PROTOCOL_VERSION = 1;
/**
 * How long, after the first sign of a worker's end (its exit, or its stdout or stderr closing),
 * the others may take: its last answer and stderr may still be in the pipes, its exit status
 * on the way.
 */
const DRAIN_MS = 100;
/** How much of a worker's stderr goes into an error message. */
const STDERR_EXCERPT_CHARS = 2000;
/** How much of an offending line goes into an error message. */
const LINE_EXCERPT_CHARS = 200;

/** What a worker sends to one: the task's protocol id and its line, newline included. */
export interface WorkerTask {
  readonly protocolId: number;
  readonly line: string;
}

export type WorkerAnswer =
  | { readonly ok: true; readonly result: unknown }
  | {
      readonly ok: false;
      readonly error: { readonly type?: string; readonly message: string; readonly stack?: string };
    };

/** The pool, as one worker sees it. Each call happens at most once per event, never re-entrantly. */
export interface WorkerHost {
  /** The worker sent its ready line. */
  onReady(worker: PoolWorker): void;
  /** The task the worker held was answered; the worker is idle again. */
  onAnswer(worker: PoolWorker, task: WorkerTask, answer: WorkerAnswer): void;
  onLog(worker: PoolWorker, task: WorkerTask, text: string): void;
  /**
   * The worker ended or broke the protocol without being asked to (at most once per worker);
   * `error` tells how, with the worker's stderr. The host then ends it with `stop()`.
   * `isUndelivered`: the task it held never reached it (it was gone when the task was written),
   * so another worker may take the task.
   */
  onLost(worker: PoolWorker, error: RunyardError, isUndelivered: boolean): void;
}

export type WorkerState = 'starting' | 'idle' | 'busy' | 'stopping';

type Socketish = { ref?(): void; unref?(): void };

/**
 * One worker process of a `ProcessPool`: spawned in a process group of its own, with an
 * environment marker of its own so its whole tree can be found and ended; its stdout parsed
 * as protocol lines, the newest part of its stderr kept for error messages.
 */
export class PoolWorker {
  readonly pid: number | undefined;
  /** Set by the worker up to `idle`/`busy`; `stopping` once `stop()` was called. */
  state: WorkerState = 'starting';
  /** The task it runs, while `busy`. */
  task: WorkerTask | undefined;
  /** Tasks handed to it so far. */
  tasksTaken = 0;
  /** The pool's idle timer for it. */
  idleTimer: LongTimer | undefined;
  /** True when it started to replace a worker that ended badly (counted once in `restarts`). */
  readonly isRestart: boolean;

  readonly #settings: ProcessPoolSettings;
  readonly #host: WorkerHost;
  readonly #marker: string;
  readonly #child: ChildProcess | undefined;
  readonly #stderr = new TailBuffer(processPoolDefaults.stderrTailBytes);
  readonly #exited: Promise<void>;
  #exitCode: number | null = null;
  #exitSignal: NodeJS.Signals | null = null;
  #hasExited = false;
  #isStdoutClosed = false;
  /** Its stdout and stderr have closed: nothing more can come from it. */
  #hasClosedPipes = false;
  #isLost = false;
  #startupTimer: LongTimer | undefined;
  /** Runs from the first sign of its end to the loss, if the other signs are late. */
  #drainTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;

  constructor(settings: ProcessPoolSettings, host: WorkerHost, marker: string, isRestart: boolean) {
    this.#settings = settings;
    this.#host = host;
    this.#marker = marker;
    this.isRestart = isRestart;
    let markExited!: () => void;
    this.#exited = new Promise<void>((resolve) => {
      markExited = resolve;
    });
    const onSpawnError = (error: unknown) => {
      this.#hasExited = true;
      this.#isStdoutClosed = true;
      this.#hasClosedPipes = true;
      markExited();
      this.#lose(describeSpawnError(settings.command, settings.cwd, error));
    };

    let child: ChildProcess;
    try {
      child = spawn(settings.command, settings.args, {
        cwd: settings.cwd,
        env: { ...settings.env, [RUN_ID_VARIABLE]: marker },
        // Its own process group on POSIX, so the whole tree can be signalled at once.
        detached: !isWindows,
        windowsHide: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
    } catch (error) {
      // Node throws synchronously for a few argument errors; they are failed starts too.
      this.pid = undefined;
      this.#child = undefined;
      queueMicrotask(() => onSpawnError(error));
      return;
    }
    this.#child = child;
    this.pid = child.pid;
    child.on('error', (error) => {
      // Later errors (a failed kill) change nothing: the exit is what counts.
      if (child.pid === undefined && !this.#hasExited) onSpawnError(error);
    });
    if (child.pid === undefined) return;
    const pid = child.pid;
    if (!isWindows) trackGroup(pid, this.#marker);

    const lines = new ProtocolLines(
      settings.maxMessageBytes,
      (line) => this.#onLine(line),
      (bytes) => this.#onOversizedLine(bytes),
    );
    const stdout = child.stdout!;
    stdout.on('data', (chunk: Buffer) => lines.push(chunk));
    const onStderr = settings.onStderr;
    const stderrLines = onStderr
      ? new LineSplitter((line) => {
          try {
            onStderr(line, pid);
          } catch (error) {
            console.error('runyard: a ProcessPool onStderr listener threw', error);
          }
        })
      : undefined;
    const stderr = child.stderr!;
    stderr.on('data', (chunk: Buffer) => {
      this.#stderr.push(chunk);
      stderrLines?.push(chunk);
    });
    let isStderrClosed = false;
    stdout.once('close', () => {
      lines.end();
      this.#isStdoutClosed = true;
      this.#hasClosedPipes = isStderrClosed;
      this.#onEndSign();
    });
    stderr.once('close', () => {
      stderrLines?.end();
      isStderrClosed = true;
      this.#hasClosedPipes = this.#isStdoutClosed;
      // A worker may close its stderr and live on: that alone is no sign of its end.
      if (this.#hasExited || this.#isStdoutClosed) this.#onEndSign();
    });
    // Writing to a worker that is gone fails the write: `send()` sees that in its callback.
    child.stdin!.on('error', () => {});
    child.once('exit', (code, signal) => {
      this.#hasExited = true;
      this.#exitCode = code;
      this.#exitSignal = signal;
      markExited();
      this.#onEndSign();
    });

    // Idle workers must not hold the event loop open: a starting one does, through its process
    // and stdout, until `hold(false)`; stdin and stderr never do.
    (child.stdin as Socketish).unref?.();
    (child.stderr as Socketish).unref?.();
    if (settings.startupTimeoutMs > 0) {
      this.#startupTimer = setLongTimeout(
        () => this.#violate(`sent no ready line within ${settings.startupTimeoutMs} ms`),
        settings.startupTimeoutMs,
      );
    }
  }

  /** Whether it may take a task: it has shown no sign of its end and was not lost or stopped. */
  get isUsable(): boolean {
    return this.state === 'idle' && !this.#hasEndSign && !this.#isLost;
  }

  /** It exited or closed its stdout: it can answer nothing more. */
  get #hasEndSign(): boolean {
    return this.#hasExited || this.#isStdoutClosed;
  }

  /** Hands it a task; the caller has checked it is `isUsable`. */
  send(task: WorkerTask): void {
    this.state = 'busy';
    this.task = task;
    this.tasksTaken++;
    this.#child!.stdin!.write(task.line, (error) => {
      // The pipe took none or part of the line: the worker was gone (EPIPE) before it could
      // read the task, which therefore never ran.
      if (error && this.task === task) {
        this.#lose(this.#error(`was gone before it could read its task (${error.message})`), true);
      }
    });
  }

  /**
   * Keeps the event loop alive while the worker starts or runs a task (or lets it go). The
   * process handle must be held with stdout: stdout may close first, and an unref'd process
   * handle alone would let Node exit before the exit that settles the task is seen.
   */
  hold(isHeld: boolean): void {
    const child = this.#child;
    const stdout = child?.stdout as Socketish | undefined;
    if (isHeld) {
      child?.ref();
      stdout?.ref?.();
    } else {
      child?.unref();
      stdout?.unref?.();
    }
  }

  /**
   * Ends the worker and every process of its tree; idempotent. `graceful` closes its stdin
   * first (the helpers exit at the end of their input) and waits up to `killGraceMs` before
   * SIGKILL; `kill` sends SIGTERM to the tree, then SIGKILL after `killGraceMs`.
   */
  stop(mode: 'graceful' | 'kill'): Promise<void> {
    this.state = 'stopping';
    this.#startupTimer?.clear();
    this.idleTimer?.clear();
    clearTimeout(this.#drainTimer);
    this.#stopping ??= this.#end(mode);
    return this.#stopping;
  }

  /** The end of the worker's stderr, for an error message. */
  stderrExcerpt(): string {
    const text = this.#stderr.text();
    return text.length > STDERR_EXCERPT_CHARS ? `…${text.slice(-STDERR_EXCERPT_CHARS)}` : text;
  }

  async #end(mode: 'graceful' | 'kill'): Promise<void> {
    const child = this.#child;
    const pid = this.pid;
    if (child === undefined || pid === undefined) return;
    const killGraceMs = this.#settings.killGraceMs;
    let graceMs = killGraceMs;
    if (mode === 'graceful' && !this.#hasExited) {
      child.stdin?.end();
      // Ignoring the end of its input is the worker's polite chance; SIGKILL follows.
      if (!(await settlesWithin(this.#exited, killGraceMs))) graceMs = 0;
    }
    // A worker that left by itself with nobody left in its group needs no tree search.
    if (!(mode === 'graceful' && this.#hasExited && !hasGroupMembers(pid))) {
      try {
        await terminateTree(pid, {
          graceMs,
          marker: { name: RUN_ID_VARIABLE, value: this.#marker },
        });
      } catch (error) {
        console.error(`runyard: could not end pool worker ${pid}`, error);
      }
    }
    // Bounded all the same: a failed tree kill must not hang `close()`.
    await settlesWithin(this.#exited, killGraceMs + 5000);
    if (!isWindows && this.#hasExited) untrackGroup(pid);
    // A worker that would not end must not keep this process alive either.
    child.unref();
    child.stdout?.destroy();
    child.stderr?.destroy();
    child.stdin?.destroy();
  }

  #onLine(line: string): void {
    if (this.state === 'stopping') return;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line);
    } catch {
      if (line.trim() === '') return;
      this.#violate(`printed a line that is not protocol JSON: ${excerpt(line)}`);
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.#violate(`printed a line that is not a protocol message: ${excerpt(line)}`);
      return;
    }
    const task = this.task;
    if (this.state === 'busy' && task !== undefined && message.id === task.protocolId) {
      if (typeof message.log === 'string') {
        this.#host.onLog(this, task, message.log);
      } else if (message.ok === true) {
        this.#answered(task, { ok: true, result: message.result });
      } else if (message.ok === false) {
        this.#answered(task, { ok: false, error: remoteError(message.error) });
      } else {
        this.#violate(`sent a message that is neither an answer nor a log: ${excerpt(line)}`);
      }
      return;
    }
    if (this.state === 'starting' && message.ready === true) {
      if (message.protocol !== undefined && message.protocol !== PROTOCOL_VERSION) {
        this.#violate(
          `speaks protocol version ${excerpt(JSON.stringify(message.protocol))}; this pool speaks ${PROTOCOL_VERSION}`,
        );
        return;
      }
      this.#startupTimer?.clear();
      this.state = 'idle';
      this.#host.onReady(this);
      if (this.#hasEndSign) this.#onEndSign();
      return;
    }
    this.#violate(
      this.state === 'starting'
        ? `printed a line before its ready line: ${excerpt(line)}`
        : `sent a message for no task it holds: ${excerpt(line)}`,
    );
  }

  #answered(task: WorkerTask, answer: WorkerAnswer): void {
    this.task = undefined;
    this.state = 'idle';
    this.#host.onAnswer(this, task, answer);
    // Its answer was among its last words: the pool gave it nothing new, and now loses it.
    if (this.#hasEndSign) this.#onEndSign();
  }

  /** The worker broke the protocol (or never got ready): it counts as crashed. */
  #violate(reason: string): void {
    this.#lose(this.#error(reason));
  }

  /**
   * A line passed `maxMessageBytes`. The rest of it cannot be told from what follows, so the
   * worker is replaced; the task it held fails as the task's own fault.
   */
  #onOversizedLine(bytes: number): void {
    const limit = this.#settings.maxMessageBytes;
    const what = `a line of more than ${limit} bytes (${bytes} so far)`;
    if (this.state !== 'busy') {
      this.#violate(`sent ${what}, past \`maxMessageBytes\``);
      return;
    }
    this.#lose(
      new RunyardError(
        ErrorCodes.TASK_FAILED,
        `The task's result or log passed \`maxMessageBytes\` (${limit} bytes): worker ${this.pid} of pool \`${this.#settings.name}\` sent ${what} and was replaced. Return less, or raise \`maxMessageBytes\``,
      ),
    );
  }

  /**
   * The worker exited, or a pipe of it closed. Idle, once it exited or its stdout closed, it
   * can answer no task and must not be handed one: it is lost at once. Otherwise its last words
   * may still be on the way: it is lost once it has exited and both pipes have closed, or
   * `DRAIN_MS` after the first of these.
   */
  #onEndSign(): void {
    if (this.#isLost || this.state === 'stopping') return;
    const isIdleAndGone = this.state === 'idle' && this.#hasEndSign;
    if (!isIdleAndGone && !(this.#hasExited && this.#hasClosedPipes)) {
      this.#drainTimer ??= setTimeout(() => this.#lose(this.#error(this.#endReason())), DRAIN_MS);
      return;
    }
    this.#lose(this.#error(this.#endReason()));
  }

  #lose(error: RunyardError, isUndelivered = false): void {
    if (this.#isLost || this.state === 'stopping') return;
    this.#isLost = true;
    this.#startupTimer?.clear();
    clearTimeout(this.#drainTimer);
    this.#host.onLost(this, error, isUndelivered);
  }

  #endReason(): string {
    let how: string;
    if (this.#exitSignal !== null) how = `was killed by ${this.#exitSignal}`;
    else if (this.#hasExited) how = `exited with code ${this.#exitCode}`;
    else how = 'closed its output';
    if (this.state === 'starting') return `${how} before its ready line`;
    if (this.state === 'busy') return `${how} while it ran a task`;
    return `${how} while idle`;
  }

  #error(reason: string): RunyardError {
    const stderr = this.stderrExcerpt();
    const tail =
      stderr === '' ? ' (it wrote nothing on stderr)' : `; its stderr ends with:\n${stderr}`;
    return new RunyardError(
      ErrorCodes.WORKER_CRASHED,
      `Worker ${this.pid ?? '?'} of pool \`${this.#settings.name}\` ${reason}${tail}`,
    );
  }
}

/** A handler's error as the worker sent it, whatever shape it came in. */
function remoteError(error: unknown): {
  type?: string;
  message: string;
  stack?: string;
} {
  if (typeof error === 'string') return { message: error };
  if (typeof error !== 'object' || error === null) return { message: String(error) };
  const { type, message, stack } = error as Record<string, unknown>;
  const result: { type?: string; message: string; stack?: string } = {
    message: typeof message === 'string' ? message : JSON.stringify(message ?? null),
  };
  if (typeof type === 'string' && type !== '') result.type = type;
  if (typeof stack === 'string' && stack !== '') result.stack = stack;
  return result;
}

function excerpt(line: string): string {
  const shown = line.length > LINE_EXCERPT_CHARS ? `${line.slice(0, LINE_EXCERPT_CHARS)}…` : line;
  return `\`${shown}\``;
}

/** True when a process other than the (already reaped) leader is still in the group. */
function hasGroupMembers(pgid: number): boolean {
  if (isWindows) return false;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: LongTimer | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setLongTimeout(() => resolve(false), ms);
  });
  return Promise.race([promise.then(() => true), timeout]).finally(() => timer?.clear());
}
