import type { OutputLine } from '../core/types.js';
import type { OutputLog } from './output-log.js';

/**
 * One `follow()` iteration. Live lines go to a bounded buffer; while the consumer lags behind
 * it (or the buffer overflowed), lines come from `read()` in chunks instead. `return()` takes
 * effect at once, even while a `next()` waits.
 */
export class Follower implements AsyncIterableIterator<OutputLine> {
  readonly #log: OutputLog;
  readonly #highWaterLines: number;
  readonly #signal: AbortSignal | undefined;
  readonly #release: (follower: Follower) => void;
  /** The seq the consumer gets next. */
  #next: number;
  #live: OutputLine[] = [];
  #livePos = 0;
  #overflowed = false;
  #batch: OutputLine[] = [];
  #batchPos = 0;
  #done = false;
  #wake: (() => void) | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** `next()` calls queued or running. */
  #pulling = 0;

  constructor(
    log: OutputLog,
    from: number,
    highWaterLines: number,
    signal: AbortSignal | undefined,
    release: (follower: Follower) => void,
  ) {
    this.#log = log;
    this.#next = from;
    this.#highWaterLines = highWaterLines;
    this.#signal = signal;
    this.#release = release;
    if (signal?.aborted) this.#done = true;
    else signal?.addEventListener('abort', this.#finish, { once: true });
  }

  get isDone(): boolean {
    return this.#done;
  }

  get bufferedLines(): number {
    return this.#live.length - this.#livePos + this.#batch.length - this.#batchPos;
  }

  /** Takes a live line; past `highWaterLines` unread, drops them all until caught up. */
  push(line: OutputLine): void {
    if (!this.#overflowed) {
      this.#live.push(line);
      if (this.#live.length - this.#livePos > this.#highWaterLines) {
        this.#overflowed = true;
        this.#live = [];
        this.#livePos = 0;
      }
    }
    this.wake();
  }

  wake(): void {
    const wake = this.#wake;
    if (wake) {
      this.#wake = undefined;
      wake();
    }
  }

  next(): Promise<IteratorResult<OutputLine>> {
    if (this.#pulling === 0) {
      // Fast path: the line is already here, no wait and no queue hop.
      if (this.#done) return Promise.resolve({ done: true, value: undefined });
      const line = this.#take();
      if (line) return Promise.resolve({ done: false, value: line });
    }
    this.#pulling++;
    const result = this.#queue.then(() => this.#pull());
    this.#queue = result.then(
      () => this.#pulling--,
      () => this.#pulling--,
    );
    return result;
  }

  return(): Promise<IteratorResult<OutputLine>> {
    this.#finish();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<OutputLine> {
    return this;
  }

  #finish = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#live = [];
    this.#livePos = 0;
    this.#batch = [];
    this.#batchPos = 0;
    this.#signal?.removeEventListener('abort', this.#finish);
    this.#release(this);
    this.wake();
  };

  async #pull(): Promise<IteratorResult<OutputLine>> {
    try {
      return await this.#pullLine();
    } catch (error) {
      this.#finish();
      throw error;
    }
  }

  /** The next line when it is in the read batch or the live buffer, without waiting. */
  #take(): OutputLine | undefined {
    while (this.#batchPos < this.#batch.length) {
      const line = this.#batch[this.#batchPos++]!;
      if (this.#batchPos === this.#batch.length) {
        this.#batch = [];
        this.#batchPos = 0;
      }
      if (line.seq >= this.#next) {
        this.#next = line.seq + 1;
        return line;
      }
    }
    const live = this.#live;
    while (this.#livePos < live.length && live[this.#livePos]!.seq < this.#next) this.#livePos++;
    const head = live[this.#livePos];
    if (head === undefined) {
      if (live.length > 0) {
        this.#live = [];
        this.#livePos = 0;
      }
      return undefined;
    }
    if (head.seq !== this.#next) return undefined;
    if (++this.#livePos === live.length) {
      this.#live = [];
      this.#livePos = 0;
    }
    this.#next++;
    return head;
  }

  async #pullLine(): Promise<IteratorResult<OutputLine>> {
    const log = this.#log;
    for (;;) {
      if (this.#done) return { done: true, value: undefined };
      const line = this.#take();
      if (line) return { done: false, value: line };
      const head = this.#live[this.#livePos];
      const last = log.lastSeq;
      if (this.#next <= last) {
        // Behind the live buffer, or it overflowed: catch up from the tail or the file.
        const upTo = head === undefined ? last : head.seq - 1;
        const limit = Math.min(this.#highWaterLines, upTo - this.#next + 1);
        const batch = await log.read({ from: this.#next, limit });
        if (this.#done) continue;
        this.#batch = batch;
        this.#batchPos = 0;
        // Nothing left of those lines anywhere: skip to what memory holds.
        if (batch.length === 0) this.#next = Math.max(this.#next, log.firstTailSeq);
        continue;
      }
      // Caught up: from here every appended line reaches the live buffer again.
      this.#overflowed = false;
      if (log.hasEnded) {
        this.#finish();
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }
}
