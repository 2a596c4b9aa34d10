import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RunyardError } from '../../src/core/errors.js';
import {
  defaultDatabasePath,
  defaultHome,
  logPath,
  MemoryStore,
  openStore,
  type RunStore,
  SqliteStore,
  type SqliteStoreOptions,
} from '../../src/store/index.js';
import { checkSchema, type Migration, migrate } from '../../src/store/migrate.js';
import { migrations } from '../../src/store/migrations/index.js';
import { sqliteStoreDefaults } from '../../src/store/sqlite-options.js';
import { documentedDefault, readDoc } from '../helpers/docs.js';
import { makeFullRun, makeRun } from './records.js';

let dir: string;
let file: string;
const opened: RunStore[] = [];
const connections: Database.Database[] = [];

function open(options: Partial<SqliteStoreOptions> = {}): SqliteStore {
  const store = new SqliteStore({ path: file, ...options });
  opened.push(store);
  return store;
}

function connect(path = file, options?: Database.Options): Database.Database {
  const db = new Database(path, options);
  connections.push(db);
  return db;
}

/** The error `fn` throws, which must be a RunyardError. */
function thrown(fn: () => unknown): RunyardError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RunyardError);
    return error as RunyardError;
  }
  throw new Error('Expected an error');
}

async function rejection(promise: Promise<unknown>): Promise<RunyardError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RunyardError);
    return error as RunyardError;
  }
  throw new Error('Expected a rejection');
}

function schemaRows(path = file): unknown[] {
  const db = connect(path, { readonly: true });
  const rows = db.prepare('SELECT * FROM schema_version ORDER BY version').all();
  db.close();
  return rows;
}

/**
 * Makes a file read-only for this process and returns how to undo it; undefined when that is not
 * possible here. Root ignores permission bits, so as root the file is made immutable instead.
 */
function makeReadOnly(path: string): (() => void) | undefined {
  if (process.getuid?.() !== 0) {
    chmodSync(path, 0o444);
    return () => chmodSync(path, 0o644);
  }
  try {
    execFileSync('chattr', ['+i', path], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  return () => execFileSync('chattr', ['-i', path], { stdio: 'ignore' });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-sqlite-'));
  file = join(dir, 'runyard.db');
});

afterEach(async () => {
  for (const db of connections.splice(0)) if (db.open) db.close();
  await Promise.all(opened.splice(0).map((store) => store.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('SqliteStore on disk', () => {
  it('keeps runs, params included, across a close and a reopen', async () => {
    const first = open();
    const full = makeFullRun();
    const queued = makeRun({ params: { url: 'https://example.com/?q=1&r=2', depth: 3 } });
    await first.create(full);
    await first.create(queued);
    await first.update(queued.id, { status: 'running', pid: 321 });
    await first.close();

    const again = open();
    expect(await again.get(full.id)).toEqual(full);
    expect(await again.get(queued.id)).toEqual({ ...queued, status: 'running', pid: 321 });
    expect((await again.list({ label: 'env=prod' })).runs).toEqual([full]);
    expect((await again.stats()).total).toBe(2);
  });

  it('creates missing folders, and leaves no WAL behind once closed', async () => {
    file = join(dir, 'a', 'b', 'runs.db');
    const store = open();
    for (let i = 0; i < 50; i++) await store.create(makeRun());
    await store.close();
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual(['runs.db']);
  });

  it('runs in WAL mode with foreign keys and a busy timeout', async () => {
    const store = open({ busyTimeoutMs: 1234 });
    await store.create(makeRun());
    const db = connect();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    await store.close();
  });

  it('lets exactly one of two connections finish a run', async () => {
    const a = open();
    const b = open();
    for (let round = 0; round < 10; round++) {
      const run = await a.create(makeRun({ status: 'running' }));
      const outcomes = await Promise.allSettled([
        a.update(run.id, { status: 'succeeded' }),
        b.update(run.id, { status: 'cancelled' }),
      ]);
      expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
      const lost = outcomes.find(
        (outcome) => outcome.status === 'rejected',
      ) as PromiseRejectedResult;
      expect(lost.reason.code).toBe('ERR_CONFLICT');
      const won = outcomes.find((outcome) => outcome.status === 'fulfilled');
      expect(await b.get(run.id)).toEqual((won as PromiseFulfilledResult<unknown>).value);
    }
  });

  it('sees what another connection wrote', async () => {
    const a = open();
    const b = open();
    const run = await a.create(makeRun({ idempotencyKey: 'shared' }));
    expect(await b.findByIdempotencyKey('shared')).toEqual(run);
    expect((await rejection(b.create(makeRun({ idempotencyKey: 'shared' })))).code).toBe(
      'ERR_CONFLICT',
    );
  });

  it('accepts a private in-memory database', async () => {
    file = ':memory:';
    const store = open();
    const run = await store.create(makeRun());
    expect(await store.get(run.id)).toEqual(run);
  });
});

describe('schema and migrations', () => {
  it('migrates an empty file to the latest schema', async () => {
    writeFileSync(file, '');
    const store = open({ clock: { now: () => Date.UTC(2025, 5, 1) } });
    await store.create(makeRun());
    expect(schemaRows()).toEqual(
      migrations.map((migration) => ({
        version: migration.version,
        name: migration.name,
        applied_at: '2025-06-01T00:00:00.000Z',
      })),
    );
  });

  it('reopens a database at the latest schema without touching it', async () => {
    open({ clock: { now: () => Date.UTC(2025, 0, 1) } });
    await opened[0]!.close();
    const before = schemaRows();
    const reopened = open({ clock: { now: () => Date.UTC(2026, 0, 1) } });
    await reopened.close();
    expect(schemaRows()).toEqual(before);
  });

  it('migrates forward from the previous schema, keeping the data', () => {
    const db = connect();
    const options = { path: file, readonly: false, now: 0 };
    const first: Migration = { version: 1, name: 'first', up: 'CREATE TABLE t (a TEXT);' };
    const second: Migration = {
      version: 2,
      name: 'second',
      up: "ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'; UPDATE t SET b = a || '!';",
    };
    expect(migrate(db, [first], options)).toEqual({ from: 0, to: 1 });
    db.prepare('INSERT INTO t (a) VALUES (?)').run('kept');
    expect(migrate(db, [first, second], options)).toEqual({ from: 1, to: 2 });
    expect(db.prepare('SELECT a, b FROM t').all()).toEqual([{ a: 'kept', b: 'kept!' }]);
    expect(migrate(db, [first, second], options)).toEqual({ from: 2, to: 2 });
  });

  it('rolls a failed migration back whole, leaving the previous version', () => {
    const db = connect();
    const options = { path: file, readonly: false, now: 0 };
    const first: Migration = { version: 1, name: 'first', up: 'CREATE TABLE t (a TEXT);' };
    const broken: Migration = {
      version: 2,
      name: 'broken',
      up: 'CREATE TABLE u (b TEXT); INSERT INTO nowhere VALUES (1);',
    };
    migrate(db, [first], options);
    expect(() => migrate(db, [first, broken], options)).toThrow(/nowhere/);
    expect(checkSchema(db, [first, broken], { ...options, readonly: false })).toBe(1);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    expect(tables).not.toContain('u');
  });

  it('migrates the real schema from version 0 in one step', () => {
    const db = connect();
    expect(migrate(db, migrations, { path: file, readonly: false, now: 0 })).toEqual({
      from: 0,
      to: migrations.length,
    });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['runs', 'run_labels', 'schema_version']));
  });

  it('refuses a database from a newer runyard, and leaves it as it is', async () => {
    const store = open();
    await store.create(makeRun());
    await store.close();
    const db = connect();
    db.prepare(
      "INSERT INTO schema_version VALUES (99, 'future', '2099-01-01T00:00:00.000Z')",
    ).run();
    db.close();
    const bytes = readFileSync(file);
    const error = thrown(() => open());
    expect(error.code).toBe('ERR_STORE');
    expect(error.message).toContain(file);
    expect(error.message).toContain(
      `was written by a newer runyard (schema 99, this one knows ${migrations.length})`,
    );
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('refuses a SQLite file that is not a runyard database, and leaves it as it is', () => {
    const db = connect();
    db.exec("CREATE TABLE runs (x); INSERT INTO runs VALUES ('theirs');");
    db.close();
    const bytes = readFileSync(file);
    const error = thrown(() => open());
    expect(error.code).toBe('ERR_STORE');
    expect(error.message).toContain(file);
    expect(error.message).toContain('not a runyard database');
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });
});

describe('a database that cannot be used', () => {
  it('refuses a corrupt file with ERR_STORE and leaves it byte for byte', () => {
    const garbage = Buffer.alloc(64 * 1024);
    for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
    writeFileSync(file, garbage);
    const error = thrown(() => open());
    expect(error.code).toBe('ERR_STORE');
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/corrupt or not a SQLite database/);
    expect(error.cause).toBeInstanceOf(Error);
    expect(readFileSync(file).equals(garbage)).toBe(true);
    expect(readdirSync(dir)).toEqual(['runyard.db']);
  });

  it('refuses a database whose schema page is damaged, and leaves it byte for byte', async () => {
    const store = open();
    for (let i = 0; i < 20; i++) await store.create(makeFullRun());
    await store.close();
    const bytes = readFileSync(file);
    // Keep the 100-byte header, so SQLite takes it for a database, and wreck the rest of page 1.
    bytes.fill(0xa5, 100, 4096);
    writeFileSync(file, bytes);
    const error = thrown(() => open());
    expect(error.code).toBe('ERR_STORE');
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/corrupt/);
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('reports a run whose JSON was damaged outside runyard with ERR_STORE', async () => {
    const store = open();
    const good = await store.create(makeRun());
    const bad = await store.create(makeRun());
    connect().prepare("UPDATE runs SET data = '{broken' WHERE id = ?").run(bad.id);
    const error = await rejection(store.get(bad.id));
    expect(error.code).toBe('ERR_STORE');
    expect(error.message).toContain(file);
    expect(await store.get(good.id)).toEqual(good);
    expect((await rejection(store.update(bad.id, { status: 'running' }))).code).toBe('ERR_STORE');
  });

  it('refuses a directory as the path', () => {
    file = join(dir, 'a-folder');
    mkdirSync(file);
    const error = thrown(() => open());
    expect(error.code).toBe('ERR_STORE');
    expect(error.message).toContain(file);
    expect(error.message).toContain(`${file} is a folder, not a database file`);
  });

  it('fails a write with ERR_STORE while another connection holds the lock too long', async () => {
    const store = open({ busyTimeoutMs: 20 });
    const run = await store.create(makeRun());
    const other = connect();
    other.exec('BEGIN IMMEDIATE');
    const error = await rejection(store.update(run.id, { status: 'running' }));
    expect(error.code).toBe('ERR_STORE');
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/locked by another writer/);
    expect(error.message).toMatch(/busy timeout of 20 ms/);
    // Writes asked in one tick fail together: none of them is half done.
    const late = makeRun();
    const both = await Promise.allSettled([
      store.create(late),
      store.update(run.id, { status: 'running' }),
    ]);
    expect(both.map((outcome) => (outcome as PromiseRejectedResult).reason?.code)).toEqual([
      'ERR_STORE',
      'ERR_STORE',
    ]);
    // Reads go on meanwhile (WAL), and nothing was lost once the lock is gone.
    expect(await store.get(run.id)).toEqual(run);
    other.exec('ROLLBACK');
    expect(await store.get(late.id)).toBeUndefined();
    expect(await store.update(run.id, { status: 'running' })).toEqual({
      ...run,
      status: 'running',
    });
  });

  it('refuses to open a database another connection holds exclusively', () => {
    const other = connect();
    other.pragma('locking_mode = EXCLUSIVE');
    other.exec('BEGIN EXCLUSIVE; CREATE TABLE theirs (x); COMMIT;');
    const error = thrown(() => open({ busyTimeoutMs: 20 }));
    expect(error.code).toBe('ERR_STORE');
    expect(error.message).toContain(file);
    expect(error.message).toMatch(/locked/);
  });

  it('waits for a lock released within the busy timeout, then succeeds', async () => {
    const store = open({ busyTimeoutMs: 60_000 });
    const run = await store.create(makeRun());
    // Another thread holds the write lock for a moment: this thread blocks in SQLite meanwhile.
    const holder = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const Database = require(workerData.module);
       const db = new Database(workerData.file);
       db.exec('BEGIN IMMEDIATE');
       parentPort.postMessage('locked');
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
       db.exec('COMMIT');
       db.close();`,
      {
        eval: true,
        workerData: { file, module: createRequire(import.meta.url).resolve('better-sqlite3') },
      },
    );
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    await new Promise((resolve) => holder.once('message', resolve));
    const updated = await store.update(run.id, { status: 'running' });
    expect(updated.status).toBe('running');
    expect(await exited).toBe(0);
  });

  it('opens read-only when asked: reads work, writes are ERR_STORE', async () => {
    const writer = open();
    const run = await writer.create(makeRun({ labels: { a: 'b' } }));
    await writer.close();
    const reader = open({ readonly: true });
    expect(await reader.get(run.id)).toEqual(run);
    expect((await reader.list({ label: 'a=b' })).runs).toEqual([run]);
    for (const write of [
      () => reader.create(makeRun()),
      () => reader.update(run.id, { status: 'running' }),
      () => reader.prune({ keepLast: 0 }),
    ]) {
      const error = await rejection(write());
      expect(error.code).toBe('ERR_STORE');
      expect(error.message).toContain(file);
      expect(error.message).toMatch(/opened read-only \(`readonly: true`\)/);
    }
    expect(await reader.get(run.id)).toEqual(run);
    expect(reader.health()).toMatchObject({
      writable: false,
      lastWriteError: { code: 'ERR_STORE' },
    });
  });

  it('refuses read-only a file that is missing or needs migrating', () => {
    const missing = thrown(() => open({ readonly: true }));
    expect(missing.code).toBe('ERR_STORE');
    expect(missing.message).toContain(file);
    expect(existsSync(file)).toBe(false);
    writeFileSync(file, '');
    const empty = thrown(() => open({ readonly: true }));
    expect(empty.code).toBe('ERR_STORE');
    expect(empty.message).toMatch(/opened read-only/);
  });

  it('fails writes to a file it may not write, with ERR_STORE, and keeps it intact', async (context) => {
    const writer = open();
    const run = await writer.create(makeRun());
    await writer.close();
    const undo = makeReadOnly(file);
    if (undo === undefined) {
      context.skip();
      return;
    }
    try {
      const bytes = readFileSync(file);
      let error: RunyardError;
      try {
        const store = open();
        expect(await store.get(run.id)).toEqual(run);
        error = await rejection(store.create(makeRun()));
        expect(await store.get(run.id)).toEqual(run);
        await store.close();
      } catch (thrownError) {
        // Without write access to the folder either, SQLite cannot even read a WAL database.
        error = thrownError as RunyardError;
      }
      expect(error).toBeInstanceOf(RunyardError);
      expect(error.code).toBe('ERR_STORE');
      expect(error.message).toContain(file);
      expect(error.message).toMatch(/read-only/);
      expect(readFileSync(file).equals(bytes)).toBe(true);
    } finally {
      undo();
    }
  });

  it('refuses bad options with ERR_INVALID', () => {
    for (const options of [
      { path: '' },
      { path: file, busyTimeoutMs: -1 },
      { path: file, readonly: 'yes' },
      { path: file, clock: {} },
      { path: file, busyTimeoutMs: 2 ** 31 },
    ]) {
      expect(thrown(() => new SqliteStore(options as SqliteStoreOptions)).code).toBe('ERR_INVALID');
    }
  });

  it('has the defaults the docs give', () => {
    const text = readDoc('persistence.md');
    for (const [option, value] of Object.entries(sqliteStoreDefaults)) {
      expect(documentedDefault(text, option), option).toBe(String(value));
    }
  });

  it('refuses an unknown option, naming the one meant', () => {
    const error = thrown(
      () => new SqliteStore({ path: file, busyTimout: 1 } as unknown as SqliteStoreOptions),
    );
    expect(error.code).toBe('ERR_INVALID');
    expect(error.message).toContain('Unknown option `busyTimout`: did you mean `busyTimeoutMs`?');
    expect(existsSync(file)).toBe(false);
  });
});

describe('openStore and the home folder', () => {
  const saved = process.env.RUNYARD_HOME;
  afterEach(() => {
    if (saved === undefined) delete process.env.RUNYARD_HOME;
    else process.env.RUNYARD_HOME = saved;
  });

  it("opens 'memory:' as a MemoryStore", async () => {
    const store = await openStore('memory:');
    opened.push(store);
    expect(store).toBeInstanceOf(MemoryStore);
  });

  it("opens 'sqlite:<path>' relative to the current directory, and absolute ones", async () => {
    const relativeStore = (await openStore(
      `sqlite:${relative(process.cwd(), join(dir, 'rel.db'))}`,
    )) as SqliteStore;
    opened.push(relativeStore);
    expect(relativeStore).toBeInstanceOf(SqliteStore);
    expect(relativeStore.path).toBe(join(dir, 'rel.db'));
    const absolute = (await openStore(`sqlite://${join(dir, 'abs.db')}`)) as SqliteStore;
    opened.push(absolute);
    expect(absolute.path).toBe(join(dir, 'abs.db'));
    const run = await absolute.create(makeRun());
    expect(await absolute.get(run.id)).toEqual(run);
  });

  it("opens 'sqlite:' alone in the home folder, creating it", async () => {
    const home = join(dir, 'home', 'nested');
    process.env.RUNYARD_HOME = home;
    expect(defaultHome()).toBe(home);
    expect(defaultDatabasePath()).toBe(join(home, 'runyard.db'));
    const store = (await openStore('sqlite:')) as SqliteStore;
    opened.push(store);
    expect(store.path).toBe(join(home, 'runyard.db'));
    expect(existsSync(store.path)).toBe(true);
  });

  it('defaults the home to .runyard in the current directory', () => {
    delete process.env.RUNYARD_HOME;
    expect(defaultHome()).toBe(join(process.cwd(), '.runyard'));
    process.env.RUNYARD_HOME = '';
    expect(defaultHome()).toBe(join(process.cwd(), '.runyard'));
  });

  it('puts logs at <home>/logs/<runId>.log, and refuses an id that could leave it', () => {
    expect(logPath('/data/yard', '0190f5c2-0000-7000-8000-000000000000')).toBe(
      '/data/yard/logs/0190f5c2-0000-7000-8000-000000000000.log',
    );
    for (const id of ['../secrets', 'a/b', '', '.hidden']) {
      expect(thrown(() => logPath('/data/yard', id)).code).toBe('ERR_INVALID');
    }
  });

  it('says PostgreSQL is not available yet, without echoing the password', async () => {
    const error = await rejection(openStore('postgres://admin:hunter2@db.example/runs'));
    expect(error.code).toBe('ERR_INVALID');
    expect(error.message).toContain('PostgreSQL support is not available yet');
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses any other URL with ERR_INVALID naming it', async () => {
    const plain = await rejection(openStore('redis://cache:6379'));
    expect(plain.code).toBe('ERR_INVALID');
    expect(plain.message).toContain('redis://cache:6379');
    const secret = await rejection(openStore('mysql://root:hunter2@db/runs'));
    expect(secret.message).toContain('mysql://root:***@db/runs');
    expect(secret.message).not.toContain('hunter2');
    expect((await rejection(openStore('runyard.db'))).code).toBe('ERR_INVALID');
    expect((await rejection(openStore(42 as unknown as string))).code).toBe('ERR_INVALID');
  });

  it('gives ERR_STORE for a database it cannot use', async () => {
    const error = await rejection(openStore(`sqlite:${dir}`));
    expect(error.code).toBe('ERR_STORE');
  });
});
