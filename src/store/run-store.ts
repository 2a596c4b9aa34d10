/*
 * The `RunStore` interface every store implements: create, update (with `ifOwner`), get,
 * list, prune, health.
 */
import type { RunyardError } from '../core/errors.js';
import type { Pattern, RunOwner, RunRecord, RunStatus } from '../core/types.js';
import { invalid } from '../core/validate.js';

/** Which runs `list()` returns. Every filter is optional; results are newest first. */
export interface RunQuery {
  status?: RunStatus | readonly RunStatus[];
  /** Exact name. */
  name?: string;
  /** Text anywhere in the name, case-insensitive. */
  text?: string;
  /** Runs carrying every one of these labels; `'key=value'` is accepted too. */
  label?: Readonly<Record<string, string>> | string;
  pattern?: Pattern;
  parentId?: string;
  /** Only runs another process asked to cancel (`cancelRequestedAt` set), or only those not. */
  cancelRequested?: boolean;
  /** Created at or after (ISO 8601 string or Date). */
  since?: string | Date;
  /** Created before (ISO 8601 string or Date). */
  until?: string | Date;
  /** @default 50 (at most 1000) */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export interface RunPage {
  runs: RunRecord[];
  /** Present when more runs match: pass it as `cursor` for the next page. */
  nextCursor?: string;
}

/** Fields `update()` may change; `id` and `createdAt` never change. */
export type RunPatch = Partial<Omit<RunRecord, 'id' | 'createdAt'>>;

export interface UpdateOptions {
  /**
   * Change the run only while this process is its recorded owner (`null`: while it has none),
   * else `ERR_CONFLICT`: a compare-and-set, so two processes taking over one dead owner's run
   * cannot both win.
   */
  readonly ifOwner?: RunOwner | null;
}

export interface PruneOptions {
  /** Delete terminal runs created before this (a Date, an ISO string, or an age in ms). */
  olderThan?: Date | string | number;
  /** Keep the newest this many terminal runs of each name, whatever their age. */
  keepLast?: number;
}

export interface RunStats {
  total: number;
  byStatus: Record<RunStatus, number>;
  byName: Record<string, Partial<Record<RunStatus, number>>>;
}

/** What a store can say of itself at once, without a round trip to its database. */
export interface StoreHealth {
  /**
   * False once a write failed for a storage reason (disk full, a lock held too long, a
   * read-only file), until a write succeeds again; false for a closed or read-only store.
   */
  writable: boolean;
  /** The `ERR_STORE` of that failed write, while `writable` is false because of it. */
  lastWriteError?: RunyardError;
  /** When it failed, as an ISO 8601 string from the store's clock. */
  lastWriteErrorAt?: string;
}

/**
 * The registry of runs. Every pattern that records runs writes here; the CLI and the server
 * read from here. Terminal runs never change again.
 */
export interface RunStore {
  /** Adds a run. `ERR_CONFLICT` when the id exists. */
  create(record: RunRecord): Promise<RunRecord>;
  /**
   * Changes a run and returns it as stored. `ERR_NOT_FOUND` for an unknown id; `ERR_CONFLICT`
   * when the run is already terminal (its status and fields never change again).
   */
  update(id: string, patch: RunPatch, options?: UpdateOptions): Promise<RunRecord>;
  get(id: string): Promise<RunRecord | undefined>;
  /** The run launched with this idempotency key, if any. */
  findByIdempotencyKey(key: string): Promise<RunRecord | undefined>;
  list(query?: RunQuery): Promise<RunPage>;
  /** Removes a terminal run. `ERR_CONFLICT` for a queued or running one; false when unknown. */
  delete(id: string): Promise<boolean>;
  /** Removes old terminal runs and returns their ids (their log files go with them). */
  prune(options: PruneOptions): Promise<string[]>;
  stats(): Promise<RunStats>;
  /** Whether the store can currently write; stores that cannot tell leave it out. */
  health?(): StoreHealth;
  close(): Promise<void>;
}

/** Checks that an option holds something that can record runs. */
export function checkRunStore(field: string, value: unknown): void {
  if (value === undefined) return;
  const store = value as Partial<RunStore> | null;
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.create !== 'function' ||
    typeof store.update !== 'function'
  ) {
    throw invalid(field, 'a RunStore', value);
  }
}
