/*
 * Splits a pipe's bytes into lines (UTF-8 across reads, CRLF, bare `\r`, over-long lines),
 * as runs of bytes so that nothing is decoded until a reader asks for text.
 */
import { checkKnownKeys, checkPlainObject, checkPositiveInteger } from '../core/validate.js';

const LF = 10;
const CR = 13;
/** The longest valid UTF-8 character has a lead byte and three continuation bytes. */
const MAX_CONTINUATION_BYTES = 3;
const DEFAULT_MAX_LINE_BYTES = 1_048_576;

export interface LineSplitterOptions {
  /**
   * Longest line kept whole, in bytes; a longer one is split into pieces of at most this
   * many bytes, never dropped. Pieces are cut at a UTF-8 character boundary.
   * @default 1_048_576
   */
  maxLineBytes?: number;
}

/**
 * Receives a run of whole lines as bytes: `count` lines, each ending at its `\n` (a `\r` right
 * before it is not part of the text), except the last one when `open` is true: that one ends at
 * the end of `bytes` and its text is all of its bytes (a piece of an over-long line, or the last
 * line of a stream without a newline). `decodeLines` turns a run into texts.
 */
export type OnLineRun = (bytes: Buffer, count: number, open: boolean) => void;

/**
 * Splits the bytes a child prints into runs of whole lines, as they arrive, without decoding
 * them: the lines of one chunk come out as one run, a view of the chunk (no copy), so a line is
 * turned into a string only when someone asks for it (`decodeLines`).
 *
 * A line ends at `\n`, and a `\r` right before it is removed (CRLF), also when the two arrive in
 * different chunks; a lone `\r` (a progress bar) stays in the text. A character split across
 * chunks comes out whole, as a line is decoded only once it is complete; invalid bytes become
 * U+FFFD. Memory stays bounded by about `maxLineBytes` plus one chunk whatever the input: an
 * over-long line is emitted in pieces. Only the unfinished last line of a chunk is kept (by
 * reference) until the rest arrives: a chunk must not be modified after it was pushed — pipe
 * and socket chunks never are.
 *
 * @example
 * const splitter = new LineRunSplitter((bytes, count, open) => (lines += count));
 * child.stdout.on('data', (chunk: Buffer) => splitter.push(chunk));
 * child.stdout.on('end', () => splitter.end());
 */
export class LineRunSplitter {
  readonly #onRun: OnLineRun;
  readonly #maxLineBytes: number;
  /** The unfinished last line: the parts in arrival order and their total size. */
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(onRun: OnLineRun, options?: LineSplitterOptions) {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, ['maxLineBytes']);
    checkPositiveInteger('maxLineBytes', options?.maxLineBytes);
    this.#onRun = onRun;
    this.#maxLineBytes = options?.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  }

  /** Feeds one chunk as it came from the pipe. */
  push(chunk: Buffer): void {
    const length = chunk.length;
    if (length === 0) return;
    let start = 0;
    if (this.#pendingBytes > 0) {
      const newline = chunk.indexOf(LF);
      if (newline === -1) {
        this.#keep(chunk);
        return;
      }
      this.#pending.push(chunk.subarray(0, newline + 1));
      this.#pendingBytes += newline + 1;
      this.#emitPending(true);
      start = newline + 1;
    }
    const maxLineBytes = this.#maxLineBytes;
    // The run of short lines not yet emitted starts at `runStart`.
    let runStart = start;
    let count = 0;
    let newline = chunk.indexOf(LF, start);
    while (newline !== -1) {
      // Only a line longer than maxLineBytes (its CR aside) needs a closer look.
      if (newline - start > maxLineBytes) {
        const end = chunk[newline - 1] === CR ? newline - 1 : newline;
        if (end - start > maxLineBytes) {
          if (count > 0) this.#onRun(chunk.subarray(runStart, start), count, false);
          this.#emitPieces(chunk, start, end, newline + 1);
          count = 0;
          runStart = newline + 1;
        } else {
          count++;
        }
      } else {
        count++;
      }
      start = newline + 1;
      newline = chunk.indexOf(LF, start);
    }
    if (count > 0) this.#onRun(chunk.subarray(runStart, start), count, false);
    if (start < length) this.#keep(start === 0 ? chunk : chunk.subarray(start));
  }

  /** The stream ended: a last line without a newline is emitted (an empty remainder is not). */
  end(): void {
    if (this.#pendingBytes > 0) this.#emitPending(false);
  }

  /** Keeps the start of an unfinished line, emitting the pieces an over-long one has filled. */
  #keep(part: Buffer): void {
    this.#pending.push(part);
    this.#pendingBytes += part.length;
    // One byte of slack: a trailing `\r` may turn out to be half of a CRLF and must not
    // make a piece of its own.
    if (this.#pendingBytes > this.#maxLineBytes + 1) {
      const bytes = this.#takePending();
      const rest = this.#emitPieces(bytes, 0, bytes.length, -1);
      this.#pending.push(bytes.subarray(rest));
      this.#pendingBytes = bytes.length - rest;
    }
  }

  /** Emits the pending line; `sawNewline` says whether it ends with its `\n` (CRLF applies). */
  #emitPending(sawNewline: boolean): void {
    const bytes = this.#takePending();
    if (!sawNewline) {
      if (bytes.length <= this.#maxLineBytes) this.#onRun(bytes, 1, true);
      else this.#emitPieces(bytes, 0, bytes.length, bytes.length);
      return;
    }
    let end = bytes.length - 1;
    if (end > 0 && bytes[end - 1] === CR) end--;
    if (end <= this.#maxLineBytes) this.#onRun(bytes, 1, false);
    else this.#emitPieces(bytes, 0, end, bytes.length);
  }

  #takePending(): Buffer {
    const pending = this.#pending;
    const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending, this.#pendingBytes);
    pending.length = 0;
    this.#pendingBytes = 0;
    return bytes;
  }

  /**
   * Emits the line `bytes[start, end)` as pieces of at most `maxLineBytes`. With `lineEnd` ≥ 0
   * the line is complete: the last piece runs to `lineEnd` (past its line ending when it has
   * one, or `end` itself) and all of it is emitted. With `lineEnd` -1 more of the line may
   * follow, so it stops once at most `maxLineBytes + 1` bytes are left and returns where that
   * unemitted rest starts.
   */
  #emitPieces(bytes: Buffer, start: number, end: number, lineEnd: number): number {
    const maxLineBytes = this.#maxLineBytes;
    const final = lineEnd >= 0;
    const keepAtLeast = final ? maxLineBytes : maxLineBytes + 1;
    let position = start;
    while (end - position > keepAtLeast) {
      const cut = cutPoint(bytes, position, maxLineBytes);
      this.#onRun(bytes.subarray(position, cut), 1, true);
      position = cut;
    }
    if (final) {
      this.#onRun(bytes.subarray(position, lineEnd), 1, lineEnd === end);
      return end;
    }
    return position;
  }
}

/**
 * Decodes a run of lines (see `OnLineRun`) and calls `onText` with each line's text.
 *
 * The run is decoded in one call and cut into lines as a string: one native call a run
 * instead of one a line, and each line a slice of the run's string. Decoding the whole run
 * gives the same texts as decoding line by line: `\n` is never part of a UTF-8 sequence, so
 * invalid bytes become U+FFFD on the same side of it either way.
 */
export function decodeLines(
  bytes: Buffer,
  count: number,
  open: boolean,
  onText: (text: string) => void,
): void {
  const text = bytes.toString('utf8');
  let start = 0;
  for (let i = 0; i < count; i++) {
    if (open && i === count - 1) {
      onText(start === 0 ? text : text.slice(start));
      return;
    }
    const newline = text.indexOf('\n', start);
    const end = newline > start && text.charCodeAt(newline - 1) === CR ? newline - 1 : newline;
    onText(text.slice(start, end));
    start = newline + 1;
  }
}

/**
 * Splits the bytes a child prints into text lines, as they arrive: `LineRunSplitter` with each
 * line decoded at once. Same rules (CRLF, a lone `\r` kept, UTF-8 across chunks, U+FFFD for
 * invalid bytes, over-long lines in pieces of at most `maxLineBytes`).
 *
 * @example
 * const splitter = new LineSplitter((line) => console.log(line));
 * child.stdout.on('data', (chunk: Buffer) => splitter.push(chunk));
 * child.stdout.on('end', () => splitter.end());
 */
export class LineSplitter {
  readonly #runs: LineRunSplitter;

  constructor(onLine: (text: string) => void, options?: LineSplitterOptions) {
    this.#runs = new LineRunSplitter(
      (bytes, count, open) => decodeLines(bytes, count, open, onLine),
      options,
    );
  }

  /** Feeds one chunk as it came from the pipe. */
  push(chunk: Buffer): void {
    this.#runs.push(chunk);
  }

  /** The stream ended: a last line without a newline is emitted (an empty remainder is not). */
  end(): void {
    this.#runs.end();
  }
}

/**
 * Where a piece starting at `start` ends: `start + maxLineBytes`, moved back to the start of
 * the character it would split. Garbage (more continuation bytes than a character has, or
 * a piece that would become empty) is cut at `maxLineBytes` anyway. The caller guarantees
 * that `bytes` holds more than `start + maxLineBytes` bytes.
 */
function cutPoint(bytes: Buffer, start: number, maxLineBytes: number): number {
  const limit = start + maxLineBytes;
  const floor = Math.max(start, limit - MAX_CONTINUATION_BYTES);
  let cut = limit;
  while (cut > floor && isContinuationByte(bytes[cut]!)) cut--;
  return cut === start || isContinuationByte(bytes[cut]!) ? limit : cut;
}

function isContinuationByte(byte: number): boolean {
  return (byte & 0xc0) === 0x80;
}

/**
 * Counts the `\n` bytes in a chunk (fast path for callers that only need totals).
 *
 * @example
 * countNewlines(Buffer.from('a\nb\n')); // 2
 */
export function countNewlines(chunk: Buffer): number {
  let count = 0;
  let newline = chunk.indexOf(LF);
  while (newline !== -1) {
    count++;
    newline = chunk.indexOf(LF, newline + 1);
  }
  return count;
}
