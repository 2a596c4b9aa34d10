/*
 * The log file: its block format, the writer that appends batches with `writev`, and the
 * readers (`readLogFile`, `streamLogFile`) that scan it back from any seq.
 */
import { close, fstat, ftruncate, mkdir, open, read, writev } from 'node:fs';
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
import { countNewlines } from '../process/line-splitter.js';
import { OutputBatch } from './output-batch.js';

/*
 * The log file is the program's output as it printed it, in blocks. Each block is one header
 * line, then the bytes of its lines untouched:
 *
 *   \x1e<first seq>\t<line count>\t<o|e|s>\t<time ms>\t<data bytes>\t<0|1>\n
 *   <data bytes of lines, each with its \n or \r\n>
 *
 * A block holds consecutive lines of one stream read at one time (one pipe read, typically up
 * to 64 KiB). The last field is 1 when the last line has no newline of its own (a piece of an
 * over-long line, a last line without a newline, a line given to `append()`): runyard added
 * the block's final `\n`, which is not part of the text. Everything else between header lines
 * is the program's own text, so `grep` finds what it printed; the headers start with the ASCII
 * record separator (0x1e), which `grep -v $'^\x1e'` drops. A reader finds the next header by
 * the data length, never by looking at the text. Writing a block costs no copy of its lines.
 *
 * Lines of the previous format, `<seq>\t<time ms>\t<o|e|s>\t<text>\n` one per line, are still
 * read where a header is expected, so older files (and files that mix both) read back whole.
 */

const NEWLINE = 0x0a;
const TAB = 0x09;
const HEADER_MARK = 0x1e;
const NEWLINE_BYTE = Buffer.from('\n');
/** Blocks are sealed into a group and handed to the writer past this many bytes. */
const BATCH_BYTES = 1024 * 1024;
/** A sparse index entry (seq → byte offset) at the first block past this many lines after the last one. */
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

/** The header line of a block holding `batch`. */
function blockHeader(batch: OutputBatch, dataBytes: number): string {
  return `\x1e${batch.firstSeq}\t${batch.count}\t${streamCodes[batch.stream]}\t${batch.time}\t${dataBytes}\t${batch.open ? 1 : 0}\n`;
}

/** Reads the unsigned integer in `buf[start, end)`; -1 when it is not one. */
function parseNumber(buf: Buffer, start: number, end: number): number {
  if (start >= end) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

/** The fields of a block header in `buf[start, end)` (without its newline); undefined when malformed. */
function parseHeader(
  buf: Buffer,
  start: number,
  end: number,
):
  | { seq: number; count: number; stream: OutputStream; time: number; bytes: number; open: boolean }
  | undefined {
  // Six fields: [start, end) of each in `bounds`.
  const bounds: number[] = [];
  let fieldStart = start + 1;
  for (let i = fieldStart; i <= end; i++) {
    if (i === end || buf[i] === TAB) {
      bounds.push(fieldStart, i);
      fieldStart = i + 1;
    }
  }
  if (bounds.length !== 12 || bounds[5]! - bounds[4]! !== 1) return undefined;
  const stream = streamOf(buf[bounds[4]!]);
  const seq = parseNumber(buf, bounds[0]!, bounds[1]!);
  const count = parseNumber(buf, bounds[2]!, bounds[3]!);
  const time = Number(buf.toString('latin1', bounds[6]!, bounds[7]!));
  const bytes = parseNumber(buf, bounds[8]!, bounds[9]!);
  const open = parseNumber(buf, bounds[10]!, bounds[11]!);
  if (
    stream === undefined ||
    seq < 1 ||
    count < 1 ||
    Number.isNaN(time) ||
    bytes < 0 ||
    open < 0 ||
    open > 1
  ) {
    return undefined;
  }
  return { seq, count, stream, time, bytes, open: open === 1 };
}

/** Parses a line of the previous format in `buf[start, end)`; undefined when malformed. */
function parseLegacyLine(buf: Buffer, start: number, end: number): OutputLine | undefined {
  const t1 = buf.indexOf(TAB, start);
  if (t1 < 0 || t1 >= end) return undefined;
  const seq = parseNumber(buf, start, t1);
  const t2 = buf.indexOf(TAB, t1 + 1);
  if (seq < 1 || t2 < 0 || t2 + 2 >= end || buf[t2 + 2] !== TAB) return undefined;
  const stream = streamOf(buf[t2 + 1]);
  const time = Number(buf.toString('latin1', t1 + 1, t2));
  if (stream === undefined || Number.isNaN(time)) return undefined;
  return { seq, stream, text: buf.toString('utf8', t2 + 3, end), time };
}

/** Reads bytes of a file at a position: an open `FileHandle`, or the writer's own fd. */
type ReadAt = (buf: Buffer, offset: number, length: number, position: number) => Promise<number>;

/** @internal Where and how far to scan a log file. */
export interface ScanOptions {
  /** First seq wanted. */
  from: number;
  /** Last seq wanted. @default Infinity */
  to?: number;
  /** Byte offset to start at, the start of a block or line. @default 0 */
  start?: number;
  /** Byte offset to stop at; a block or line not complete by then is never returned. @default end of file */
  end?: number;
  signal?: AbortSignal;
}

/** @internal What one read of a scan found: its batches, and the offset the scan has reached. */
export interface ScanStep {
  batches: OutputBatch[];
  /** Byte offset after the last whole block or line read: where a later scan resumes. */
  offset: number;
}

/**
 * @internal Yields the blocks (and lines of the previous format) of a file with
 * `from <= seq <= to`, as batches, one step per read. Blocks before `from` are skipped on their
 * header alone; no text is decoded. Each read goes to a buffer of its own, so the batches stay
 * valid after the next read.
 */
export async function* scanBatches(readAt: ReadAt, options: ScanOptions): AsyncGenerator<ScanStep> {
  const { from, to = Number.POSITIVE_INFINITY, signal } = options;
  const end = options.end ?? Number.POSITIVE_INFINITY;
  let position = options.start ?? 0;
  /** Bytes of an unfinished block or line from the previous read, and the size it needs. */
  let carry: Buffer | undefined;
  let need = READ_CHUNK_BYTES;
  while (position < end && !signal?.aborted) {
    const kept = carry?.length ?? 0;
    const size = Math.max(READ_CHUNK_BYTES, need, kept * 2);
    const buf = Buffer.allocUnsafe(size);
    if (carry) carry.copy(buf, 0);
    const bytesRead = await readAt(buf, kept, Math.min(size - kept, end - position), position);
    if (bytesRead === 0) break;
    const startOffset = position - kept;
    position += bytesRead;
    const filled = kept + bytesRead;
    const batches: OutputBatch[] = [];
    let at = 0;
    let done = false;
    need = READ_CHUNK_BYTES;
    while (at < filled) {
      const newline = buf.indexOf(NEWLINE, at);
      if (newline === -1 || newline >= filled) break;
      if (buf[at] !== HEADER_MARK) {
        const line = parseLegacyLine(buf, at, newline);
        at = newline + 1;
        if (line === undefined || line.seq < from) continue;
        if (line.seq > to) {
          done = true;
          break;
        }
        batches.push(OutputBatch.ofText(line.seq, line.stream, line.time, line.text));
        continue;
      }
      const header = parseHeader(buf, at, newline);
      if (header === undefined) {
        // Not a header after all: a malformed line, skipped.
        at = newline + 1;
        continue;
      }
      const dataEnd = newline + 1 + header.bytes;
      if (dataEnd > filled) {
        need = dataEnd - at;
        break;
      }
      const lastSeq = header.seq + header.count - 1;
      if (header.seq > to) {
        done = true;
        break;
      }
      if (lastSeq >= from) {
        const dataBytes = header.open ? header.bytes - 1 : header.bytes;
        const bytes = buf.subarray(newline + 1, newline + 1 + Math.max(0, dataBytes));
        const batch = new OutputBatch(
          header.seq,
          header.count,
          header.stream,
          header.time,
          bytes,
          header.open,
        );
        batches.push(batch.slice(from, to));
      }
      at = dataEnd;
    }
    yield { batches, offset: startOffset + at };
    if (done) return;
    carry = at < filled ? buf.subarray(at, filled) : undefined;
  }
}

/** @internal `scanBatches` over a file opened for it. */
export async function* scanFileBatches(
  path: string,
  options: ScanOptions,
): AsyncGenerator<ScanStep> {
  const handle = await openHandle(path, 'r');
  try {
    const readAt: ReadAt = async (buf, offset, length, position) =>
      (await handle.read(buf, offset, length, position)).bytesRead;
    yield* scanBatches(readAt, options);
  } finally {
    await handle.close();
  }
}

/**
 * @internal Yields the file's lines with `from <= seq <= to` in arrays, one per chunk read.
 * Blocks before `from` are skipped on their header alone, without decoding their text.
 */
export async function* scanLogFile(
  path: string,
  options: ScanOptions,
): AsyncGenerator<OutputLine[]> {
  for await (const step of scanFileBatches(path, options)) {
    const lines: OutputLine[] = [];
    for (const batch of step.batches) for (const line of batch.lines()) lines.push(line);
    if (lines.length > 0) yield lines;
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

/** @internal Reads up to `limit` lines of a scan, as batches. */
export async function readBatches(
  scan: AsyncIterable<ScanStep>,
  limit: number,
): Promise<OutputBatch[]> {
  const out: OutputBatch[] = [];
  let lines = 0;
  if (limit === 0) return out;
  for await (const step of scan) {
    for (const batch of step.batches) {
      const room = limit - lines;
      const taken =
        batch.count <= room ? batch : batch.slice(batch.firstSeq, batch.firstSeq + room - 1);
      out.push(taken);
      lines += taken.count;
      if (lines === limit) return out;
    }
  }
  return out;
}

/** @internal The lines of some batches, in order. */
export function linesOf(batches: readonly OutputBatch[]): OutputLine[] {
  const out: OutputLine[] = [];
  for (const batch of batches) for (const line of batch.lines()) out.push(line);
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
  return readBatches(scanFileBatches(path, { from }), limit).then(linesOf);
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
  for await (const lines of scanLogFile(path, { from, signal })) {
    for (const line of lines) {
      if (signal?.aborted) return;
      yield line;
    }
  }
}

/** A sealed group of blocks, written with one `writev`. */
interface Chunk {
  buffers: Buffer[];
  bytes: number;
  /** Where each block ends (from the chunk's start) and its last seq, to keep whole blocks of a torn write. */
  blockEnds: number[];
  blockSeqs: number[];
  batches: OutputBatch[];
  lastSeq: number;
}

/**
 * @internal The append-only writer behind `OutputLog`: turns each batch into a block (a header
 * and the batch's own bytes, not copied), gathers blocks past 256 KiB or until the next
 * event-loop turn, and writes each group with one `writev`, one in flight at a time, on an fd
 * opened with flag 'a+'. The same fd serves reads of the lines already written, so a follower
 * catching up costs no open. The first error (disk full, not a file) stops all writing; it is
 * kept in `error`, never thrown, and told to `onError` with the first seq that is not in the
 * file. A group written in part is cut back to its last whole block, so the file never ends on
 * a torn block.
 *
 * It also keeps a sparse index, the byte offset of a block about every 1024 lines, so a read of
 * an old seq starts near it instead of at the start of a huge file.
 */
export class LogFileWriter {
  readonly path: string;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #pendingSeq = 0;
  #pendingEnds: number[] = [];
  #pendingSeqs: number[] = [];
  #pendingBatches: OutputBatch[] = [];
  #chunks: Chunk[] = [];
  /** Bytes of all blocks added, relative to `#base`. */
  #addedBytes = 0;
  /** Bytes confirmed written, relative to `#base`. */
  #writtenBytes = 0;
  #writtenSeq = 0;
  /** Size of the file when opened: appended blocks start there. */
  #base = 0;
  /** First seqs of indexed blocks and their offsets (relative to `#base`), ascending. */
  #indexSeqs: number[] = [];
  #indexOffsets: number[] = [];
  #fd: number | undefined;
  #reads = 0;
  #readsDone: (() => void) | undefined;
  #error: Error | undefined;
  #draining = false;
  #closed = false;
  #immediate: NodeJS.Immediate | undefined;
  #waiters: { seq: number; resolve: () => void }[] = [];
  #backlogWaiters: { bytes: number; resolve: () => void }[] = [];
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

  /** Blocks waiting to be written, in bytes. */
  get pendingBytes(): number {
    return this.#addedBytes - this.#writtenBytes;
  }

  /** Adds a batch as one block (seqs come in order, without gaps). */
  add(batch: OutputBatch): void {
    if (this.#error !== undefined || this.#closed) return;
    const lastIndexed = this.#indexSeqs.at(-1);
    if (lastIndexed === undefined || batch.firstSeq - lastIndexed >= INDEX_EVERY) {
      this.#indexSeqs.push(batch.firstSeq);
      this.#indexOffsets.push(this.#addedBytes);
    }
    const dataBytes = batch.bytes.length + (batch.open ? 1 : 0);
    const header = blockHeader(batch, dataBytes);
    // The header is ASCII: one byte a character.
    const blockBytes = header.length + dataBytes;
    this.#pending.push(Buffer.from(header, 'latin1'), batch.bytes);
    if (batch.open) this.#pending.push(NEWLINE_BYTE);
    this.#pendingBytes += blockBytes;
    this.#pendingEnds.push(this.#pendingBytes);
    this.#pendingSeqs.push(batch.lastSeq);
    this.#pendingBatches.push(batch);
    this.#pendingSeq = batch.lastSeq;
    this.#addedBytes += blockBytes;
    if (this.#pendingBytes >= BATCH_BYTES) {
      this.#seal();
      if (!this.#draining) void this.#drain();
    } else if (this.#immediate === undefined && !this.#draining) {
      this.#immediate = setImmediate(this.#onImmediate);
    }
  }

  /** Byte offsets where a scan for `seq` may start and must stop; call once `seq` is written. */
  scanRange(seq: number): { start: number; end: number } {
    const seqs = this.#indexSeqs;
    let low = 0;
    let high = seqs.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (seqs[mid]! <= seq) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    const offset = found === -1 ? 0 : this.#indexOffsets[found]!;
    return { start: this.#base + offset, end: this.#base + this.#writtenBytes };
  }

  /**
   * Scans the written part of the file from `seq` on, through the writer's fd while it is open
   * (else the file is opened for it).
   */
  scan(options: ScanOptions): AsyncGenerator<ScanStep> {
    const { start, end } = this.scanRange(options.from);
    if (this.#fd === undefined) return scanFileBatches(this.path, { ...options, start, end });
    return scanBatches(this.#readAt, { ...options, start, end });
  }

  #readAt: ReadAt = (buf, offset, length, position) => {
    const fd = this.#fd;
    // Closed meanwhile: the file is complete, read it by its path.
    if (fd === undefined) {
      return openHandle(this.path, 'r').then(async (handle) => {
        try {
          return (await handle.read(buf, offset, length, position)).bytesRead;
        } finally {
          await handle.close();
        }
      });
    }
    this.#reads++;
    return new Promise<number>((resolve, reject) =>
      read(fd, buf, offset, length, position, (error, bytesRead) => {
        if (--this.#reads === 0) this.#readsDone?.();
        if (error) reject(error);
        else resolve(bytesRead);
      }),
    );
  };

  /** Resolves once line `seq` is in the file, or writing stopped for an error. */
  waitWritten(seq: number): Promise<void> {
    if (this.#writtenSeq >= seq || this.#error !== undefined) return Promise.resolve();
    if (!this.#draining && this.#immediate === undefined) void this.#drain();
    return new Promise((resolve) => this.#waiters.push({ seq, resolve }));
  }

  /** Resolves once fewer than `bytes` wait to be written, or writing stopped for an error. */
  waitPendingBelow(bytes: number): Promise<void> {
    if (this.pendingBytes < bytes || this.#error !== undefined) return Promise.resolve();
    if (!this.#draining && this.#immediate === undefined) void this.#drain();
    return new Promise((resolve) => this.#backlogWaiters.push({ bytes, resolve }));
  }

  /** Writes what is pending, then closes the fd; creates the file when nothing was written. */
  async close(): Promise<void> {
    await this.waitWritten(this.#pendingSeq);
    this.#closed = true;
    if (this.#fd === undefined && this.#error === undefined) await this.#open().catch(this.#fail);
    // A read in flight on the fd finishes first: a closed fd number may be reused at once.
    if (this.#reads > 0) {
      await new Promise<void>((resolve) => {
        this.#readsDone = resolve;
      });
    }
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
    this.#chunks.push({
      buffers: this.#pending,
      bytes: this.#pendingBytes,
      blockEnds: this.#pendingEnds,
      blockSeqs: this.#pendingSeqs,
      batches: this.#pendingBatches,
      lastSeq: this.#pendingSeq,
    });
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#pendingEnds = [];
    this.#pendingSeqs = [];
    this.#pendingBatches = [];
  }

  #fail = (error: Error): void => {
    const isFirst = this.#error === undefined;
    this.#error ??= error;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#pendingEnds = [];
    this.#pendingSeqs = [];
    this.#pendingBatches = [];
    this.#chunks = [];
    // Nothing waits to be written any more: a producer must not pause for it.
    this.#addedBytes = this.#writtenBytes;
    this.#settleWaiters();
    if (isFirst) this.#onError?.(error, this.#writtenSeq + 1);
  };

  /**
   * A write failed `written` bytes into `chunk`: its whole blocks among them count as written,
   * and the whole lines of a block written in part are kept as a shorter block of their own
   * (written again in the room the torn block leaves, so it fits on a full disk too).
   */
  async #keepWholeLines(chunk: Chunk, written: number): Promise<void> {
    let torn = 0;
    let blockStart = 0;
    while (torn < chunk.blockEnds.length && chunk.blockEnds[torn]! <= written) {
      blockStart = chunk.blockEnds[torn++]!;
    }
    if (torn > 0) {
      this.#writtenBytes += blockStart;
      this.#writtenSeq = chunk.blockSeqs[torn - 1]!;
    }
    await this.#cutTornTail();
    const batch = chunk.batches[torn];
    if (batch === undefined) return;
    const dataBytes = batch.bytes.length + (batch.open ? 1 : 0);
    const headerBytes = chunk.blockEnds[torn]! - blockStart - dataBytes;
    const dataWritten = Math.min(written - blockStart - headerBytes, batch.bytes.length);
    if (dataWritten <= 0) return;
    const wholeLines = countNewlines(batch.bytes.subarray(0, dataWritten));
    if (wholeLines === 0) return;
    const kept = batch.slice(batch.firstSeq, batch.firstSeq + wholeLines - 1);
    const header = Buffer.from(blockHeader(kept, kept.bytes.length), 'latin1');
    const block: Chunk = {
      buffers: [header, kept.bytes],
      bytes: header.length + kept.bytes.length,
      blockEnds: [],
      blockSeqs: [],
      batches: [],
      lastSeq: kept.lastSeq,
    };
    try {
      await writeAll(this.#fd!, block, { chunk: block, written: 0 });
      this.#writtenBytes += block.bytes;
      this.#writtenSeq = kept.lastSeq;
    } catch {
      await this.#cutTornTail();
    }
  }

  /** Cuts what a failed write left of a group, so the file ends after its last whole block. */
  async #cutTornTail(): Promise<void> {
    const fd = this.#fd;
    if (fd === undefined) return;
    const size = this.#base + this.#writtenBytes;
    // Best effort: shrinking a file frees space, so it works on a full disk too.
    await new Promise<void>((resolve) => ftruncate(fd, size, () => resolve()));
  }

  #settleWaiters(): void {
    const stopped = this.#error !== undefined;
    if (this.#backlogWaiters.length > 0) {
      this.#backlogWaiters = this.#backlogWaiters.filter((waiter) => {
        if (!stopped && this.pendingBytes >= waiter.bytes) return true;
        waiter.resolve();
        return false;
      });
    }
    if (this.#waiters.length === 0) return;
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
      open(this.path, 'a+', (error, fd) => (error ? reject(error) : resolve(fd))),
    );
    this.#fd = fd;
    this.#base = await new Promise<number>((resolve, reject) =>
      fstat(fd, (error, stats) => (error ? reject(error) : resolve(stats.size))),
    );
  }

  /** The single writer: writes the sealed groups in order until nothing is pending. */
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
          progress.chunk = chunk;
          progress.written = 0;
          await writeAll(this.#fd!, chunk, progress);
          progress.chunk = undefined;
          this.#writtenBytes += chunk.bytes;
          this.#writtenSeq = chunk.lastSeq;
          this.#settleWaiters();
        }
      }
    } catch (error) {
      if (progress.chunk) await this.#keepWholeLines(progress.chunk, progress.written);
      else await this.#cutTornTail();
      this.#fail(error as Error);
    } finally {
      this.#draining = false;
    }
  }
}

/** The group being written and how much of it is in the file, for when a write fails. */
interface WriteProgress {
  chunk: Chunk | undefined;
  written: number;
}

/** Writes all of a group with `writev`, again from where a short write stopped. */
async function writeAll(fd: number, chunk: Chunk, progress: WriteProgress): Promise<void> {
  let buffers = chunk.buffers;
  while (progress.written < chunk.bytes) {
    const written = await new Promise<number>((resolve, reject) =>
      writev(fd, buffers, null, (error, bytes) => (error ? reject(error) : resolve(bytes))),
    );
    progress.written += written;
    if (progress.written >= chunk.bytes) return;
    // A short write: go on with the bytes not written yet.
    let skip = written;
    let index = 0;
    while (skip >= buffers[index]!.length) skip -= buffers[index++]!.length;
    buffers = [buffers[index]!.subarray(skip), ...buffers.slice(index + 1)];
  }
}
