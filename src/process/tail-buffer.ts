/**
 * Captures a stream's bytes up to `maxBytes`, keeping the newest part when it overflows:
 * a failing program's errors are at the end of its output, not the start.
 */
export class TailBuffer {
  readonly #maxBytes: number;
  #chunks: Buffer[] = [];
  #head = 0;
  #keptBytes = 0;
  #dropped = false;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get truncated(): boolean {
    return this.#dropped;
  }

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#keptBytes += chunk.length;
    while (this.#keptBytes > this.#maxBytes) {
      const oldest = this.#chunks[this.#head]!;
      const excess = this.#keptBytes - this.#maxBytes;
      this.#dropped = true;
      if (oldest.length <= excess) {
        this.#chunks[this.#head++] = EMPTY;
        this.#keptBytes -= oldest.length;
      } else {
        this.#chunks[this.#head] = oldest.subarray(excess);
        this.#keptBytes -= excess;
      }
    }
    // Compact the array now and then so dropped slots do not pile up.
    if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * The kept text without its final newline. When the head was dropped, the text starts at
   * the first whole line kept, so it never opens on half a character or half a line.
   */
  text(): string {
    const kept = this.#head === 0 ? this.#chunks : this.#chunks.slice(this.#head);
    if (kept.length === 0) return '';
    let bytes = kept.length === 1 ? kept[0]! : Buffer.concat(kept, this.#keptBytes);
    if (this.#dropped) {
      const newline = bytes.indexOf(10);
      if (newline !== -1 && newline < bytes.length - 1) bytes = bytes.subarray(newline + 1);
    }
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 10) end--;
    if (end > 0 && bytes[end - 1] === 13) end--;
    return bytes.toString('utf8', 0, end);
  }
}

const EMPTY = Buffer.alloc(0);
