import {
  type Clock,
  checkAbortSignal,
  checkArgString,
  checkFunction,
  checkKnownKeys,
  checkPlainObject,
  checkPositiveInteger,
  ErrorCodes,
  invalid,
  type OutputLine,
  type OutputStream,
  RunyardError,
  systemClock,
} from '../core/index.js';
import { Follower } from './follower.js';
import { checkNonNegativeInteger, LogFileWriter, readLogLines, readRange } from './log-file.js';

const MAX_BACKLOG_BYTES = 1024 * 1024;
export interface OutputLogOptions {
  /** Lines kept in memory; past it the oldest line leaves first. `0` keeps none. @default 10_000 */
  tailLines?: number;
  /**
   * Path of the append-only log file; its directory is created. Without it, only the tail is
   * kept and lines that leave it are gone.
   * @default undefined
   */
  file?: string;
  /** Where `append()` takes the time of a line given none. @default systemClock */
  clock?: Clock;
  /**
   * Live lines a follower buffers for a consumer that reads slower than lines come; past it the
   * follower drops its buffer and catches up later with `read()`, from the tail or the file.
   * @default 1000
   */
  highWaterLines?: number;
  /** Receives what a `subscribe()` listener throws. @default console.error */
  onListenerError?: (error: unknown) => void;
}

const outputLogKeys = ['tailLines', 'file', 'clock', 'highWaterLines', 'onListenerError'];

type Listener = (line: OutputLine) => void;

function checkClock(value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || typeof (value as Clock).now !== 'function') {
    throw invalid('clock', 'an object with a `now()` method', value);
  }
}

/**
 * The output of one run: sequence-numbered lines from stdout, stderr and runyard itself
 * (`system`), a bounded tail in memory, all of it in an append-only file when `file` is given,
 * live subscribers, and replay from any seq.
 *
 * @example
 * const log = new OutputLog({ file: '.runyard/logs/0190….log' });
 * log.append('stdout', 'hello');
 * for await (const line of log.follow({ from: 1 })) console.log(line.seq, line.text);
 */
export class OutputLog {
  readonly #tailLines: number;
  readonly #clock: Clock;
  readonly #highWaterLines: number;
  readonly #onListenerError: (error: unknown) => void;
  readonly #writer: LogFileWriter | undefined;
  /** Ring buffer: grows to `#tailLines`, then `#head` is the oldest line and the next to go. */
  #ring: OutputLine[] = [];
  #head = 0;
  #lastSeq = 0;
  #lineCount = 0;
  #byteCount = 0;
  #closed = false;
  /** Closed and the file complete: no line will come any more, not even runyard's own. */
  #ended = false;
  #closing: Promise<void> | undefined;
  readonly #listeners = new Set<Listener>();
  readonly #followers = new Set<Follower>();

  constructor(options: OutputLogOptions = {}) {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, outputLogKeys);
    checkNonNegativeInteger('tailLines', options.tailLines);
    if (options.file !== undefined) checkArgString('file', options.file, { nonEmpty: true });
    checkClock(options.clock);
    checkPositiveInteger('highWaterLines', options.highWaterLines);
    checkFunction('onListenerError', options.onListenerError);
    this.#tailLines = options.tailLines ?? 10_000;
    this.#clock = options.clock ?? systemClock;
    this.#highWaterLines = options.highWaterLines ?? 1000;
    this.#onListenerError = options.onListenerError ?? ((error) => console.error(error));
    this.#writer =
      options.file === undefined
        ? undefined
        : new LogFileWriter(options.file, (error, firstLostSeq) =>
            this.#onFileError(error, firstLostSeq),
          );
  }

  /** The log file's path, when there is one. */
  get file(): string | undefined {
    return this.#writer?.path;
  }

  /** The seq of the newest line; 0 when empty. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** The seq of the oldest line still in memory; `lastSeq + 1` when none is. */
  get firstTailSeq(): number {
    return this.#lastSeq - this.#ring.length + 1;
  }

  /** Lines on stdout and stderr (system lines are not counted). */
  get lineCount(): number {
    return this.#lineCount;
  }

  /** UTF-8 bytes of the stdout and stderr lines, one more per line for its newline. */
  get byteCount(): number {
    return this.#byteCount;
  }

  /**
   * True once a line is lost: it left the tail and there is no file to find it in, or writing the
   * file failed (`fileError`).
   */
  get truncated(): boolean {
    return this.#writer ? this.#writer.error !== undefined : this.firstTailSeq > 1;
  }

  /**
   * The first error writing the file (ENOSPC, EISDIR…); writing stopped there, and a `system`
   * line says from which seq on the file lacks the lines (they stay in the tail).
   */
  get fileError(): Error | undefined {
    return this.#writer?.error;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** @internal True once closed and flushed: followers end when they reach `lastSeq`. */
  get hasEnded(): boolean {
    return this.#ended;
  }

  /** Followers still iterating, for diagnostics and tests. */
  get followerCount(): number {
    return this.#followers.size;
  }

  /** Lines the followers hold in memory, all together; bounded by about 2 × `highWaterLines` each. */
  get bufferedLines(): number {
    let count = 0;
    for (const follower of this.#followers) count += follower.bufferedLines;
    return count;
  }

  /**
   * Adds one line; seq starts at 1 and is shared by all streams. Synchronous and cheap: this is
   * the hot path of every child's output.
   * @throws RunyardError `ERR_CLOSED` after `close()`; `ERR_INVALID` for an unknown stream or a
   * text that is not a string or holds a newline.
   */
  append(stream: OutputStream, text: string, time: number = this.#clock.now()): OutputLine {
    if (this.#closed) throw new RunyardError(ErrorCodes.CLOSED, 'The output log is closed');
    if (typeof text !== 'string' || text.includes('\n')) {
      throw invalid('text', 'a string without a newline', text);
    }
    return this.#add(stream, text, time);
  }

  /** Adds a checked line, also while closing (runyard's own lines about the file). */
  #add(stream: OutputStream, text: string, time: number): OutputLine {
    let code: string;
    let textBytes = 0;
    if (stream === 'stdout' || stream === 'stderr') {
      code = stream === 'stdout' ? 'o' : 'e';
      textBytes = Buffer.byteLength(text, 'utf8');
      this.#lineCount++;
      this.#byteCount += textBytes + 1;
    } else if (stream === 'system') {
      code = 's';
      if (this.#writer) textBytes = Buffer.byteLength(text, 'utf8');
    } else {
      throw invalid('stream', "'stdout', 'stderr' or 'system'", stream);
    }
    const seq = ++this.#lastSeq;
    const line: OutputLine = { seq, stream, text, time };
    const capacity = this.#tailLines;
    if (this.#ring.length < capacity) {
      this.#ring.push(line);
    } else if (capacity > 0) {
      this.#ring[this.#head] = line;
      this.#head = this.#head + 1 === capacity ? 0 : this.#head + 1;
    }
    this.#writer?.add(seq, time, code, text, textBytes);
    if (this.#listeners.size > 0) {
      for (const listener of this.#listeners) {
        try {
          listener(line);
        } catch (error) {
          this.#reportListenerError(error);
        }
      }
    }
    if (this.#followers.size > 0) for (const follower of this.#followers) follower.push(line);
    return line;
  }

  /** Writing the file failed: says so in the output itself, where every reader sees it. */
  #onFileError(error: Error, firstLostSeq: number): void {
    const kept =
      this.#tailLines > 0
        ? `they are kept in memory only (the newest ${this.#tailLines} lines)`
        : 'they are lost';
    this.#add(
      'system',
      `The log file could not be written from line ${firstLostSeq} on (${error.message}): ${kept}`,
      this.#clock.now(),
    );
  }

  /** The newest `limit` lines in memory, oldest first. `limit` defaults to the whole tail. */
  tail(limit?: number): OutputLine[] {
    checkNonNegativeInteger('limit', limit);
    const count = Math.min(limit ?? this.#ring.length, this.#ring.length);
    const out: OutputLine[] = [];
    this.#copyTail(this.#lastSeq - count + 1, count, out);
    return out;
  }

  /**
   * Lines with `seq >= from`, up to `limit`, in order: from memory while they are in the tail,
   * else from the file (flushed first). Lines that are gone (no file) are skipped: the result
   * starts at the oldest seq still available.
   */
  async read(options?: {
    /** First seq. @default 1 */
    from?: number;
    /** Most lines returned. @default 1000 */
    limit?: number;
  }): Promise<OutputLine[]> {
    const { from, limit } = readRange(options);
    const out: OutputLine[] = [];
    let next = from;
    while (out.length < limit && next <= this.#lastSeq) {
      const first = this.firstTailSeq;
      if (next >= first) {
        this.#copyTail(next, Math.min(limit - out.length, this.#lastSeq - next + 1), out);
        break;
      }
      const writer = this.#writer;
      const want = Math.min(first - 1, next + (limit - out.length) - 1);
      if (writer) await writer.waitWritten(want);
      if (!writer || writer.writtenSeq < next) {
        // Not in the file (none, or writing failed before it): skip to what memory holds.
        next = Math.max(next, this.firstTailSeq);
        continue;
      }
      const to = Math.min(want, writer.writtenSeq);
      const { start, end } = writer.scanRange(next);
      const lines = await readLogLines(writer.path, to - next + 1, { from: next, to, start, end });
      for (const line of lines) out.push(line);
      next = Math.max(to + 1, (lines.at(-1)?.seq ?? 0) + 1);
    }
    return out;
  }

  /**
   * Calls `listener` with every line appended from now on, synchronously inside `append()`.
   * A listener that throws is reported to `onListenerError` and never breaks `append()`.
   * @returns The unsubscribe function.
   */
  subscribe(listener: (line: OutputLine) => void): () => void {
    checkFunction('listener', listener);
    if (this.#closed) return () => {};
    const own: Listener = (line) => listener(line);
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }

  /**
   * Replays the lines from `from`, then live lines as they come, in order, without gap or
   * duplicate. Ends, once everything was delivered, when the log is closed; ends quietly when
   * `signal` aborts or the loop breaks. A slow consumer never slows `append()` and never loses a
   * line the tail or the file still has: its follower buffers at most ~`highWaterLines` live
   * lines, then drops them and catches up with `read()`.
   */
  follow(options?: {
    /** First seq. @default 1 */
    from?: number;
    signal?: AbortSignal;
  }): AsyncIterableIterator<OutputLine> {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, ['from', 'signal']);
    checkAbortSignal('signal', options?.signal);
    const { from } = readRange({ from: options?.from });
    const follower = new Follower(this, from, this.#highWaterLines, options?.signal, (gone) => {
      this.#followers.delete(gone);
    });
    if (!follower.isDone) this.#followers.add(follower);
    return follower;
  }

  /** Resolves when every line appended so far is in the file (or writing it failed). */
  flush(): Promise<void> {
    return this.#writer ? this.#writer.waitWritten(this.#lastSeq) : Promise.resolve();
  }

  /**
   * No more lines: flushes and closes the file, lets followers end once they have delivered
   * everything. Idempotent: a second call returns the same promise. Never rejects; a file error
   * is in `fileError`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * `undefined` while the file keeps up. Once more than 1 MiB waits to be written, a promise that
   * resolves when they are: a producer that can pause (a child's pipes) awaits it, so a disk
   * slower than the child bounds memory instead of letting it grow.
   */
  backlog(): Promise<void> | undefined {
    const writer = this.#writer;
    if (writer === undefined || writer.pendingBytes < MAX_BACKLOG_BYTES) return undefined;
    return writer.waitWritten(this.#lastSeq);
  }

  /** Drops the in-memory tail (when the run ended and nobody follows); `read()` then uses the file. */
  releaseMemory(): void {
    this.#ring = [];
    this.#head = 0;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    // The file's last write may still fail and add a system line: followers and listeners
    // hear the end only after it.
    await this.#writer?.close();
    this.#ended = true;
    this.#listeners.clear();
    for (const follower of this.#followers) follower.wake();
  }

  /** Appends to `out` the `count` tail lines from `seq` on. */
  #copyTail(seq: number, count: number, out: OutputLine[]): void {
    const ring = this.#ring;
    let index = this.#head + (seq - this.firstTailSeq);
    for (let i = 0; i < count; i++, index++) {
      if (index >= ring.length) index -= ring.length;
      out.push(ring[index]!);
    }
  }

  #reportListenerError(error: unknown): void {
    try {
      this.#onListenerError(error);
    } catch {
      // The error reporter itself failed: nothing left to tell.
    }
  }
}
