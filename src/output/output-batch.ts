// OutputBatch: consecutive lines of one stream kept as the bytes the program printed, turned
// into line objects only when asked. Apart from OutputLog: followers, readers and the file share it.
import type { OutputLine, OutputStream } from '../core/types.js';
import { decodeLines } from '../process/line-splitter.js';

const LF = 0x0a;

/**
 * Lines `firstSeq` to `lastSeq` of a run, all from one stream and read at one `time`, held as
 * the bytes the program printed (UTF-8 as it came, each line with its `\n` or `\r\n`). Nothing
 * is decoded until `lines()` is called, so a consumer that counts, forwards or stores bytes
 * never pays for a string per line.
 *
 * @example
 * for await (const batch of handle.output.batches()) {
 *   process.stdout.write(batch.bytes); // as printed
 *   for (const line of batch.lines()) if (line.text.includes('ERROR')) alert(line);
 * }
 */
export class OutputBatch {
  /** Seq of the first line. */
  readonly firstSeq: number;
  /** Number of lines, at least 1. */
  readonly count: number;
  readonly stream: OutputStream;
  /** Milliseconds since the Unix epoch when the lines were read. */
  readonly time: number;
  /**
   * The lines as printed. Each ends with its `\n` (a `\r` before it is not part of the text),
   * except the last one when `open`. Runyard's buffer: copy it to keep it, never modify it.
   */
  readonly bytes: Buffer;
  /**
   * The last line has no newline of its own: its text is all of its bytes (a piece of a line
   * longer than `maxLineBytes`, a last line without a newline, or a line given to `append()`).
   */
  readonly open: boolean;
  /** The text of a one-line batch made from a string, exactly as given. */
  readonly #text: string | undefined;
  #encodings: Map<(batch: OutputBatch) => Uint8Array, Uint8Array> | undefined;

  constructor(
    firstSeq: number,
    count: number,
    stream: OutputStream,
    time: number,
    bytes: Buffer,
    open: boolean,
    text?: string,
  ) {
    this.firstSeq = firstSeq;
    this.count = count;
    this.stream = stream;
    this.time = time;
    this.bytes = bytes;
    this.open = open;
    this.#text = text;
  }

  /** @internal A one-line batch of a text that holds no newline. */
  static ofText(seq: number, stream: OutputStream, time: number, text: string): OutputBatch {
    return new OutputBatch(seq, 1, stream, time, Buffer.from(text, 'utf8'), true, text);
  }

  /** Seq of the last line. */
  get lastSeq(): number {
    return this.firstSeq + this.count - 1;
  }

  /** The lines as objects, decoded now (a new array and new objects on every call). */
  lines(): OutputLine[] {
    const out: OutputLine[] = [];
    const { stream, time } = this;
    if (this.#text !== undefined) {
      out.push({ seq: this.firstSeq, stream, text: this.#text, time });
      return out;
    }
    let seq = this.firstSeq;
    decodeLines(this.bytes, this.count, this.open, (text) => {
      out.push({ seq: seq++, stream, text, time });
    });
    return out;
  }

  /** The lines' texts, decoded now. */
  texts(): string[] {
    if (this.#text !== undefined) return [this.#text];
    const out: string[] = [];
    decodeLines(this.bytes, this.count, this.open, (text) => {
      out.push(text);
    });
    return out;
  }

  /**
   * `encoder(this)`, computed once per encoder and kept with the batch: every reader of the
   * batch that asks with the same function (all the SSE clients of a run) shares one encoding.
   *
   * @example
   * const frames = (batch) => Buffer.from(batch.lines().map(toSseFrame).join(''));
   * socket.write(batch.encode(frames));
   */
  encode(encoder: (batch: OutputBatch) => Uint8Array): Uint8Array {
    this.#encodings ??= new Map();
    let encoded = this.#encodings.get(encoder);
    if (encoded === undefined) {
      encoded = encoder(this);
      this.#encodings.set(encoder, encoded);
    }
    return encoded;
  }

  /** @internal The lines `from` to `to` (seqs, clamped to this batch); `this` when that is all of it. */
  slice(from: number, to: number): OutputBatch {
    const first = Math.max(from, this.firstSeq);
    const last = Math.min(to, this.lastSeq);
    if (first === this.firstSeq && last === this.lastSeq) return this;
    const bytes = this.bytes;
    let start = 0;
    for (let seq = this.firstSeq; seq < first; seq++) start = bytes.indexOf(LF, start) + 1;
    let end = start;
    for (let seq = first; seq <= last; seq++) {
      if (seq === this.lastSeq && this.open) {
        end = bytes.length;
        break;
      }
      end = bytes.indexOf(LF, end) + 1;
    }
    const open = this.open && last === this.lastSeq;
    return new OutputBatch(
      first,
      last - first + 1,
      this.stream,
      this.time,
      bytes.subarray(start, end),
      open,
    );
  }
}
