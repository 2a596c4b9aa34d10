// The options of `SqliteStore`: their documentation, defaults and checks, apart from the store
// so that the store's file holds what it does with them.
import { type Clock, systemClock } from '../core/clock.js';
import {
  checkArgString,
  checkBoolean,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPlainObject,
  invalid,
} from '../core/validate.js';

export interface SqliteStoreOptions {
  /**
   * The database file; it and its folder are created when missing. `':memory:'` gives a private
   * database that goes away with the store.
   */
  readonly path: string;
  /** Where `prune({ olderThan: ageMs })` counts ages from, and the time of `health()`. @default systemClock */
  readonly clock?: Clock;
  /**
   * Open for reading only: the file must exist and have the current schema, and every write
   * fails with `ERR_STORE`.
   * @default false
   */
  readonly readonly?: boolean;
  /**
   * How long a write waits for another connection's write lock before it fails with
   * `ERR_STORE` ("locked by another writer"). Whole milliseconds, at most 2147483647.
   * better-sqlite3 is synchronous: the wait blocks the thread.
   * @default 5000
   */
  readonly busyTimeoutMs?: number;
  /**
   * Checkpoint the write-ahead log from a worker thread, so the fsyncs a checkpoint needs never
   * stall the event loop inside a write. Off, SQLite checkpoints inside every thousandth-page
   * commit, as it does by default.
   * @default true
   */
  readonly backgroundCheckpoints?: boolean;
}

/** @internal The defaults of `SqliteStoreOptions`, in one place (the docs are tested against them). */
export const sqliteStoreDefaults = { busyTimeoutMs: 5000, backgroundCheckpoints: true } as const;

const optionKeys: readonly (keyof SqliteStoreOptions)[] = [
  'path',
  'clock',
  'readonly',
  'busyTimeoutMs',
  'backgroundCheckpoints',
];

/** SQLite's busy timeout is a C int of milliseconds. */
const MAX_BUSY_TIMEOUT_MS = 2 ** 31 - 1;

/** The options checked, with their defaults applied. */
export interface ResolvedSqliteOptions {
  memory: boolean;
  readonly: boolean;
  busyTimeoutMs: number;
  clock: Clock;
  backgroundCheckpoints: boolean;
}

/**
 * Checks the options and applies the defaults; the caller's object is left as it is.
 * @throws RunyardError `ERR_INVALID` naming the bad or unknown option.
 */
export function resolveSqliteOptions(options: SqliteStoreOptions): ResolvedSqliteOptions {
  if (options === undefined) throw invalid('options', 'an object with a `path`', options);
  checkPlainObject('options', options);
  checkKnownKeys('options', options, optionKeys);
  checkArgString('path', options.path, { nonEmpty: true });
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
    throw invalid('clock', 'an object with a `now()` method', options.clock);
  }
  checkBoolean('readonly', options.readonly);
  checkNonNegativeNumber('busyTimeoutMs', options.busyTimeoutMs);
  if ((options.busyTimeoutMs ?? 0) > MAX_BUSY_TIMEOUT_MS) {
    throw invalid('busyTimeoutMs', `at most ${MAX_BUSY_TIMEOUT_MS}`, options.busyTimeoutMs);
  }
  checkBoolean('backgroundCheckpoints', options.backgroundCheckpoints);
  return {
    memory: options.path === ':memory:',
    readonly: options.readonly ?? false,
    busyTimeoutMs: Math.floor(options.busyTimeoutMs ?? sqliteStoreDefaults.busyTimeoutMs),
    clock: options.clock ?? systemClock,
    backgroundCheckpoints:
      options.backgroundCheckpoints ?? sqliteStoreDefaults.backgroundCheckpoints,
  };
}
