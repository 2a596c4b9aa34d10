/*
 * `MemoryStore`: the `RunStore` contract in memory, for tests and for processes that need
 * no history.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { isTerminalStatus, type RunRecord } from '../core/types.js';
import { checkArgString, checkKnownKeys, checkPlainObject, invalid } from '../core/validate.js';
import {
  countRuns,
  emptyStats,
  encodeCursor,
  foldCase,
  type NormalizedQuery,
  normalizePrune,
  normalizeQuery,
} from './query.js';
import type {
  PruneOptions,
  RunPage,
  RunPatch,
  RunQuery,
  RunStats,
  RunStore,
  StoreHealth,
  UpdateOptions,
} from './run-store.js';
import {
  activeError,
  closedError,
  conflictError,
  notFoundError,
  ownerChangedError,
  terminalError,
} from './store-errors.js';
import {
  applyPatch,
  checkRunPatch,
  checkRunRecord,
  checkUpdateOptions,
  isOwnedBy,
} from './validate-record.js';

export interface MemoryStoreOptions {
  /** Where `prune({ olderThan: ageMs })` counts ages from. @default systemClock */
  readonly clock?: Clock;
}

interface Entry {
  record: RunRecord;
  /** `createdAt` in ms, for `since`, `until` and `olderThan`. */
  createdMs: number;
}

/** A deep copy through JSON, so a stored run holds exactly what the SQLite store would. */
function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Index of the first id in the sorted array that is not below `id`. */
function lowerBound(ids: readonly string[], id: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (ids[mid]! < id) low = mid + 1;
    else high = mid;
  }
  return low;
}

function matches(entry: Entry, q: NormalizedQuery): boolean {
  const run = entry.record;
  if (q.statuses !== undefined && !q.statuses.includes(run.status)) return false;
  if (q.name !== undefined && run.name !== q.name) return false;
  if (q.pattern !== undefined && run.pattern !== q.pattern) return false;
  if (q.parentId !== undefined && run.parentId !== q.parentId) return false;
  if (
    q.cancelRequested !== undefined &&
    (run.cancelRequestedAt !== undefined) !== q.cancelRequested
  ) {
    return false;
  }
  if (q.sinceMs !== undefined && entry.createdMs < q.sinceMs) return false;
  if (q.untilMs !== undefined && entry.createdMs >= q.untilMs) return false;
  if (q.text !== undefined && !foldCase(run.name).includes(q.text)) return false;
  for (const [key, value] of q.labels) {
    if (run.labels === undefined || !Object.hasOwn(run.labels, key) || run.labels[key] !== value) {
      return false;
    }
  }
  return true;
}

/**
 * A `RunStore` in memory, for tests and throw-away use: a map of runs and their ids in order.
 * Records are copied on the way in and out, so no caller can change what is stored. It behaves
 * as `SqliteStore` does, errors and ordering included.
 *
 * @example
 * const store = new MemoryStore();
 * await store.create(record);
 * const { runs } = await store.list({ status: 'running' });
 */
export class MemoryStore implements RunStore {
  readonly #clock: Clock;
  readonly #runs = new Map<string, Entry>();
  /** Every id, ascending: the newest run is last. */
  #ids: string[] = [];
  readonly #idsByKey = new Map<string, string>();
  #closing: Promise<void> | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, ['clock']);
    if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
      throw invalid('clock', 'an object with a `now()` method', options.clock);
    }
    this.#clock = options.clock ?? systemClock;
  }

  async create(record: RunRecord): Promise<RunRecord> {
    this.#checkOpen();
    checkRunRecord(record);
    if (this.#runs.has(record.id)) throw conflictError(record.id);
    const key = record.idempotencyKey;
    if (key !== undefined) {
      const holder = this.#idsByKey.get(key);
      if (holder !== undefined) throw conflictError(record.id, { key, holder });
    }
    const stored = copy(record);
    this.#runs.set(stored.id, { record: stored, createdMs: Date.parse(stored.createdAt) });
    const ids = this.#ids;
    if (ids.length === 0 || ids[ids.length - 1]! < stored.id) ids.push(stored.id);
    else ids.splice(lowerBound(ids, stored.id), 0, stored.id);
    if (key !== undefined) this.#idsByKey.set(key, stored.id);
    return copy(stored);
  }

  async update(id: string, patch: RunPatch, options?: UpdateOptions): Promise<RunRecord> {
    this.#checkOpen();
    checkArgString('id', id);
    checkRunPatch(patch);
    checkUpdateOptions(options);
    const entry = this.#runs.get(id);
    if (entry === undefined) throw notFoundError(id);
    const current = entry.record;
    if (isTerminalStatus(current.status)) throw terminalError(id, current.status);
    if (!isOwnedBy(current, options?.ifOwner)) throw ownerChangedError(id);
    const next = copy(applyPatch(current, patch));
    const oldKey = current.idempotencyKey;
    const newKey = next.idempotencyKey;
    if (newKey !== undefined && newKey !== oldKey) {
      const holder = this.#idsByKey.get(newKey);
      if (holder !== undefined) throw conflictError(id, { key: newKey, holder });
    }
    if (oldKey !== newKey) {
      if (oldKey !== undefined) this.#idsByKey.delete(oldKey);
      if (newKey !== undefined) this.#idsByKey.set(newKey, id);
    }
    entry.record = next;
    return copy(next);
  }

  async get(id: string): Promise<RunRecord | undefined> {
    this.#checkOpen();
    checkArgString('id', id);
    const entry = this.#runs.get(id);
    return entry === undefined ? undefined : copy(entry.record);
  }

  async findByIdempotencyKey(key: string): Promise<RunRecord | undefined> {
    this.#checkOpen();
    checkArgString('key', key);
    const id = this.#idsByKey.get(key);
    return id === undefined ? undefined : this.get(id);
  }

  async list(query?: RunQuery): Promise<RunPage> {
    this.#checkOpen();
    const q = normalizeQuery(query);
    const ids = this.#ids;
    let i = (q.beforeId === undefined ? ids.length : lowerBound(ids, q.beforeId)) - 1;
    const runs: RunRecord[] = [];
    let more = false;
    for (; i >= 0; i--) {
      const entry = this.#runs.get(ids[i]!)!;
      if (!matches(entry, q)) continue;
      if (runs.length === q.limit) {
        more = true;
        break;
      }
      runs.push(copy(entry.record));
    }
    const last = runs[runs.length - 1];
    return more && last !== undefined ? { runs, nextCursor: encodeCursor(last.id) } : { runs };
  }

  async delete(id: string): Promise<boolean> {
    this.#checkOpen();
    checkArgString('id', id);
    const entry = this.#runs.get(id);
    if (entry === undefined) return false;
    if (!isTerminalStatus(entry.record.status)) throw activeError(id, entry.record.status);
    this.#runs.delete(id);
    this.#ids.splice(lowerBound(this.#ids, id), 1);
    this.#forgetKey(entry.record);
    return true;
  }

  async prune(options: PruneOptions): Promise<string[]> {
    this.#checkOpen();
    const { cutoffMs, keepLast } = normalizePrune(options, this.#clock.now());
    const seen = new Map<string, number>();
    const doomed: RunRecord[] = [];
    for (let i = this.#ids.length - 1; i >= 0; i--) {
      const entry = this.#runs.get(this.#ids[i]!)!;
      const run = entry.record;
      if (!isTerminalStatus(run.status)) continue;
      const rank = (seen.get(run.name) ?? 0) + 1;
      seen.set(run.name, rank);
      if (rank > keepLast && entry.createdMs < cutoffMs) doomed.push(run);
    }
    if (doomed.length === 0) return [];
    for (const run of doomed) {
      this.#runs.delete(run.id);
      this.#forgetKey(run);
    }
    // One pass over the ids, however many runs go.
    this.#ids = this.#ids.filter((id) => this.#runs.has(id));
    return doomed.map((run) => run.id);
  }

  async stats(): Promise<RunStats> {
    this.#checkOpen();
    const stats = emptyStats();
    for (const { record } of this.#runs.values()) countRuns(stats, record.name, record.status, 1);
    return stats;
  }

  /** Memory never fills nor locks: writable until closed. */
  health(): StoreHealth {
    return { writable: this.#closing === undefined };
  }

  /** Idempotent: a second call returns the same promise. Every later call is `ERR_CLOSED`. */
  close(): Promise<void> {
    this.#closing ??= Promise.resolve();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #forgetKey(run: RunRecord): void {
    if (run.idempotencyKey !== undefined) this.#idsByKey.delete(run.idempotencyKey);
  }

  #checkOpen(): void {
    if (this.#closing !== undefined) throw closedError();
  }
}
