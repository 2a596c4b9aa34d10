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
 * Splits the bytes a child prints into text lines, as they arrive.
 *
 * A line ends at `\n`, and a `\r` right before it is removed (CRLF), also when the two
 * arrive in different chunks; a lone `\r` (a progress bar) stays in the text. Bytes are
 * decoded as UTF-8 only once a line is complete, so a character split across chunks comes
 * out whole; invalid bytes become U+FFFD. Memory stays bounded by about `maxLineBytes`
 * plus one chunk whatever the input: an over-long line is emitted in pieces.
 *
 * Lines are decoded straight from the chunk they sit in; only the unfinished last line of
 * a chunk is kept (by reference, not copied) until the rest arrives. A chunk must
 * therefore not be modified after it was pushed — pipe and socket chunks never are.
 *
 * @example
 * const splitter = new LineSplitter((line) => console.log(line));
 * child.stdout.on('data', (chunk: Buffer) => splitter.push(chunk));
 * child.stdout.on('end', () => splitter.end());
 */
export class LineSplitter {
  readonly #onLine: (text: string) => void;
  readonly #maxLineBytes: number;
  /** The unfinished last line: the parts in arrival order and their total size. */
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(onLine: (text: string) => void, options?: LineSplitterOptions) {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, ['maxLineBytes']);
    checkPositiveInteger('maxLineBytes', options?.maxLineBytes);
    this.#onLine = onLine;
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
      if (newline > 0) {
        this.#pending.push(chunk.subarray(0, newline));
        this.#pendingBytes += newline;
      }
      this.#emitPending(true);
      start = newline + 1;
    }
    const onLine = this.#onLine;
    const maxLineBytes = this.#maxLineBytes;
    let newline = chunk.indexOf(LF, start);
    while (newline !== -1) {
      let end = newline;
      if (end > start && chunk[end - 1] === CR) end--;
      if (end - start <= maxLineBytes) onLine(chunk.toString('utf8', start, end));
      else this.#emitPieces(chunk, start, end, true);
      start = newline + 1;
      newline = chunk.indexOf(LF, start);
    }
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
      const rest = this.#emitPieces(bytes, 0, bytes.length, false);
      this.#pending.push(bytes.subarray(rest));
      this.#pendingBytes = bytes.length - rest;
    }
  }

  /** Emits the pending line; `sawNewline` says whether it ended at a `\n` (CRLF applies). */
  #emitPending(sawNewline: boolean): void {
    const bytes = this.#takePending();
    let end = bytes.length;
    if (sawNewline && end > 0 && bytes[end - 1] === CR) end--;
    if (end <= this.#maxLineBytes) this.#onLine(bytes.toString('utf8', 0, end));
    else this.#emitPieces(bytes, 0, end, true);
  }

  #takePending(): Buffer {
    const pending = this.#pending;
    const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending, this.#pendingBytes);
    pending.length = 0;
    this.#pendingBytes = 0;
    return bytes;
  }

  /**
   * Emits `bytes[start, end)` as pieces of at most `maxLineBytes`. A final call emits all
   * of it; otherwise more of the line may follow, so it stops once at most
   * `maxLineBytes + 1` bytes are left and returns where that unemitted rest starts.
   */
  #emitPieces(bytes: Buffer, start: number, end: number, final: boolean): number {
    const maxLineBytes = this.#maxLineBytes;
    const keepAtLeast = final ? maxLineBytes : maxLineBytes + 1;
    let position = start;
    while (end - position > keepAtLeast) {
      const cut = cutPoint(bytes, position, maxLineBytes);
      this.#onLine(bytes.toString('utf8', position, cut));
      position = cut;
    }
    if (final) {
      this.#onLine(bytes.toString('utf8', position, end));
      return end;
    }
    return position;
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
