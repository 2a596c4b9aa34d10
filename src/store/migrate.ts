/*
 * Applies the numbered schema migrations to a SQLite database in one transaction each.
 */
import type Database from 'better-sqlite3';
import { schemaError } from './sqlite-errors.js';

/** One step of the schema. Numbered from 1 without gaps; a released one never changes. */
export interface Migration {
  readonly version: number;
  /** A few words for `schema_version`, such as `initial`. */
  readonly name: string;
  /** SQL run once, inside the transaction that records the version. */
  readonly up: string;
}

export interface MigrateOptions {
  /** Named in error messages. */
  path: string;
  /** Refuse to migrate: a database that needs it is an error. */
  readonly: boolean;
  /** Written to `schema_version.applied_at`. */
  now: number;
}

export interface MigrateResult {
  from: number;
  to: number;
}

type Connection = Database.Database;

function checkMigrations(migrations: readonly Migration[]): number {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(
        `Migration ${migration.name} has version ${migration.version}, expected ${index + 1}`,
      );
    }
  });
  return migrations.length;
}

function hasTable(db: Connection, name: string): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !==
    undefined
  );
}

/**
 * The schema version of a database: 0 for a new, empty one. Only reads, so a database that is
 * corrupt, foreign or newer is never written to on the way to the error.
 * @throws RunyardError `ERR_STORE` for a database that holds tables but no `schema_version`.
 */
export function readSchemaVersion(db: Connection, path: string): number {
  // The first read: a file that is not a database fails here, before anything is written.
  const objects = db
    .prepare("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
    .pluck()
    .get() as number;
  if (hasTable(db, 'schema_version')) {
    const version = db.prepare('SELECT max(version) FROM schema_version').pluck().get();
    return typeof version === 'number' ? version : 0;
  }
  if (objects > 0) {
    throw schemaError(
      path,
      'is not a runyard database: it holds tables but no schema_version table. It was left as it is',
    );
  }
  return 0;
}

/**
 * Reads the schema version and refuses a database this runyard cannot use: one from a newer
 * runyard, or one that needs migrating but was opened read-only. Writes nothing.
 * @returns the version found, 0 for a new database.
 * @throws RunyardError `ERR_STORE` naming the path and the versions.
 */
export function checkSchema(
  db: Connection,
  migrations: readonly Migration[],
  options: MigrateOptions,
): number {
  const latest = checkMigrations(migrations);
  const version = readSchemaVersion(db, options.path);
  if (version > latest) {
    throw schemaError(
      options.path,
      `was written by a newer runyard (schema ${version}, this one knows ${latest}). It was left as it is`,
    );
  }
  if (version < latest && options.readonly) {
    throw schemaError(
      options.path,
      `needs its schema brought from version ${version} to ${latest}, but it was opened read-only`,
    );
  }
  return version;
}

/**
 * Brings the schema up to the last migration, all steps in one transaction: a failed step
 * leaves the database as it was. Another process migrating at the same time waits for the
 * lock, then finds the work done.
 * @throws RunyardError `ERR_STORE` as `checkSchema()` does.
 */
export function migrate(
  db: Connection,
  migrations: readonly Migration[],
  options: MigrateOptions,
): MigrateResult {
  const from = checkSchema(db, migrations, options);
  const latest = migrations.length;
  if (from === latest) return { from, to: from };
  const apply = db.transaction(() => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const current = checkSchema(db, migrations, options);
    db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
      version INTEGER PRIMARY KEY NOT NULL,
      name TEXT NOT NULL,
      applied_at TEXT NOT NULL
    )`);
    const record = db.prepare(
      'INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)',
    );
    const appliedAt = new Date(options.now).toISOString();
    for (const migration of migrations.slice(current)) {
      db.exec(migration.up);
      record.run(migration.version, migration.name, appliedAt);
    }
  });
  apply.immediate();
  return { from, to: latest };
}
