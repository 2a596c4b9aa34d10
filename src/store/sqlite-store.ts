/*
 * `SqliteStore`: the embedded default store on better-sqlite3 in WAL mode, with checked
 * IMMEDIATE write transactions.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { Clock } from '../core/clock.js';
import { ErrorCodes, isRunyardError, RunyardError } from '../core/errors.js';
import { isTerminalStatus, type RunRecord, type RunStatus } from '../core/types.js';
import { checkArgString } from '../core/validate.js';
import { Checkpointer } from './checkpointer.js';
import { checkSchema, migrate } from './migrate.js';
import { migrations } from './migrations/index.js';
import { OperationQueue } from './operation-queue.js';
import {
  countRuns,
  emptyStats,
  encodeCursor,
  foldCase,
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
import { openConnection } from './sqlite-driver.js';
import { type ErrorContext, isConstraintError, storeError } from './sqlite-errors.js';
import { resolveSqliteOptions, type SqliteStoreOptions } from './sqlite-options.js';
import {
  COLUMNS,
  columnValues,
  FOLD_FUNCTION,
  listSql,
  PRUNE_SQL,
  type Sql,
  TERMINAL_STATUSES_SQL,
  updateSql,
} from './sqlite-sql.js';
import {
  activeError,
  closedError,
  conflictError,
  notFoundError,
  ownerChangedError,
  terminalError,
} from './store-errors.js';
import { checkRunPatch, checkRunRecord, checkUpdateOptions } from './validate-record.js';

/** WAL pages past which a commit checkpoints inline: SQLite's default, used until a checkpointer runs. */
const INLINE_CHECKPOINT_PAGES = 1000;
/** The same while a checkpointer runs: a backstop, should it fall behind. */
const BACKSTOP_CHECKPOINT_PAGES = 10_000;
/** A WAL file emptied by a checkpoint is cut back to this size. */
const WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/** Prepared statements kept for the shapes of `list()` queries and `update()` patches. */
const MAX_CACHED_STATEMENTS = 256;

/**
 * Makes a folder and the missing ones above it, one at a time. Not `mkdirSync(…, { recursive })`:
 * it reports a full disk or a read-only mount as ENOENT (https://github.com/nodejs/node/issues/42808),
 * and spins forever on a folder that a file system refuses with ENOENT while its parent exists
 * (`/proc/x`).
 */
function makeFolders(folder: string): void {
  const missing: string[] = [];
  for (let at = folder; !existsSync(at) && dirname(at) !== at; at = dirname(at)) missing.push(at);
  for (const at of missing.reverse()) {
    try {
      mkdirSync(at);
    } catch (error) {
      // Another process made it meanwhile.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/* The statements every operation uses, prepared once when the store opens. */
function prepareStatements(db: Database.Database) {
  return {
    insert: db.prepare(`INSERT INTO runs (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    insertLabel: db.prepare('INSERT INTO run_labels (run_id, key, value) VALUES (?, ?, ?)'),
    deleteLabels: db.prepare('DELETE FROM run_labels WHERE run_id = ?'),
    data: db.prepare('SELECT data FROM runs WHERE id = ?').pluck(),
    status: db.prepare('SELECT status FROM runs WHERE id = ?').pluck(),
    dataByKey: db.prepare('SELECT data FROM runs WHERE idempotency_key = ?').pluck(),
    idByKey: db.prepare('SELECT id FROM runs WHERE idempotency_key = ?').pluck(),
    deleteFinished: db
      .prepare(`DELETE FROM runs WHERE id = ? AND status IN ${TERMINAL_STATUSES_SQL} RETURNING id`)
      .pluck(),
    prune: db.prepare(PRUNE_SQL).pluck(),
    stats: db.prepare('SELECT name, status, count(*) AS count FROM runs GROUP BY name, status'),
  };
}

/**
 * The embedded `RunStore`: one SQLite file through better-sqlite3, in WAL mode so readers never
 * wait for the writer, with a schema version and forward migrations.
 *
 * Operations called in the same tick run in call order, in one transaction: a burst of
 * `update()`s from many runs costs one commit, and each caller still gets its own record or
 * error. A finished run is guarded in SQL (`WHERE status IN ('queued', 'running')`), so two
 * processes racing to finish one run cannot both win. A database that is corrupt, locked,
 * read-only or from a newer runyard gives `ERR_STORE` naming the file and the cause, and is
 * never overwritten or recreated.
 *
 * @example
 * const store = new SqliteStore({ path: '.runyard/runyard.db' });
 * await store.create(record);
 * await store.update(record.id, { status: 'running', startedAt: new Date().toISOString() });
 * await store.close();
 */
export class SqliteStore implements RunStore {
  /** The database file, resolved; `':memory:'` for a private database. */
  readonly path: string;
  readonly #db: Database.Database;
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #cache = new Map<string, Database.Statement>();
  readonly #clock: Clock;
  readonly #context: ErrorContext;
  readonly #useCheckpointer: boolean;
  readonly #queue: OperationQueue;
  readonly #insertWithLabels: Database.Transaction<
    (values: unknown[], labels: [string, string][]) => void
  >;
  readonly #updateWithLabels: Database.Transaction<
    (sql: Sql, id: string, labels: [string, string][]) => string | undefined
  >;
  #checkpointer: Checkpointer | undefined;
  #checkpointerTried = false;
  #closing: Promise<void> | undefined;
  #lastWriteError: { error: RunyardError; at: string } | undefined;

  /**
   * Opens the database, creating it and migrating its schema as needed.
   * @throws RunyardError `ERR_STORE` when the database cannot be used; `ERR_INVALID` for bad options.
   */
  constructor(options: SqliteStoreOptions) {
    const { memory, readonly, busyTimeoutMs, clock, backgroundCheckpoints } =
      resolveSqliteOptions(options);
    this.path = memory ? options.path : resolve(options.path);
    this.#clock = clock;
    this.#context = { path: this.path, busyTimeoutMs, readonly };
    this.#useCheckpointer = !memory && !readonly && backgroundCheckpoints;

    let db: Database.Database | undefined;
    try {
      if (!memory && !readonly) makeFolders(dirname(this.path));
      db = openConnection(this.path, { readonly, fileMustExist: readonly, timeout: busyTimeoutMs });
      const schema = { path: this.path, readonly, now: this.#clock.now() };
      // Only reads: a file that is corrupt, foreign or newer fails here, before any write.
      checkSchema(db, migrations, schema);
      if (!memory && !readonly) {
        db.pragma('journal_mode = WAL');
        db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
        db.pragma(`wal_autocheckpoint = ${INLINE_CHECKPOINT_PAGES}`);
      }
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, migrations, schema);
      db.function(FOLD_FUNCTION, { deterministic: true }, (text: unknown) =>
        typeof text === 'string' ? foldCase(text) : text,
      );
      this.#statements = prepareStatements(db);
    } catch (error) {
      db?.close();
      throw storeError('opening', error, this.#context);
    }
    this.#db = db;
    const statements = this.#statements;
    const inTransaction = db.transaction((work: () => void) => work());
    this.#queue = new OperationQueue({
      inTransaction: (work) => inTransaction.immediate(work),
      isInTransaction: () => db.inTransaction,
      batchError: (error, write) => {
        const failure = storeError(write ? 'writing' : 'reading', error, this.#context);
        if (write && isRunyardError(failure, ErrorCodes.STORE)) {
          this.#lastWriteError = { error: failure, at: new Date(this.#clock.now()).toISOString() };
        }
        return failure;
      },
      afterWrite: () => {
        this.#lastWriteError = undefined;
        if (this.#useCheckpointer && !this.#checkpointerTried) this.#startCheckpointer();
      },
    });
    this.#insertWithLabels = db.transaction((values: unknown[], labels: [string, string][]) => {
      statements.insert.run(...values);
      for (const [key, value] of labels) statements.insertLabel.run(values[0], key, value);
    });
    this.#updateWithLabels = db.transaction((sql: Sql, id: string, labels: [string, string][]) => {
      const data = this.#prepared(sql.text).get(...sql.params) as string | undefined;
      if (data === undefined) return undefined;
      statements.deleteLabels.run(id);
      for (const [key, value] of labels) statements.insertLabel.run(id, key, value);
      return data;
    });
  }

  /** Adds a run. `ERR_CONFLICT` when its id, or its idempotency key, is taken. */
  create(record: RunRecord): Promise<RunRecord> {
    return this.#submit(true, () => {
      checkRunRecord(record);
      // Serialized now: what the caller does to the object afterwards changes nothing stored.
      const data = JSON.stringify(record);
      const values = columnValues(record, data);
      const labels = Object.entries(record.labels ?? {});
      return () => {
        try {
          if (labels.length === 0) this.#statements.insert.run(...values);
          else this.#insertWithLabels.immediate(values, labels);
        } catch (error) {
          throw this.#conflict(error, record.id, record.idempotencyKey, true);
        }
        return this.#parse(data);
      };
    });
  }

  update(id: string, patch: RunPatch, options?: UpdateOptions): Promise<RunRecord> {
    return this.#submit(true, () => {
      checkArgString('id', id);
      checkRunPatch(patch);
      checkUpdateOptions(options);
      const sql = updateSql(id, patch, options?.ifOwner);
      const relabel = Object.hasOwn(patch, 'labels');
      const labels = Object.entries(patch.labels ?? {});
      const key = patch.idempotencyKey;
      return () => {
        let data: string | undefined;
        try {
          data = relabel
            ? this.#updateWithLabels.immediate(sql, id, labels)
            : (this.#prepared(sql.text).get(...sql.params) as string | undefined);
        } catch (error) {
          throw this.#conflict(error, id, key, false);
        }
        if (data === undefined) {
          const status = this.#statements.status.get(id) as RunStatus | undefined;
          if (status === undefined) throw notFoundError(id);
          throw isTerminalStatus(status) ? terminalError(id, status) : ownerChangedError(id);
        }
        return this.#parse(data);
      };
    });
  }

  get(id: string): Promise<RunRecord | undefined> {
    return this.#submit(false, () => {
      checkArgString('id', id);
      return () => this.#parseRow(this.#statements.data.get(id));
    });
  }

  findByIdempotencyKey(key: string): Promise<RunRecord | undefined> {
    return this.#submit(false, () => {
      checkArgString('key', key);
      return () => this.#parseRow(this.#statements.dataByKey.get(key));
    });
  }

  list(query?: RunQuery): Promise<RunPage> {
    return this.#submit(false, () => {
      const q = normalizeQuery(query);
      const sql = listSql(q);
      return () => {
        const rows = this.#prepared(sql.text).all(...sql.params) as string[];
        const runs = rows.slice(0, q.limit).map((data) => this.#parse(data));
        const last = runs[runs.length - 1];
        return rows.length > q.limit && last !== undefined
          ? { runs, nextCursor: encodeCursor(last.id) }
          : { runs };
      };
    });
  }

  delete(id: string): Promise<boolean> {
    return this.#submit(true, () => {
      checkArgString('id', id);
      return () => {
        if (this.#statements.deleteFinished.get(id) !== undefined) return true;
        const status = this.#statements.status.get(id) as RunStatus | undefined;
        if (status === undefined) return false;
        throw activeError(id, status);
      };
    });
  }

  prune(options: PruneOptions): Promise<string[]> {
    return this.#submit(true, () => {
      const { cutoffMs, keepLast } = normalizePrune(options, this.#clock.now());
      const cutoff = Math.min(cutoffMs, Number.MAX_SAFE_INTEGER);
      return () => {
        const ids = this.#statements.prune.all(keepLast, cutoff) as string[];
        // Newest first, as list() orders runs.
        return ids.sort().reverse();
      };
    });
  }

  stats(): Promise<RunStats> {
    return this.#submit(false, () => () => {
      const stats = emptyStats();
      const rows = this.#statements.stats.all() as {
        name: string;
        status: RunStatus;
        count: number;
      }[];
      for (const row of rows) countRuns(stats, row.name, row.status, row.count);
      return stats;
    });
  }

  /**
   * Whether the store can write now, as far as its last write tells, without touching the
   * database: a write that failed for a storage reason (disk full, a lock held past
   * `busyTimeoutMs`, a read-only file) makes it unwritable until a write commits again. A store
   * opened `readonly`, or closed, is never writable.
   */
  health(): StoreHealth {
    const failure = this.#lastWriteError;
    const writable = failure === undefined && !this.#db.readonly && this.#closing === undefined;
    return failure === undefined
      ? { writable }
      : { writable, lastWriteError: failure.error, lastWriteErrorAt: failure.at };
  }

  /**
   * Refreshes the query planner's statistics where they are stale (`PRAGMA optimize`), in turn
   * with the other operations. Cheap when nothing changed; the maintenance job runs it daily.
   */
  optimize(): Promise<void> {
    return this.#submit(true, () => () => {
      this.#db.pragma('optimize');
    });
  }

  /**
   * Runs what was already asked, stops the checkpointer and closes the database. Idempotent: a
   * second call returns the same promise. Every later call is `ERR_CLOSED`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #close(): Promise<void> {
    while (this.#queue.size > 0) this.#queue.flush();
    await this.#checkpointer?.stop();
    if (!this.#db.readonly) {
      try {
        // Keeps the query planner's statistics fresh; cheap, and meant to run at close. A file
        // that turned out read-only refuses it, which must not keep the database open.
        this.#db.pragma('optimize');
      } catch {}
    }
    try {
      this.#db.close();
    } catch (error) {
      throw storeError('closing', error, this.#context);
    }
  }

  /** A stored record; `ERR_STORE` should the JSON have been damaged outside runyard. */
  #parse(data: string): RunRecord {
    try {
      return JSON.parse(data) as RunRecord;
    } catch (error) {
      throw new RunyardError(
        ErrorCodes.STORE,
        `Reading the run store at ${this.path} failed: a stored run is not valid JSON (${
          (error as Error).message
        })`,
        { cause: error },
      );
    }
  }

  #parseRow(data: unknown): RunRecord | undefined {
    return typeof data === 'string' ? this.#parse(data) : undefined;
  }

  #prepared(text: string): Database.Statement {
    let statement = this.#cache.get(text);
    if (statement === undefined) {
      if (this.#cache.size >= MAX_CACHED_STATEMENTS) this.#cache.clear();
      // Every built statement returns one column, `data`.
      statement = this.#db.prepare(text).pluck();
      this.#cache.set(text, statement);
    }
    return statement;
  }

  /**
   * Turns a constraint failure into `ERR_CONFLICT` naming what is taken: the id (on create) or
   * the idempotency key. Anything else is returned as it is.
   */
  #conflict(error: unknown, id: string, key: string | undefined, creating: boolean): unknown {
    if (!isConstraintError(error)) return error;
    if (creating && this.#statements.status.get(id) !== undefined) return conflictError(id);
    const holder = key === undefined ? undefined : (this.#statements.idByKey.get(key) as string);
    if (key !== undefined && holder !== undefined) return conflictError(id, { key, holder });
    return error;
  }

  /**
   * Checks the arguments now (`prepare` throws synchronously for bad ones) and queues the
   * operation `prepare` returns. Not an async function: one promise per call, not two.
   */
  #submit<T>(write: boolean, prepare: () => () => T): Promise<T> {
    let run: () => T;
    try {
      if (this.#closing !== undefined) throw closedError();
      run = prepare();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#queue.push(write, run);
  }

  #startCheckpointer(): void {
    this.#checkpointerTried = true;
    const setPages = (pages: number) => {
      if (this.#closing === undefined) this.#db.pragma(`wal_autocheckpoint = ${pages}`);
    };
    try {
      this.#checkpointer = new Checkpointer({
        path: this.path,
        onReady: () => setPages(BACKSTOP_CHECKPOINT_PAGES),
        onFailure: () => setPages(INLINE_CHECKPOINT_PAGES),
      });
    } catch {
      // No thread to be had: SQLite checkpoints inline, as it does by default.
    }
  }
}
