import { close, fstat, ftruncate, mkdir, open, write } from 'node:fs';
import { open as openHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  checkAbortSignal,
  checkArgString,
  checkKnownKeys,
  checkPlainObject,
  invalid,
  type OutputLine,
  type OutputStream,
} from '../core/index.js';

/*
 * The log file holds one output line per file line:
 *
 *   <seq>\t<time ms>\t<o|e|s>\t<text>\n
 *
 * The text is the last field, so it may hold tabs and '\r'; it never holds '\n'. The format is
 * greppable (`grep -P '\te\t' run.log` shows stderr) and costs one string concatenation a line.
 */

const NEWLINE = 0x0a;
const TAB = 0x09;
/** A batch is sealed into a Buffer and handed to the writer past this many bytes. */
const BATCH_BYTES = 256 * 1024;
/** One sparse index entry (seq → byte offset) every this many lines. */
const INDEX_EVERY = 1024;
const READ_CHUNK_BYTES = 64 * 1024;

/** The one-letter code of each stream in the file. */
export const streamCodes: Readonly<Record<OutputStream, string>> = {
  stdout: 'o',
  stderr: 'e',
  system: 's',
};

function streamOf(byte: number | undefined): OutputStream | undefined {
  if (byte === 0x6f) return 'stdout';
  if (byte === 0x65) return 'stderr';
  if (byte === 0x73) return 'system';
  return undefined;
}

/** Formats one line as it is stored in the file, newline included. */
export function formatLogLine(line: OutputLine): string {
  return `${line.seq}\t${line.time}\t${streamCodes[line.stream]}\t${line.text}\n`;
}

/** Reads the seq at the start of a file line without decoding it; -1 when malformed. */
function parseSeq(buf: Buffer, start: number, end: number): number {
  let seq = 0;
  let i = start;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === TAB) break;
    if (c < 0x30 || c > 0x39) return -1;
    seq = seq * 10 + (c - 0x30);
  }
  return i === start || i === end ? -1 : seq;
}

/** Parses the file line in `buf[start, end)` (without its newline); undefined when malformed. */
function parseLine(buf: Buffer, seq: number, start: number, end: number): OutputLine | undefined {
  const t1 = buf.indexOf(TAB, start);
  const t2 = buf.indexOf(TAB, t1 + 1);
  if (t2 < 0 || t2 + 2 >= end || buf[t2 + 2] !== TAB) return undefined;
  const stream = streamOf(buf[t2 + 1]);
  const time = Number(buf.toString('latin1', t1 + 1, t2));
  if (stream === undefined || Number.isNaN(time)) return undefined;
  return { seq, stream, text: buf.toString('utf8', t2 + 3, end), time };
}

/** @internal Where and how far to scan a log file. */
export interface ScanOptions {
  /** First seq wanted. */
  from: number;
  /** Last seq wanted. @default Infinity */
  to?: number;
  /** Byte offset to start at, the start of a line. @default 0 */
  start?: number;
  /** Byte offset to stop at; a last line without its newline is never returned. @default end of file */
  end?: number;
  signal?: AbortSignal;
}

/**
 * @internal Yields the file's lines with `from <= seq <= to` in batches, one batch per chunk
 * read. Lines before `from` are skipped on their seq alone, without decoding their text.
 */
export async function* scanLogFile(
  path: string,
  options: ScanOptions,
): AsyncGenerator<OutputLine[]> {
  const { from, to = Number.POSITIVE_INFINITY, signal } = options;
  const handle = await openHandle(path, 'r');
  try {
    const end = options.end ?? Number.POSITIVE_INFINITY;
    let position = options.start ?? 0;
    let buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    let filled = 0;
    while (position < end && !signal?.aborted) {
      if (filled === buf.length) {
        // One line longer than the buffer: grow it.
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const want = Math.min(buf.length - filled, end - position);
      const { bytesRead } = await handle.read(buf, filled, want, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      filled += bytesRead;
      const view = buf.subarray(0, filled);
      const batch: OutputLine[] = [];
      let lineStart = 0;
      let done = false;
      for (let nl = view.indexOf(NEWLINE); nl !== -1; nl = view.indexOf(NEWLINE, lineStart)) {
        const seq = parseSeq(buf, lineStart, nl);
        if (seq > to) {
          done = true;
          break;
        }
        if (seq >= from) {
          const line = parseLine(buf, seq, lineStart, nl);
          if (line) batch.push(line);
        }
        lineStart = nl + 1;
      }
      if (batch.length > 0) yield batch;
      if (done) return;
      // Keep the unfinished last line for the next read.
      buf.copy(buf, 0, lineStart, filled);
      filled -= lineStart;
    }
  } finally {
    await handle.close();
  }
}

/** @internal */
export function checkNonNegativeInteger(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw invalid(field, 'a non-negative integer', value);
  }
}

/** @internal Validates `{ from, limit }` and applies their defaults. */
export function readRange(options: { from?: number; limit?: number } | undefined): {
  from: number;
  limit: number;
} {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, ['from', 'limit']);
  checkNonNegativeInteger('from', options?.from);
  checkNonNegativeInteger('limit', options?.limit);
  return { from: Math.max(1, options?.from ?? 1), limit: options?.limit ?? 1000 };
}

/** @internal Reads up to `limit` lines of a scan. */
export async function readLogLines(
  path: string,
  limit: number,
  options: ScanOptions,
): Promise<OutputLine[]> {
  const out: OutputLine[] = [];
  if (limit === 0) return out;
  for await (const batch of scanLogFile(path, options)) {
    for (const line of batch) {
      out.push(line);
      if (out.length === limit) return out;
    }
  }
  return out;
}

/**
 * Reads a log file written by `OutputLog` (for `runyard logs` when no run is live): lines with
 * `seq >= from`, up to `limit`. Rejects with the file system's error when the file is missing.
 *
 * @example
 * const lines = await readLogFile('.runyard/logs/0190….log', { from: 1, limit: 100 });
 */
export function readLogFile(
  path: string,
  options?: {
    /** First seq. @default 1 */
    from?: number;
    /** Most lines returned. @default 1000 */
    limit?: number;
  },
): Promise<OutputLine[]> {
  checkArgString('path', path, { nonEmpty: true });
  const { from, limit } = readRange(options);
  return readLogLines(path, limit, { from });
}

/**
 * Streams a log file's lines with `seq >= from`, reading it in chunks, so big files never sit in
 * memory. Ends at the end of the file, or quietly when `signal` aborts.
 *
 * @example
 * for await (const line of streamLogFile(path, { from: 500 })) console.log(line.text);
 */
export function streamLogFile(
  path: string,
  options?: {
    /** First seq. @default 1 */
    from?: number;
    signal?: AbortSignal;
  },
): AsyncIterableIterator<OutputLine> {
  checkArgString('path', path, { nonEmpty: true });
  checkPlainObject('options', options);
  checkKnownKeys('options', options, ['from', 'signal']);
  checkAbortSignal('signal', options?.signal);
  const { from } = readRange({ from: options?.from });
  return streamLines(path, from, options?.signal);
}

async function* streamLines(
  path: string,
  from: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<OutputLine> {
  for await (const batch of scanLogFile(path, { from, signal })) {
    for (const line of batch) {
      if (signal?.aborted) return;
      yield line;
    }
  }
}

interface Chunk {
  buf: Buffer;
  lastSeq: number;
}

/**
 * @internal The append-only writer behind `OutputLog`: batches lines into one string, seals it
 * into a Buffer past 256 KiB or on the next event-loop turn, and writes the Buffers in order,
 * one `fs.write` in flight at a time, on an fd opened with flag 'a'. The first error (disk full,
 * not a file) stops all writing; it is kept in `error`, never thrown, and told to `onError`
 * with the first seq that is not in the file. A batch written in part is cut off again, so the
 * file never ends on a torn line.
 *
 * It also keeps a sparse index, the byte offset of every 1024th line, so a read of an old seq
 * starts near it instead of at the start of a huge file.
 */
export class LogFileWriter {
  readonly path: string;
  #pending = '';
  #pendingBytes = 0;
  #pendingSeq = 0;
  #chunks: Chunk[] = [];
  /** Bytes of all lines added, relative to `#base`. */
  #addedBytes = 0;
  /** Bytes confirmed written, relative to `#base`. */
  #writtenBytes = 0;
  #writtenSeq = 0;
  /** Size of the file when opened: appended lines start there. */
  #base = 0;
  /** `#index[k]` is the offset (relative to `#base`) of seq `k * 1024 + 1`. */
  #index: number[] = [];
  #fd: number | undefined;
  #error: Error | undefined;
  #draining = false;
  #closed = false;
  #immediate: NodeJS.Immediate | undefined;
  #waiters: { seq: number; resolve: () => void }[] = [];
  readonly #onError: ((error: Error, firstLostSeq: number) => void) | undefined;

  constructor(path: string, onError?: (error: Error, firstLostSeq: number) => void) {
    this.path = path;
    this.#onError = onError;
  }

  get error(): Error | undefined {
    return this.#error;
  }

  /** The newest seq known to be in the file. */
  get writtenSeq(): number {
    return this.#writtenSeq;
  }

  /** Lines waiting to be written, in bytes. */
  get pendingBytes(): number {
    return this.#addedBytes - this.#writtenBytes;
  }

  /** Adds line `seq` (seqs come 1, 2, 3…); `textBytes` is the UTF-8 length of `text`. */
  add(seq: number, time: number, code: string, text: string, textBytes: number): void {
    if (this.#error !== undefined || this.#closed) return;
    if ((seq - 1) % INDEX_EVERY === 0) this.#index.push(this.#addedBytes);
    const entry = seq + '\t' + time + '\t' + code + '\t' + text + '\n';
    // Everything but the text is ASCII: one byte a character.
    const bytes = entry.length - text.length + textBytes;
    this.#pending += entry;
    this.#pendingBytes += bytes;
    this.#pendingSeq = seq;
    this.#addedBytes += bytes;
    if (this.#pendingBytes >= BATCH_BYTES) {
      this.#seal();
      if (!this.#draining) void this.#drain();
    } else if (this.#immediate === undefined && !this.#draining) {
      this.#immediate = setImmediate(this.#onImmediate);
    }
  }

  /** Byte offsets where a scan for `seq` may start and must stop; call once `seq` is written. */
  scanRange(seq: number): { start: number; end: number } {
    const k = Math.min(Math.floor((seq - 1) / INDEX_EVERY), this.#index.length - 1);
    return { start: this.#base + (this.#index[k] ?? 0), end: this.#base + this.#writtenBytes };
  }

  /** Resolves once line `seq` is in the file, or writing stopped for an error. */
  waitWritten(seq: number): Promise<void> {
    if (this.#writtenSeq >= seq || this.#error !== undefined) return Promise.resolve();
    if (!this.#draining && this.#immediate === undefined) void this.#drain();
    return new Promise((resolve) => this.#waiters.push({ seq, resolve }));
  }

  /** Writes what is pending, then closes the fd; creates the file when nothing was written. */
  async close(): Promise<void> {
    await this.waitWritten(this.#pendingSeq);
    this.#closed = true;
    if (this.#fd === undefined && this.#error === undefined) await this.#open().catch(this.#fail);
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) {
      await new Promise<void>((resolve) =>
        close(fd, (error) => {
          // Every line was written by now: the error is kept, no line is known to be lost.
          if (error) this.#error ??= error;
          resolve();
        }),
      );
    }
  }

  #onImmediate = (): void => {
    this.#immediate = undefined;
    if (!this.#draining) void this.#drain();
  };

  #seal(): void {
    if (this.#pendingBytes === 0) return;
    this.#chunks.push({ buf: Buffer.from(this.#pending, 'utf8'), lastSeq: this.#pendingSeq });
    this.#pending = '';
    this.#pendingBytes = 0;
  }

  #fail = (error: Error): void => {
    const isFirst = this.#error === undefined;
    this.#error ??= error;
    this.#pending = '';
    this.#pendingBytes = 0;
    this.#chunks = [];
    // Nothing waits to be written any more: a producer must not pause for it.
    this.#addedBytes = this.#writtenBytes;
    this.#settleWaiters();
    if (isFirst) this.#onError?.(error, this.#writtenSeq + 1);
  };

  /** A write failed `written` bytes into `buf`: the whole lines among them count as written. */
  #keepWholeLines(buf: Buffer, written: number): void {
    const lastNewline = buf.lastIndexOf(NEWLINE, written - 1);
    if (written === 0 || lastNewline === -1) return;
    const lineStart = buf.lastIndexOf(NEWLINE, lastNewline - 1) + 1;
    const seq = parseSeq(buf, lineStart, lastNewline);
    if (seq < 1) return;
    this.#writtenBytes += lastNewline + 1;
    this.#writtenSeq = seq;
  }

  /** Cuts what a failed write left of a batch, so the file ends after its last whole line. */
  async #cutTornTail(): Promise<void> {
    const fd = this.#fd;
    if (fd === undefined) return;
    const size = this.#base + this.#writtenBytes;
    // Best effort: shrinking a file frees space, so it works on a full disk too.
    await new Promise<void>((resolve) => ftruncate(fd, size, () => resolve()));
  }

  #settleWaiters(): void {
    if (this.#waiters.length === 0) return;
    const stopped = this.#error !== undefined;
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!stopped && waiter.seq > this.#writtenSeq) return true;
      waiter.resolve();
      return false;
    });
  }

  async #open(): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      mkdir(dirname(this.path), { recursive: true }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
    const fd = await new Promise<number>((resolve, reject) =>
      open(this.path, 'a', (error, fd) => (error ? reject(error) : resolve(fd))),
    );
    this.#fd = fd;
    this.#base = await new Promise<number>((resolve, reject) =>
      fstat(fd, (error, stats) => (error ? reject(error) : resolve(stats.size))),
    );
  }

  /** The single writer: writes the sealed chunks in order until nothing is pending. */
  async #drain(): Promise<void> {
    this.#draining = true;
    const progress: WriteProgress = { chunk: undefined, written: 0 };
    try {
      if (this.#fd === undefined) await this.#open();
      for (;;) {
        this.#seal();
        const chunks = this.#chunks;
        if (chunks.length === 0 || this.#error !== undefined) break;
        this.#chunks = [];
        for (const chunk of chunks) {
          progress.chunk = chunk.buf;
          progress.written = 0;
          await writeAll(this.#fd!, chunk.buf, progress);
          progress.chunk = undefined;
          this.#writtenBytes += chunk.buf.length;
          this.#writtenSeq = chunk.lastSeq;
          this.#settleWaiters();
        }
      }
    } catch (error) {
      if (progress.chunk) this.#keepWholeLines(progress.chunk, progress.written);
      await this.#cutTornTail();
      this.#fail(error as Error);
    } finally {
      this.#draining = false;
    }
  }
}

/** The batch being written and how much of it is in the file, for when a write fails. */
interface WriteProgress {
  chunk: Buffer | undefined;
  written: number;
}

async function writeAll(fd: number, buf: Buffer, progress: WriteProgress): Promise<void> {
  while (progress.written < buf.length) {
    const offset = progress.written;
    progress.written += await new Promise<number>((resolve, reject) =>
      write(fd, buf, offset, buf.length - offset, null, (error, written) =>
        error ? reject(error) : resolve(written),
      ),
    );
  }
}
