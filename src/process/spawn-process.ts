/*
 * `ProcessRun`: one child process from spawn to exit, with its pipes read into lines,
 * its input, timeout, cancel signal and tree kill.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { setLongTimeout } from '../core/timers.js';
import { childEnv, RUN_ID_VARIABLE } from './child-env.js';
import { trackGroup, untrackGroup } from './exit-cleanup.js';
import { isReadable } from './is-readable.js';
import { countNewlines, LineRunSplitter } from './line-splitter.js';
import { describeSpawnError } from './spawn-error.js';
import { TailBuffer } from './tail-buffer.js';
import { terminateTree } from './tree-kill.js';

export { RUN_ID_VARIABLE } from './child-env.js';

/** How long the pipes may stay open after the child exited before the rest of the tree is ended. */
const DRAIN_MS = 100;

const isWindows = process.platform === 'win32';

export type TerminationReason = 'cancel' | 'timeout';

export interface SpawnProcessOptions {
  /** Marks the child's environment (`RUNYARD_RUN_ID`) so the whole tree can be found. */
  runId: string;
  cwd?: string | undefined;
  env?: Record<string, string | undefined> | undefined;
  /** Merge `env` into `process.env`. @default true */
  extendEnv?: boolean | undefined;
  /** Written to stdin, or piped in when a `Readable`; without it stdin is `/dev/null`. */
  input?: string | Uint8Array | Readable | undefined;
  shell?: boolean | undefined;
  /** 0 or absent: no timeout. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  killGraceMs: number;
  maxLineBytes?: number | undefined;
  /**
   * Receives the lines of each read as they came, undecoded: `count` lines in `bytes` (see
   * `OnLineRun` of the line splitter), with the time their chunk arrived (one clock read per
   * chunk, not per line); without it lines are only counted.
   */
  onLines?:
    | ((
        stream: 'stdout' | 'stderr',
        bytes: Buffer,
        count: number,
        open: boolean,
        time: number,
      ) => void)
    | undefined;
  /** Receives each chunk read from a pipe, before line splitting; absent: no cost at all. */
  onData?: ((chunk: Buffer, stream: 'stdout' | 'stderr') => void) | undefined;
  /** Keep the newest this many bytes of each stream's text. 0: keep none. */
  captureBytes?: number | undefined;
  /**
   * Called after each chunk is handled; when it returns a promise, reading pauses until it
   * settles (the pipe fills and the child waits), so a slow log file bounds memory.
   */
  backpressure?: (() => Promise<void> | undefined) | undefined;
  /** Called when runyard starts ending the tree, before any signal is sent. */
  onTerminate?: ((reason: TerminationReason, detail: unknown) => void) | undefined;
}

export interface ProcessOutcome {
  pid: number;
  /** Set when runyard ended the run; the first cause wins. */
  terminatedBy?: TerminationReason;
  terminationDetail?: unknown;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: number;
  bytes: number;
  truncated: boolean;
  startedAt: number;
  finishedAt: number;
}

/**
 * One child process, from spawn to the moment nothing of its tree is left. `done` resolves
 * for every outcome of a program that started and rejects with `ERR_SPAWN` when it could not
 * start. It settles once the child has exited, its pipes are drained (or, when a descendant
 * keeps them open, closed after a short drain) and every process of its tree has ended.
 */
export class ProcessRun {
  readonly pid: number | undefined;
  readonly done: Promise<ProcessOutcome>;
  readonly #options: SpawnProcessOptions;
  readonly #child: ChildProcess;
  readonly #startedAt = Date.now();
  #terminatedBy: TerminationReason | undefined;
  #terminationDetail: unknown;
  #termination: Promise<unknown> | undefined;
  #exited = false;
  #lines = 0;
  #bytes = 0;

  constructor(command: string, args: readonly string[], options: SpawnProcessOptions) {
    this.#options = options;
    const env = childEnv(command, options);

    let child: ChildProcess;
    try {
      child = spawn(command, args, {
        cwd: options.cwd,
        env,
        shell: options.shell ?? false,
        // Its own process group on POSIX, so the whole tree can be signalled at once.
        detached: !isWindows,
        windowsHide: true,
        stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    } catch (error) {
      // Node throws synchronously for a few argument errors; they are spawn failures too.
      this.pid = undefined;
      this.#child = undefined as unknown as ChildProcess;
      this.done = Promise.reject(describeSpawnError(command, options.cwd, error));
      return;
    }
    this.#child = child;
    this.pid = child.pid;
    this.done = this.#lifecycle(command);
  }

  /** Ends the tree: the polite signal, then SIGKILL after `killGraceMs`. The first reason wins. */
  terminate(reason: TerminationReason, detail?: unknown): void {
    // Once the child exited the run has ended by itself: a late cancel changes nothing.
    if (this.#terminatedBy !== undefined || this.pid === undefined || this.#exited) return;
    this.#terminatedBy = reason;
    this.#terminationDetail = detail;
    this.#options.onTerminate?.(reason, detail);
    this.#endTree();
  }

  #endTree(): Promise<unknown> {
    this.#termination ??= terminateTree(this.pid!, {
      graceMs: this.#options.killGraceMs,
      marker: { name: RUN_ID_VARIABLE, value: this.#options.runId },
    });
    return this.#termination;
  }

  async #lifecycle(command: string): Promise<ProcessOutcome> {
    const child = this.#child;
    const options = this.#options;
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('exit', (code, signal) => {
        this.#exited = true;
        resolve([code, signal]);
      });
      child.on('error', (error) => {
        if (child.pid === undefined) reject(describeSpawnError(command, options.cwd, error));
      });
    });
    if (this.pid === undefined) {
      // The spawn failed; only the 'error' event remains to be heard.
      await exited;
      throw new Error('unreachable: a child without a pid exited');
    }
    const pid = this.pid;
    if (!isWindows) trackGroup(pid, options.runId);

    const stdoutCapture = options.captureBytes ? new TailBuffer(options.captureBytes) : undefined;
    const stderrCapture = options.captureBytes ? new TailBuffer(options.captureBytes) : undefined;
    const stdoutLines = this.#readStream(child.stdout!, 'stdout', stdoutCapture);
    const stderrLines = this.#readStream(child.stderr!, 'stderr', stderrCapture);
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const unpipeInput = child.stdin ? feedStdin(child.stdin, options.input!) : undefined;

    // A long timer: Node would fire a delay of 2^31 ms (~24.8 days) or more at once.
    const timer =
      options.timeoutMs && options.timeoutMs > 0
        ? setLongTimeout(() => this.terminate('timeout'), options.timeoutMs)
        : undefined;
    const signal = options.signal;
    const onAbort = () => this.terminate('cancel', signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();

    try {
      const [exitCode, exitSignal] = await exited;
      unpipeInput?.();
      // Descendants still in the group outlived the child: they end with the run.
      if (this.#termination === undefined && hasGroupMembers(pid)) this.#endTree();
      if (!(await settlesWithin(closed, DRAIN_MS))) {
        // A descendant holds the pipes open; it ends with the tree and the pipes are closed.
        this.#endTree();
        await settlesWithin(closed, DRAIN_MS);
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
      await this.#termination;
      const stdoutTotals = stdoutLines();
      const stderrTotals = stderrLines();
      return {
        pid,
        terminatedBy: this.#terminatedBy,
        terminationDetail: this.#terminationDetail,
        exitCode,
        exitSignal,
        stdout: stdoutCapture?.text() ?? '',
        stderr: stderrCapture?.text() ?? '',
        lines: this.#lines + stdoutTotals + stderrTotals,
        bytes: this.#bytes,
        truncated: (stdoutCapture?.truncated ?? false) || (stderrCapture?.truncated ?? false),
        startedAt: this.#startedAt,
        finishedAt: Date.now(),
      };
    } finally {
      unpipeInput?.();
      timer?.clear();
      signal?.removeEventListener('abort', onAbort);
      if (!isWindows) untrackGroup(pid);
    }
  }

  /**
   * Reads one pipe to its end. Returns a function that flushes a last unterminated line and
   * gives the number of lines still to add to the total.
   */
  #readStream(
    stream: Readable,
    name: 'stdout' | 'stderr',
    capture: TailBuffer | undefined,
  ): () => number {
    const onLines = this.#options.onLines;
    const backpressure = this.#options.backpressure;
    const onData = this.#options.onData;
    // Registered first, so it sees each chunk before the line splitter does.
    if (onData) stream.on('data', (chunk: Buffer) => onData(chunk, name));
    if (backpressure) {
      let paused = false;
      stream.on('data', () => {
        const wait = paused ? undefined : backpressure();
        if (!wait) return;
        paused = true;
        stream.pause();
        void wait.then(() => {
          paused = false;
          stream.resume();
        });
      });
    }
    if (onLines) {
      let time = 0;
      const splitter = new LineRunSplitter(
        (bytes, count, open) => {
          this.#lines += count;
          onLines(name, bytes, count, open, time);
        },
        { maxLineBytes: this.#options.maxLineBytes },
      );
      stream.on('data', (chunk: Buffer) => {
        time = Date.now();
        this.#bytes += chunk.length;
        capture?.push(chunk);
        splitter.push(chunk);
      });
      return () => {
        time = Date.now();
        splitter.end();
        return 0;
      };
    }
    let lastByte = 10;
    stream.on('data', (chunk: Buffer) => {
      this.#bytes += chunk.length;
      this.#lines += countNewlines(chunk);
      lastByte = chunk[chunk.length - 1] ?? lastByte;
      capture?.push(chunk);
    });
    // A last line without a newline still counts as a line.
    return () => (lastByte === 10 ? 0 : 1);
  }
}

/**
 * Writes or pipes the input into the child's stdin. Returns what undoes a pipe once the child
 * exited: the source is unpiped (so it pauses) but stays open, it belongs to the caller.
 */
function feedStdin(
  stdin: Writable,
  input: string | Uint8Array | Readable,
): (() => void) | undefined {
  // A child that exits without reading its input closes the pipe (EPIPE): not an error of the run.
  stdin.on('error', () => {});
  if (!isReadable(input)) {
    stdin.end(input);
    return undefined;
  }
  // A failing source ends the child's stdin, as its end would.
  const onSourceError = () => stdin.end();
  input.on('error', onSourceError);
  input.pipe(stdin);
  let isDone = false;
  return () => {
    if (isDone) return;
    isDone = true;
    input.unpipe(stdin);
    input.off('error', onSourceError);
    stdin.destroy();
  };
}

/** True when a process other than the (already reaped) leader is still in the group. */
function hasGroupMembers(pgid: number): boolean {
  if (isWindows) return false;
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  // The group answers. It may hold only zombies that no init has reaped yet; ending the
  // tree then finds nothing alive and returns at once.
  return true;
}

function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}
