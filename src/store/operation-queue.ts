/*
 * `OperationQueue`: gathers a store's operations made in one turn of the event loop and runs
 * them in one transaction, each promise settled with its own outcome.
 */
import { RunyardError } from '../core/errors.js';

/** Operations run in one transaction at most; more wait for the next turn of the event loop. */
const MAX_BATCH = 1000;

interface Operation {
  write: boolean;
  run(): unknown;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface OperationQueueOptions {
  /** Runs `work` in one IMMEDIATE transaction: committed when it returns, rolled back when it throws. */
  inTransaction(work: () => void): void;
  /** Whether the transaction is still open: SQLite rolls back by itself on some errors. */
  isInTransaction(): boolean;
  /** The error every operation of a failed batch is rejected with. */
  batchError(error: unknown, write: boolean): unknown;
  /** Called after a batch with a write in it committed. */
  afterWrite(): void;
}

/**
 * @internal Runs a synchronous database's operations in call order, batched by tick. The
 * operations queued in one tick run together at the next microtask; when one of them writes,
 * all share one transaction, so a burst of writes costs one commit, and none is settled before
 * that commit. A lone write gets a transaction too: a failed commit (disk full) must reject it,
 * and an autocommit statement stepped for one row (`UPDATE … RETURNING` through `.get()`)
 * commits when it is reset, where better-sqlite3 drops the error. An operation's own
 * `RunyardError` (unknown id, finished run, taken key) settles that operation only; any other
 * error rolls the batch back and rejects all of it.
 */
export class OperationQueue {
  readonly #options: OperationQueueOptions;
  #queue: Operation[] = [];
  #scheduled = false;

  constructor(options: OperationQueueOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#queue.length;
  }

  push<T>(write: boolean, run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ write, run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(() => this.flush());
      }
    });
  }

  /** Runs the next batch now. */
  flush(): void {
    this.#scheduled = false;
    const batch = this.#queue.splice(0, MAX_BATCH);
    if (this.#queue.length > 0) {
      // The rest waits a turn of the event loop, so a huge burst cannot starve it.
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
    if (batch.length === 0) return;
    const write = batch.some((operation) => operation.write);
    const outcomes: Outcome[] = [];
    const runAll = () => {
      for (const operation of batch) {
        try {
          outcomes.push({ ok: true, value: operation.run() });
        } catch (error) {
          // Disk full, I/O error: SQLite may have rolled the transaction back; then all fail.
          if (!(error instanceof RunyardError) || (write && !this.#options.isInTransaction())) {
            throw error;
          }
          outcomes.push({ ok: false, error });
        }
      }
    };
    try {
      if (write) this.#options.inTransaction(runAll);
      else runAll();
    } catch (error) {
      const failure = this.#options.batchError(error, write);
      for (const operation of batch) operation.reject(failure);
      return;
    }
    batch.forEach((operation, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) operation.resolve(outcome.value);
      else operation.reject(outcome.error);
    });
    if (write) this.#options.afterWrite();
  }
}
