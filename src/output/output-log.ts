/*
 * `OutputLog`: a run's numbered lines, the bounded tail kept in memory, the log file, and
 * the live followers that replay from any seq and then follow.
 */
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
import { BatchFollower, Follower } from './follower.js';
import {
  checkNonNegativeInteger,
  LogFileWriter,
  linesOf,
  readBatches,
  readRange,
} from './log-file.js';
import { OutputBatch } from './output-batch.js';

/** Past this many bytes waiting for the file, a producer pauses… */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
/** …until the writer is back under this many, so reading and writing overlap again at once. */
const RESUME_BACKLOG_BYTES = 1024 * 1024;
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
   * follower drops its buffer and catches up later from the tail or the file, this many lines
   * at a time. Live batches are shared with the tail, so buffering them costs little.
   * @default 10_000
   */
  highWaterLines?: number;
  /** Receives what a `subscribe()` listener throws. @default console.error */
  onListenerError?: (error: unknown) => void;
}

const outputLogKeys = ['tailLines', 'file', 'clock', 'highWaterLines', 'onListenerError'];

type Listener = (line: OutputLine) => void;

const streamKeys = { stdout: true, stderr: true, system: true } as const;

function checkClock(value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || typeof (value as Clock).now !== 'function') {
    throw invalid('clock', 'an object with a `now()` method', value);
  }
}

/**
 * The output of one run: sequence-numbered lines from stdout, stderr and runyard itself
 * (`system`), a bounded tail in memory, all of it in an append-only file when `file` is given,
 * live subscribers, and replay from any seq. Lines are kept as the bytes the program printed,
 * in batches (`OutputBatch`), and become objects only when a reader asks for them.
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
  /** The tail: batches from `#head` on, oldest first, holding at least the newest `#tailLines` lines. */
  #tail: OutputBatch[] = [];
  #head = 0;
  #lastSeq = 0;
  #lineCount = 0;
  #byteCount = 0;
  #closed = false;
  /** Closed and the file complete: no line will come any more, not even runyard's own. */
  #ended = false;
  #closing: Promise<void> | undefined;
  readonly #listeners = new Set<Listener>();
  readonly #followers = new Set<BatchFollower>();

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
    this.#highWaterLines = options.highWaterLines ?? 10_000;
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
    const oldest = this.#tail[this.#head];
    if (oldest === undefined) return this.#lastSeq + 1;
    return Math.max(oldest.firstSeq, this.#lastSeq - this.#tailLines + 1);
  }

  /** Lines on stdout and stderr (system lines are not counted). */
  get lineCount(): number {
    return this.#lineCount;
  }

  /**
   * Bytes of the stdout and stderr lines as the program printed them, line endings included (a
   * line without a newline of its own counts one more); for a line given to `append()`, its
   * UTF-8 length and one for the newline.
   */
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

  /**
   * Lines the followers hold in memory, all together; bounded by about 2 × `highWaterLines`
   * each (and the batch a line follower is in).
   */
  get bufferedLines(): number {
    let count = 0;
    for (const follower of this.#followers) count += follower.bufferedLines;
    return count;
  }

  /**
   * Adds one line; seq starts at 1 and is shared by all streams. Synchronous and cheap.
   * @throws RunyardError `ERR_CLOSED` after `close()`; `ERR_INVALID` for an unknown stream or a
   * text that is not a string or holds a newline.
   */
  append(stream: OutputStream, text: string, time: number = this.#clock.now()): OutputLine {
    if (this.#closed) throw new RunyardError(ErrorCodes.CLOSED, 'The output log is closed');
    if (typeof text !== 'string' || text.includes('\n')) {
      throw invalid('text', 'a string without a newline', text);
    }
    if (!Object.hasOwn(streamKeys, stream)) {
      throw invalid('stream', "'stdout', 'stderr' or 'system'", stream);
    }
    const batch = OutputBatch.ofText(this.#lastSeq + 1, stream, time, text);
    this.#add(batch);
    return { seq: batch.firstSeq, stream, text, time };
  }

  /**
   * @internal Adds the lines a pipe read gave, as bytes (see `OnLineRun` of the line splitter):
   * the hot path of every child's output, no line decoded unless a listener wants lines.
   * Returns the batch, numbered.
   */
  appendRun(
    stream: 'stdout' | 'stderr',
    bytes: Buffer,
    count: number,
    open: boolean,
    time: number,
  ): OutputBatch {
    if (this.#closed) throw new RunyardError(ErrorCodes.CLOSED, 'The output log is closed');
    const batch = new OutputBatch(this.#lastSeq + 1, count, stream, time, bytes, open);
    this.#add(batch);
    return batch;
  }

  /** Adds a numbered batch, also while closing (runyard's own lines about the file). */
  #add(batch: OutputBatch): void {
    if (batch.stream !== 'system') {
      this.#lineCount += batch.count;
      this.#byteCount += batch.bytes.length + (batch.open ? 1 : 0);
    }
    this.#lastSeq = batch.lastSeq;
    if (this.#tailLines > 0) {
      this.#tail.push(batch);
      this.#trimTail();
    }
    this.#writer?.add(batch);
    if (this.#listeners.size > 0) {
      const lines = batch.lines();
      for (const listener of this.#listeners) {
        for (const line of lines) {
          try {
            listener(line);
          } catch (error) {
            this.#reportListenerError(error);
          }
        }
      }
    }
    if (this.#followers.size > 0) for (const follower of this.#followers) follower.push(batch);
  }

  /** Drops the batches whose lines all left the tail. */
  #trimTail(): void {
    const tail = this.#tail;
    const oldestKept = this.#lastSeq - this.#tailLines + 1;
    while (this.#head < tail.length && tail[this.#head]!.lastSeq < oldestKept) {
      tail[this.#head++] = undefined as unknown as OutputBatch;
    }
    // Compact now and then so dropped slots do not pile up.
    if (this.#head > 1024 && this.#head * 2 > tail.length) {
      this.#tail = tail.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Writing the file failed: says so in the output itself, where every reader sees it. */
  #onFileError(error: Error, firstLostSeq: number): void {
    const kept =
      this.#tailLines > 0
        ? `they are kept in memory only (the newest ${this.#tailLines} lines)`
        : 'they are lost';
    const text = `The log file could not be written from line ${firstLostSeq} on (${error.message}): ${kept}`;
    this.#add(OutputBatch.ofText(this.#lastSeq + 1, 'system', this.#clock.now(), text));
  }

  /** The newest `limit` lines in memory, oldest first. `limit` defaults to the whole tail. */
  tail(limit?: number): OutputLine[] {
    checkNonNegativeInteger('limit', limit);
    const inTail = this.#lastSeq - this.firstTailSeq + 1;
    const count = Math.min(limit ?? inTail, inTail);
    return linesOf(this.#tailBatches(this.#lastSeq - count + 1, count));
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
    return linesOf(await this.readBatches(from, limit));
  }

  /**
   * @internal `read()` as batches, undecoded: lines with `seq >= from`, up to `limit` lines.
   */
  async readBatches(from: number, limit: number): Promise<OutputBatch[]> {
    const out: OutputBatch[] = [];
    let lines = 0;
    let next = from;
    while (lines < limit && next <= this.#lastSeq) {
      const first = this.firstTailSeq;
      if (next >= first) {
        for (const batch of this.#tailBatches(
          next,
          Math.min(limit - lines, this.#lastSeq - next + 1),
        )) {
          out.push(batch);
        }
        break;
      }
      const writer = this.#writer;
      const want = Math.min(first - 1, next + (limit - lines) - 1);
      if (writer) await writer.waitWritten(want);
      if (!writer || writer.writtenSeq < next) {
        // Not in the file (none, or writing failed before it): skip to what memory holds.
        next = Math.max(next, this.firstTailSeq);
        continue;
      }
      const to = Math.min(want, writer.writtenSeq);
      const batches = await readBatches(writer.scan({ from: next, to }), to - next + 1);
      for (const batch of batches) {
        out.push(batch);
        lines += batch.count;
      }
      next = Math.max(to + 1, (batches.at(-1)?.lastSeq ?? 0) + 1);
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
   * lines, then drops them and catches up from the tail or the file. Built on `batches()`:
   * each batch is decoded when the consumer reaches it.
   */
  follow(options?: {
    /** First seq. @default 1 */
    from?: number;
    signal?: AbortSignal;
  }): AsyncIterableIterator<OutputLine> {
    return new Follower(this.#batchFollower(options));
  }

  /**
   * `follow()` in batches: replay from `from`, then live, as `OutputBatch`es of consecutive
   * lines of one stream, undecoded — the bytes as the program printed them, `lines()` when the
   * texts are wanted. The fastest way to read a run's output: a batch is typically one pipe
   * read (up to 64 KiB). Same guarantees as `follow()`: in order, without gap or duplicate, a
   * slow consumer never slows the run and catches up from the tail or the file.
   *
   * @example
   * for await (const batch of handle.output.batches({ from: 1 })) {
   *   console.log(batch.firstSeq, batch.count, batch.stream);
   *   process.stdout.write(batch.bytes);
   * }
   */
  batches(options?: {
    /** First seq. @default 1 */
    from?: number;
    signal?: AbortSignal;
  }): AsyncIterableIterator<OutputBatch> {
    return this.#batchFollower(options);
  }

  #batchFollower(options: { from?: number; signal?: AbortSignal } | undefined): BatchFollower {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, ['from', 'signal']);
    checkAbortSignal('signal', options?.signal);
    const { from } = readRange({ from: options?.from });
    const follower = new BatchFollower(
      this,
      from,
      this.#highWaterLines,
      options?.signal,
      (gone) => {
        this.#followers.delete(gone);
      },
    );
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
    return writer.waitPendingBelow(RESUME_BACKLOG_BYTES);
  }

  /** Drops the in-memory tail (when the run ended and nobody follows); `read()` then uses the file. */
  releaseMemory(): void {
    this.#tail = [];
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

  /** The tail's batches holding the `count` lines from `seq` on, cut to them. */
  #tailBatches(seq: number, count: number): OutputBatch[] {
    const out: OutputBatch[] = [];
    if (count <= 0) return out;
    const last = seq + count - 1;
    const tail = this.#tail;
    // The first batch that reaches `seq`: a binary search, the tail may hold thousands.
    let low = this.#head;
    let high = tail.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (tail[mid]!.lastSeq < seq) low = mid + 1;
      else high = mid;
    }
    for (let i = low; i < tail.length; i++) {
      const batch = tail[i]!;
      if (batch.firstSeq > last) break;
      out.push(batch.slice(seq, last));
    }
    return out;
  }

  #reportListenerError(error: unknown): void {
    try {
      this.#onListenerError(error);
    } catch {
      // The error reporter itself failed: nothing left to tell.
    }
  }
}
