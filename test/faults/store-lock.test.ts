/**
 * Another process holds the database's write lock past the busy timeout: writes reject with
 * ERR_STORE saying so, promptly, leave nothing half done, and work again once it lets go.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunyardError } from '../../src/core/errors.js';
import type { RunRecord } from '../../src/core/types.js';
import { SqliteStore } from '../../src/store/index.js';
import { killRecordedProcesses, type SpawnedProcess, spawnFixture } from '../helpers/processes.js';
import { makeRun } from '../store/records.js';

const BUSY_TIMEOUT_MS = 300;

let dir: string;
let path: string;
const stores: SqliteStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-store-lock-'));
  path = join(dir, 'runyard.db');
});

afterEach(async () => {
  await killRecordedProcesses();
  await Promise.allSettled(stores.splice(0).map((store) => store.close()));
  await rm(dir, { recursive: true, force: true });
});

function open(): SqliteStore {
  const store = new SqliteStore({ path, busyTimeoutMs: BUSY_TIMEOUT_MS });
  stores.push(store);
  return store;
}

async function holdLock(): Promise<SpawnedProcess> {
  const holder = spawnFixture('store-hold-lock.mjs', [path]);
  await holder.waitForLine('locked', 20_000);
  return holder;
}

async function release(holder: SpawnedProcess): Promise<void> {
  holder.child.kill('SIGUSR2');
  await holder.waitForLine('released', 20_000);
  expect((await holder.exited).code).toBe(0);
}

function readBack(id: string): RunRecord | undefined {
  const db = new Database(path, { readonly: true });
  try {
    const data = db.prepare('SELECT data FROM runs WHERE id = ?').pluck().get(id);
    return typeof data === 'string' ? (JSON.parse(data) as RunRecord) : undefined;
  } finally {
    db.close();
  }
}

/** The rejection of `promise` and how long it took to come. */
async function timedRejection(promise: Promise<unknown>): Promise<[RunyardError, number]> {
  const start = performance.now();
  try {
    await promise;
  } catch (error) {
    return [error as RunyardError, performance.now() - start];
  }
  throw new Error('Expected a rejection');
}

function expectLocked(error: RunyardError): void {
  expect(error.code).toBe('ERR_STORE');
  expect(error.message).toContain(path);
  expect(error.message).toMatch(/the database is locked by another writer/);
  expect(error.message).toContain(`${BUSY_TIMEOUT_MS} ms`);
}

describe('a write lock held by another process past the busy timeout', () => {
  it('fails writes with ERR_STORE promptly, keeps no half state, then writes again', async () => {
    const store = open();
    const run = await store.create(makeRun({ status: 'running' }));
    const holder = await holdLock();

    const [error, elapsedMs] = await timedRejection(store.update(run.id, { status: 'succeeded' }));
    expectLocked(error);
    // It waited the busy timeout, and not much longer.
    expect(elapsedMs).toBeGreaterThanOrEqual(BUSY_TIMEOUT_MS * 0.9);
    expect(elapsedMs).toBeLessThan(BUSY_TIMEOUT_MS + 3000);
    expect(store.health()).toEqual({
      writable: false,
      lastWriteError: error,
      lastWriteErrorAt: expect.any(String),
    });

    // Twenty writes of one tick wait for the lock once, and fail together.
    const late = Array.from({ length: 10 }, () => makeRun());
    const [batchError, batchMs] = await timedRejection(
      Promise.all([
        ...late.map((record) => store.create(record)),
        ...late.map(() => store.update(run.id, { pid: 7 })),
      ]),
    );
    expectLocked(batchError);
    expect(batchMs).toBeLessThan(BUSY_TIMEOUT_MS * 10);

    // Reads go on meanwhile: WAL readers never wait for the writer.
    expect(await store.get(run.id)).toEqual(run);

    await release(holder);
    expect(readBack(run.id)).toEqual(run);
    for (const record of late) expect(readBack(record.id)).toBeUndefined();
    const done = await store.update(run.id, { status: 'succeeded' });
    expect(readBack(run.id)).toEqual(done);
    expect(store.health()).toEqual({ writable: true });
  });

  it('fails an open that must migrate with ERR_STORE, and opens once the lock is gone', async () => {
    const holder = await holdLock();
    let error: RunyardError | undefined;
    try {
      open();
    } catch (thrown) {
      error = thrown as RunyardError;
    }
    expect(error).toBeDefined();
    expectLocked(error!);
    await release(holder);
    const store = open();
    const run = await store.create(makeRun());
    expect(readBack(run.id)).toEqual(run);
  });
});
