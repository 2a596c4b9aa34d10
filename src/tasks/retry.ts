/**
 * Trying again: a task's retry policy and the wait between its tries, and a run's store writes
 * tried again until the store takes them.
 */
import { ErrorCodes, isRunyardError, RunyardError } from '../core/errors.js';
import { sleepUnlessAborted } from '../core/sleep.js';
import { setLongTimeout } from '../core/timers.js';
import type { RetryPolicy, RunRecord } from '../core/types.js';
import {
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPlainObject,
  checkPositiveInteger,
} from '../core/validate.js';
import type { RunPatch, RunStore } from '../store/run-store.js';
import { isPassingStoreError } from '../store/store-errors.js';

export const retryDefaults = {
  backoffMs: 1000,
  maxBackoffMs: 300_000,
  /** ±10 %: runs that failed together do not all come back in the same millisecond. */
  jitter: 0.1,
} as const;

export function validateRetryPolicy(field: string, policy: unknown): void {
  if (policy === undefined) return;
  checkPlainObject(field, policy);
  checkKnownKeys(field, policy, ['attempts', 'backoffMs', 'maxBackoffMs']);
  const p = policy as Record<string, unknown>;
  checkPositiveInteger(`${field}.attempts`, p.attempts);
  if (p.attempts === undefined) checkPositiveInteger(`${field}.attempts`, null);
  checkNonNegativeNumber(`${field}.backoffMs`, p.backoffMs);
  checkNonNegativeNumber(`${field}.maxBackoffMs`, p.maxBackoffMs);
}

/**
 * The wait before the next try after `attempt` (1-based) failed: `backoffMs` doubled for each
 * try so far, capped at `maxBackoffMs`, with ±10 % jitter.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const base = policy.backoffMs ?? retryDefaults.backoffMs;
  const cap = policy.maxBackoffMs ?? retryDefaults.maxBackoffMs;
  const delay = Math.min(cap, base * 2 ** (attempt - 1));
  return Math.max(0, Math.round(delay * (1 + retryDefaults.jitter * (2 * random() - 1))));
}

/** The first wait before refused writes are tried again; it doubles up to `maxWriteBackoffMs`. */
const firstWriteBackoffMs = 50;
const maxWriteBackoffMs = 5000;
/** A store call still pending after this counts as refused and is tried again. */
const writeTryMs = 30_000;

export interface WriteRetryEvents {
  /** The store refused a write; it is kept and tried again. */
  onFailure(error: unknown): void;
}

/**
 * The writes a task manager's store refused, tried again together: one round at a time, oldest
 * run first, with backoff between rounds, and a round stops at the first refusal (that run
 * goes to the back, so one record the store always refuses blocks nothing). Against a
 * store that blocks while it waits for a lock (SQLite's busy timeout), a round costs one wait,
 * however many runs have changes to write. While it retries, new changes join it rather than
 * try on their own.
 */
export class WriteRetry {
  readonly #events: WriteRetryEvents;
  /** Insertion order: oldest first. */
  readonly #writers = new Set<RecordWriter>();
  #loop: Promise<void> | undefined;
  #giveUpAt = Number.POSITIVE_INFINITY;
  /** Aborted to cut a backoff short when `giveUpAfter()` moves the deadline. */
  #hurry = new AbortController();

  constructor(events: WriteRetryEvents) {
    this.#events = events;
  }

  /** Runs with changes the store has not taken. */
  get size(): number {
    return this.#writers.size;
  }

  /**
   * Stops retrying `ms` from now, after one last round; what is not written by then is
   * reported on stderr and dropped. Resolves once nothing is left to retry.
   */
  giveUpAfter(ms: number): Promise<void> {
    this.#giveUpAt = Math.min(this.#giveUpAt, performance.now() + ms);
    this.#hurry.abort();
    return this.#loop ?? Promise.resolve();
  }

  /** @internal Retries `writer`'s refused changes until they are written. */
  add(writer: RecordWriter): void {
    this.#writers.add(writer);
    this.#loop ??= this.#run().finally(() => {
      this.#loop = undefined;
    });
  }

  /** @internal */
  failed(error: unknown): void {
    this.#events.onFailure(error);
  }

  async #run(): Promise<void> {
    let backoff = firstWriteBackoffMs;
    while (this.#writers.size > 0) {
      // Jitter, so processes that failed together do not all come back at once.
      const wait = Math.min(
        this.#giveUpAt - performance.now(),
        backoff * (0.75 + Math.random() / 2),
      );
      if (wait > 0 && !(await sleepUnlessAborted(wait, this.#hurry.signal))) {
        this.#hurry = new AbortController();
      }
      const isLast = performance.now() >= this.#giveUpAt;
      let refusal: { error: unknown } | undefined;
      for (const writer of [...this.#writers]) {
        refusal = await writer.tryPending();
        if (refusal) {
          // To the back: one record the store always refuses must not hold the others back.
          this.#writers.delete(writer);
          this.#writers.add(writer);
          break;
        }
        if (!writer.hasPending) this.#writers.delete(writer);
      }
      if (!refusal) {
        backoff = firstWriteBackoffMs;
        continue;
      }
      this.failed(refusal.error);
      if (isLast) {
        for (const writer of this.#writers) writer.drop(refusal.error);
        this.#writers.clear();
        return;
      }
      backoff = Math.min(backoff * 2, maxWriteBackoffMs);
    }
  }
}

/**
 * One run's store writes, in call order. A write the store refuses for a reason that may pass
 * (a lock held past the busy timeout, a full disk, a lost connection) is kept in memory,
 * merged with the writes after it, and handed to the manager's `WriteRetry` until it is
 * written: a run's terminal status is never lost while the process lives. Meanwhile `record`
 * has every change.
 */
export class RecordWriter {
  readonly #store: RunStore;
  readonly #retry: WriteRetry;
  #record: RunRecord;
  /** Changes the store refused and has not taken yet. */
  #pending: RunPatch | undefined;
  /** Set from the first refusal until everything is written (or dropped). */
  #behind: { promise: Promise<void>; resolve(): void } | undefined;
  /** First tries, one after the other. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Writes whose first try has not settled. */
  #inFlight = 0;

  constructor(store: RunStore, record: RunRecord, retry: WriteRetry) {
    this.#store = store;
    this.#record = record;
    this.#retry = retry;
  }

  /** The run with every change, written or not. */
  get record(): RunRecord {
    return this.#record;
  }

  /** True while some change has not reached the store. */
  get hasPending(): boolean {
    return this.#behind !== undefined;
  }

  /**
   * Applies the change to `record` at once, then resolves with the record as stored once the
   * store took it, or, when the store refused it for now, with the record as it is in memory
   * (the change is retried). Rejects when the store refuses it for good (`ERR_CONFLICT`: the
   * run is already terminal; `ERR_NOT_FOUND`, `ERR_CLOSED`, `ERR_INVALID`).
   */
  write(patch: RunPatch): Promise<RunRecord> {
    this.#apply(patch);
    this.#inFlight++;
    const write = this.#queue.then(() => this.#firstTry(patch));
    this.#queue = write.catch(() => {});
    return write.finally(() => {
      this.#inFlight--;
    });
  }

  /** Resolves once every change is written, or dropped. */
  drained(): Promise<void> {
    return this.#queue.then(() => this.#behind?.promise);
  }

  /** @internal One try of the refused changes; `{ error }` when the store refuses them again. */
  async tryPending(): Promise<{ error: unknown } | undefined> {
    const patch = this.#pending;
    if (patch === undefined) {
      this.#caughtUp();
      return undefined;
    }
    this.#pending = undefined;
    try {
      const stored = await boundedUpdate(this.#store, this.#record.id, patch);
      if (this.#pending === undefined) {
        this.#record = stored;
        this.#caughtUp();
      }
      return undefined;
    } catch (error) {
      this.#pending = { ...patch, ...(this.#pending as RunPatch | undefined) };
      if (isPassingStoreError(error)) return { error };
      // Someone else ended the run meanwhile, or the store is gone: nothing to retry.
      console.error(`runyard: could not record run ${this.#record.id} in the store`, error);
      if (isRunyardError(error, 'ERR_CONFLICT')) {
        this.#record =
          (await this.#store.get(this.#record.id).catch(() => undefined)) ?? this.#record;
      }
      this.#pending = undefined;
      this.#caughtUp();
      return undefined;
    }
  }

  /** @internal Gives up on the refused changes, saying what is lost. */
  drop(error: unknown): void {
    console.error(
      `runyard: gave up writing run ${this.#record.id} to the store; its last changes are lost:`,
      this.#pending,
      error,
    );
    this.#pending = undefined;
    this.#caughtUp();
  }

  async #firstTry(patch: RunPatch): Promise<RunRecord> {
    // Behind already, or other runs' writes are being refused: join the retries.
    if (this.#behind !== undefined || this.#retry.size > 0) {
      this.#keep(patch);
      return this.#record;
    }
    try {
      const stored = await boundedUpdate(this.#store, this.#record.id, patch);
      // Later changes already applied here stay until their own write lands.
      if (this.#inFlight === 1) this.#record = stored;
      return stored;
    } catch (error) {
      if (!isPassingStoreError(error)) throw error;
      this.#retry.failed(error);
      this.#keep(patch);
      return this.#record;
    }
  }

  #keep(patch: RunPatch): void {
    this.#pending = { ...this.#pending, ...patch };
    if (this.#behind === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      this.#behind = { promise, resolve };
    }
    this.#retry.add(this);
  }

  #caughtUp(): void {
    this.#behind?.resolve();
    this.#behind = undefined;
  }

  #apply(patch: RunPatch): void {
    const record = { ...this.#record } as Record<string, unknown>;
    for (const [key, value] of Object.entries(patch)) {
      if (value === undefined) delete record[key];
      else record[key] = value;
    }
    this.#record = record as unknown as RunRecord;
  }
}

/** `store.update()`, refused with `ERR_STORE` should it not settle within `writeTryMs`. */
function boundedUpdate(store: RunStore, id: string, patch: RunPatch): Promise<RunRecord> {
  let timer: { clear(): void } | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setLongTimeout(() => {
      reject(
        new RunyardError(ErrorCodes.STORE, `The run store did not answer within ${writeTryMs} ms`),
      );
    }, writeTryMs).unref();
  });
  return Promise.race([store.update(id, patch), timeout]).finally(() => timer?.clear());
}
