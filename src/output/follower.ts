// The iterators behind OutputLog's batches() and follow(): replay, then live, without gap or
// duplicate, catching up from the tail or the file when the consumer falls behind.
import type { OutputLine } from '../core/types.js';
import type { OutputBatch } from './output-batch.js';

/** What a follower needs of its `OutputLog`. */
export interface FollowedLog {
  readonly lastSeq: number;
  readonly firstTailSeq: number;
  readonly hasEnded: boolean;
  readBatches(from: number, limit: number): Promise<OutputBatch[]>;
}

/**
 * One `batches()` iteration. Live batches go to a buffer bounded in lines; while the consumer
 * lags behind it (or the buffer overflowed), batches come from the tail or the file instead,
 * `highWaterLines` lines at a time. `return()` takes effect at once, even while a `next()` waits.
 */
export class BatchFollower implements AsyncIterableIterator<OutputBatch> {
  readonly #log: FollowedLog;
  readonly #highWaterLines: number;
  readonly #signal: AbortSignal | undefined;
  readonly #release: (follower: BatchFollower) => void;
  /** The seq the consumer gets next. */
  #next: number;
  #live: OutputBatch[] = [];
  #livePos = 0;
  #liveLines = 0;
  #overflowed = false;
  #read: OutputBatch[] = [];
  #readPos = 0;
  #readLines = 0;
  #done = false;
  #wake: (() => void) | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** `next()` calls queued or running. */
  #pulling = 0;

  constructor(
    log: FollowedLog,
    from: number,
    highWaterLines: number,
    signal: AbortSignal | undefined,
    release: (follower: BatchFollower) => void,
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

  /** Lines held and not delivered yet. */
  get bufferedLines(): number {
    return this.#liveLines + this.#readLines;
  }

  /** Takes a live batch; past `highWaterLines` unread lines, drops them all until caught up. */
  push(batch: OutputBatch): void {
    if (!this.#overflowed && batch.lastSeq >= this.#next) {
      this.#live.push(batch);
      this.#liveLines += batch.count;
      if (this.#liveLines > this.#highWaterLines) {
        this.#overflowed = true;
        this.#live = [];
        this.#livePos = 0;
        this.#liveLines = 0;
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

  /** @internal The next batch when it is already here, without waiting; undefined otherwise. */
  takeNow(): OutputBatch | undefined {
    if (this.#pulling > 0 || this.#done) return undefined;
    return this.#take();
  }

  next(): Promise<IteratorResult<OutputBatch>> {
    if (this.#pulling === 0) {
      // Fast path: the batch is already here, no wait and no queue hop.
      if (this.#done) return Promise.resolve({ done: true, value: undefined });
      const batch = this.#take();
      if (batch) return Promise.resolve({ done: false, value: batch });
    }
    this.#pulling++;
    const result = this.#queue.then(() => this.#pull());
    this.#queue = result.then(
      () => this.#pulling--,
      () => this.#pulling--,
    );
    return result;
  }

  return(): Promise<IteratorResult<OutputBatch>> {
    this.#finish();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<OutputBatch> {
    return this;
  }

  #finish = (): void => {
    if (this.#done) return;
    this.#done = true;
    this.#live = [];
    this.#livePos = 0;
    this.#liveLines = 0;
    this.#read = [];
    this.#readPos = 0;
    this.#readLines = 0;
    this.#signal?.removeEventListener('abort', this.#finish);
    this.#release(this);
    this.wake();
  };

  async #pull(): Promise<IteratorResult<OutputBatch>> {
    try {
      return await this.#pullBatch();
    } catch (error) {
      this.#finish();
      throw error;
    }
  }

  /** The next batch when it is in the read buffer or the live buffer, cut to start at `#next`. */
  #take(): OutputBatch | undefined {
    while (this.#readPos < this.#read.length) {
      const batch = this.#read[this.#readPos++]!;
      this.#readLines -= batch.count;
      if (this.#readPos === this.#read.length) {
        this.#read = [];
        this.#readPos = 0;
        this.#readLines = 0;
      }
      if (batch.lastSeq >= this.#next) return this.#deliver(batch);
    }
    const live = this.#live;
    while (this.#livePos < live.length && live[this.#livePos]!.lastSeq < this.#next) {
      this.#liveLines -= live[this.#livePos++]!.count;
    }
    const head = live[this.#livePos];
    if (head === undefined) {
      if (live.length > 0) {
        this.#live = [];
        this.#livePos = 0;
        this.#liveLines = 0;
      }
      return undefined;
    }
    if (head.firstSeq > this.#next) return undefined;
    this.#liveLines -= head.count;
    if (++this.#livePos === live.length) {
      this.#live = [];
      this.#livePos = 0;
      this.#liveLines = 0;
    }
    return this.#deliver(head);
  }

  #deliver(batch: OutputBatch): OutputBatch {
    const from = this.#next;
    this.#next = batch.lastSeq + 1;
    return batch.firstSeq < from ? batch.slice(from, batch.lastSeq) : batch;
  }

  async #pullBatch(): Promise<IteratorResult<OutputBatch>> {
    const log = this.#log;
    for (;;) {
      if (this.#done) return { done: true, value: undefined };
      const batch = this.#take();
      if (batch) return { done: false, value: batch };
      const head = this.#live[this.#livePos];
      const last = log.lastSeq;
      if (this.#next <= last) {
        // Behind the live buffer, or it overflowed: catch up from the tail or the file.
        const upTo = head === undefined ? last : head.firstSeq - 1;
        const limit = Math.min(this.#highWaterLines, upTo - this.#next + 1);
        const read = await log.readBatches(this.#next, limit);
        if (this.#done) continue;
        this.#read = read;
        this.#readPos = 0;
        this.#readLines = 0;
        for (const one of read) this.#readLines += one.count;
        // Nothing left of those lines anywhere: skip to what memory holds.
        if (read.length === 0) this.#next = Math.max(this.#next, log.firstTailSeq);
        continue;
      }
      // Caught up: from here every appended batch reaches the live buffer again.
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

/**
 * One `follow()` iteration: the lines of a `BatchFollower`, each batch decoded when the
 * consumer reaches it.
 */
export class Follower implements AsyncIterableIterator<OutputLine> {
  readonly #batches: BatchFollower;
  #lines: OutputLine[] = [];
  #pos = 0;

  constructor(batches: BatchFollower) {
    this.#batches = batches;
  }

  next(): Promise<IteratorResult<OutputLine>> {
    if (this.#pos < this.#lines.length && !this.#batches.isDone) {
      return Promise.resolve({ done: false, value: this.#lines[this.#pos++]! });
    }
    const batch = this.#batches.takeNow();
    if (batch) return Promise.resolve({ done: false, value: this.#open(batch) });
    return this.#batches.next().then((result) => {
      if (result.done) {
        this.#lines = [];
        this.#pos = 0;
        return { done: true, value: undefined };
      }
      return { done: false, value: this.#open(result.value) };
    });
  }

  return(): Promise<IteratorResult<OutputLine>> {
    this.#lines = [];
    this.#pos = 0;
    void this.#batches.return();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<OutputLine> {
    return this;
  }

  /** Decodes a batch and returns its first line. */
  #open(batch: OutputBatch): OutputLine {
    this.#lines = batch.lines();
    this.#pos = 1;
    return this.#lines[0]!;
  }
}
