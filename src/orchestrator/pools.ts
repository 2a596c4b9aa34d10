/*
 * `PoolRegistry`: the named pools a `Runyard` owns, opened on first use and closed with it.
 */
import { ErrorCodes, RunyardError } from '../core/errors.js';
import { checkPlainObject, invalid } from '../core/validate.js';
import {
  type NodePoolOptions,
  ProcessPool,
  type ProcessPoolOptions,
  type PythonPoolOptions,
} from '../pools/process/process-pool.js';
import { ThreadPool, type ThreadPoolOptions } from '../pools/thread/thread-pool.js';
import { checkScheduleName as checkName } from '../schedules/schedule-options.js';
import type { RunStore } from '../store/run-store.js';

/** A pool that `{ pool: name, payload }` tasks run on. */
export type NamedPool = ProcessPool | ThreadPool;

/**
 * The named pools of one `Runyard`: made on demand, each given the yard's store (so every task
 * is a run with `pattern: 'pooled'`, named after the pool), all closed with the yard.
 *
 * @example
 * yard.pools.node('thumbs', { handler: './thumbs.mjs#resize', size: 2 });
 * const thumb = await yard.execute({ pool: 'thumbs', payload: { path: 'a.jpg' } });
 */
export class PoolRegistry {
  readonly #store: RunStore;
  readonly #pools = new Map<string, NamedPool>();
  #closing: Promise<void> | undefined;

  constructor(store: RunStore) {
    this.#store = store;
  }

  /** A pool of warm worker processes that speak the NDJSON protocol. */
  process(name: string, options: ProcessPoolOptions): ProcessPool {
    this.#checkNew(name, options);
    return this.#add(name, new ProcessPool({ name, ...options, store: this.#store }));
  }

  /** A `ProcessPool` of the shipped Node helper (`handler`: `./file.mjs#exportName`). */
  node(name: string, options: NodePoolOptions): ProcessPool {
    this.#checkNew(name, options);
    return this.#add(name, ProcessPool.node({ name, ...options, store: this.#store }));
  }

  /** A `ProcessPool` of the shipped Python helper (`handler`: `package.module:function`). */
  python(name: string, options: PythonPoolOptions): ProcessPool {
    this.#checkNew(name, options);
    return this.#add(name, ProcessPool.python({ name, ...options, store: this.#store }));
  }

  /** A pool of `worker_threads` running the default export of `filename`. */
  thread(name: string, options: ThreadPoolOptions): ThreadPool {
    this.#checkNew(name, options);
    return this.#add(name, new ThreadPool({ runName: name, ...options, store: this.#store }));
  }

  /** The pool with this name, if any. */
  get(name: string): NamedPool | undefined {
    return this.#pools.get(name);
  }

  /** The pool with this name; `ERR_NOT_FOUND` when there is none. */
  require(name: string): NamedPool {
    const pool = this.#pools.get(name);
    if (pool) return pool;
    if (this.#closing) throw closedError();
    const known = [...this.#pools.keys()].map((key) => `\`${key}\``).join(', ') || 'none';
    throw new RunyardError(
      ErrorCodes.NOT_FOUND,
      `No pool named \`${name}\` (pools: ${known}); add it with yard.pools.process() or yard.pools.thread()`,
    );
  }

  /** Names of the pools, in the order they were added. */
  names(): string[] {
    return [...this.#pools.keys()];
  }

  /**
   * Closes every pool, running tasks included (they reject with `ERR_CANCELLED`); the first
   * error is kept and thrown once all are closed. A second call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= closeAll([...this.#pools.values()]);
    return this.#closing;
  }

  #checkNew(name: string, options: unknown): void {
    if (this.#closing) throw closedError();
    checkName(name);
    checkPlainObject('options', options);
    if (this.#pools.has(name)) throw invalid('name', 'a name no other pool of this yard has', name);
  }

  #add<P extends NamedPool>(name: string, pool: P): P {
    this.#pools.set(name, pool);
    return pool;
  }
}

async function closeAll(pools: readonly NamedPool[]): Promise<void> {
  const outcomes = await Promise.allSettled(
    pools.map((pool) => (pool instanceof ThreadPool ? pool.close({ force: true }) : pool.close())),
  );
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

function closedError(): RunyardError {
  return new RunyardError(ErrorCodes.CLOSED, 'The yard is closed: its pools take no more tasks');
}
