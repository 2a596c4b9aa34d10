/**
 * A full disk: every write of the SQLite store either persists or rejects with ERR_STORE
 * naming the cause, never resolves having written nothing; once space is freed, writes work.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunyardError } from '../../src/core/errors.js';
import type { RunRecord } from '../../src/core/types.js';
import { SqliteStore } from '../../src/store/index.js';
import { mountTmpfs, type Tmpfs, tmpfsUnavailable } from '../store/mounts.js';
import { makeRun } from '../store/records.js';

const unavailable = tmpfsUnavailable();
if (unavailable !== undefined) console.warn(`Skipping the full-disk tests: ${unavailable}`);

let disk: Tmpfs;
let path: string;
const stores: SqliteStore[] = [];

beforeEach(async () => {
  if (unavailable !== undefined) return;
  disk = await mountTmpfs(2 * 1024 * 1024);
  path = join(disk.dir, 'runyard.db');
});

afterEach(async () => {
  if (unavailable !== undefined) return;
  await Promise.allSettled(stores.splice(0).map((store) => store.close()));
  await disk[Symbol.asyncDispose]();
});

function open(): SqliteStore {
  // Inline checkpoints only: the WAL then only grows, so every write needs new space.
  const store = new SqliteStore({ path, backgroundCheckpoints: false });
  stores.push(store);
  return store;
}

/** Every run as another connection reads it from the file. */
function readBack(): Map<string, RunRecord> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT data FROM runs').pluck().all() as string[];
    return new Map(rows.map((row) => [(JSON.parse(row) as RunRecord).id, JSON.parse(row)]));
  } finally {
    db.close();
  }
}

async function rejection(promise: Promise<unknown>): Promise<RunyardError> {
  try {
    await promise;
  } catch (error) {
    return error as RunyardError;
  }
  throw new Error('Expected a rejection, the write resolved');
}

function expectDiskFull(error: RunyardError): void {
  expect(error.code).toBe('ERR_STORE');
  expect(error.message).toContain(path);
  expect(error.message).toMatch(/disk is full/);
  expect(error.message).toContain('SQLITE_FULL');
}

describe.skipIf(unavailable !== undefined)('the SQLite store on a full disk', () => {
  it('rejects every kind of write with ERR_STORE, keeps the old records, and recovers', async () => {
    const store = open();
    const running = await store.create(makeRun({ status: 'running', labels: { a: 'b' } }));
    const finished = await store.create(makeRun({ status: 'succeeded' }));
    const before = readBack();
    disk.fill();

    const writes: [string, () => Promise<unknown>][] = [
      ['update', () => store.update(running.id, { status: 'succeeded', exitCode: 0 })],
      ['update with labels', () => store.update(running.id, { labels: { c: 'd' } })],
      ['create', () => store.create(makeRun())],
      ['create with labels', () => store.create(makeRun({ labels: { e: 'f' } }))],
      ['delete', () => store.delete(finished.id)],
      ['prune', () => store.prune({ keepLast: 0 })],
      [
        'a same-tick batch',
        () =>
          Promise.any([
            store.update(running.id, { pid: 42 }),
            store.create(makeRun()),
            store.delete(finished.id),
          ]).catch((error: AggregateError) => {
            // One failure for all of them: the batch is one transaction.
            expect(new Set(error.errors).size).toBe(1);
            throw error.errors[0];
          }),
      ],
    ];
    for (const [name, write] of writes) {
      const error = await rejection(write());
      try {
        expectDiskFull(error);
      } catch (failure) {
        throw new Error(`${name}: ${(failure as Error).message}`);
      }
      expect(readBack(), name).toEqual(before);
    }
    expect(store.health()).toMatchObject({
      writable: false,
      lastWriteError: { code: 'ERR_STORE' },
      lastWriteErrorAt: expect.any(String),
    });
    // Reads go on.
    expect(await store.get(running.id)).toEqual(running);

    disk.free();
    const done = await store.update(running.id, { status: 'succeeded', exitCode: 0 });
    expect(done).toEqual({ ...running, status: 'succeeded', exitCode: 0 });
    expect(await store.delete(finished.id)).toBe(true);
    const after = readBack();
    expect(after.get(running.id)).toEqual(done);
    expect(after.has(finished.id)).toBe(false);
    expect(store.health()).toEqual({ writable: true });
  });

  it('refuses to open a new database it cannot migrate, then migrates it once space is freed', async () => {
    // An empty file: creating it needs no data block, migrating it does.
    writeFileSync(path, '');
    disk.fill();
    let error: RunyardError | undefined;
    try {
      open();
    } catch (thrown) {
      error = thrown as RunyardError;
    }
    expect(error).toBeDefined();
    expectDiskFull(error!);
    disk.free();
    const store = open();
    const run = await store.create(makeRun());
    expect(readBack().get(run.id)).toEqual(run);
  });
});
