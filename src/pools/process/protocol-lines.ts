// Splits a pool worker's stdout into protocol lines with a size limit. Apart from the general
// LineSplitter, which cuts an over-long line into pieces: a protocol line must come whole or not at all.

const LF = 10;

/**
 * Emits each complete line of a worker's stdout; once a line passes `maxBytes` (before its
 * newline has even arrived), calls `onOverflow` with the bytes seen so far and reads no more,
 * so a runaway line costs at most `maxBytes` plus one chunk of memory.
 */
export class ProtocolLines {
  readonly #maxBytes: number;
  readonly #onLine: (line: string) => void;
  readonly #onOverflow: (bytes: number) => void;
  /** The unfinished last line, in arrival order, and its size. */
  readonly #pending: Buffer[] = [];
  #pendingBytes = 0;
  #hasOverflowed = false;

  constructor(
    maxBytes: number,
    onLine: (line: string) => void,
    onOverflow: (bytes: number) => void,
  ) {
    this.#maxBytes = maxBytes;
    this.#onLine = onLine;
    this.#onOverflow = onOverflow;
  }

  push(chunk: Buffer): void {
    if (this.#hasOverflowed) return;
    let start = 0;
    let newline = chunk.indexOf(LF);
    if (this.#pendingBytes > 0) {
      if (newline === -1) {
        this.#keep(chunk);
        return;
      }
      if (this.#pendingBytes + newline > this.#maxBytes) {
        this.#overflow(this.#pendingBytes + newline);
        return;
      }
      this.#pending.push(chunk.subarray(0, newline));
      const line = Buffer.concat(this.#pending, this.#pendingBytes + newline);
      this.#pending.length = 0;
      this.#pendingBytes = 0;
      this.#onLine(line.toString('utf8'));
      start = newline + 1;
      newline = chunk.indexOf(LF, start);
    }
    while (newline !== -1) {
      if (newline - start > this.#maxBytes) {
        this.#overflow(newline - start);
        return;
      }
      this.#onLine(chunk.toString('utf8', start, newline));
      start = newline + 1;
      newline = chunk.indexOf(LF, start);
    }
    if (start < chunk.length) this.#keep(start === 0 ? chunk : chunk.subarray(start));
  }

  /** The stream ended: a last line without its newline is emitted all the same. */
  end(): void {
    if (this.#hasOverflowed || this.#pendingBytes === 0) return;
    const line = Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    this.#onLine(line.toString('utf8'));
  }

  #keep(part: Buffer): void {
    this.#pending.push(part);
    this.#pendingBytes += part.length;
    if (this.#pendingBytes > this.#maxBytes) this.#overflow(this.#pendingBytes);
  }

  #overflow(bytes: number): void {
    this.#hasOverflowed = true;
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    this.#onOverflow(bytes);
  }
}
