/**
 * A run that ends while another process holds the database's write lock past the busy
 * timeout: its terminal status is kept in memory, answered at once, retried until written,
 * and `health()` says the store cannot be written meanwhile.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { RunyardError } from '../../src/core/errors.js';
import { Executor } from '../../src/executor/executor.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { RunPatch } from '../../src/store/run-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { TaskManager } from '../../src/tasks/task-manager.js';
import { killRecordedProcesses, spawnFixture } from '../helpers/processes.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-tasks-locked-'));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await killRecordedProcesses();
  await rm(dir, { recursive: true, force: true });
});

async function until<T>(what: string, read: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

it('keeps a terminal status the store refused, answers with it, and writes it once the lock is gone', async () => {
  const path = join(dir, 'runyard.db');
  const store = new SqliteStore({ path, busyTimeoutMs: 100 });
  cleanup.push(() => store.close());
  // Another connection, as another process reading the store would have.
  const reader = new SqliteStore({ path, readonly: true });
  cleanup.push(() => reader.close());
  const executor = new Executor({ concurrency: 1, resources: false });
  const manager = new TaskManager({ store, executor, logDir: join(dir, 'logs'), pollMs: 50 });
  cleanup.push(async () => {
    await manager.shutdown({ graceMs: 0 });
    await executor.close();
  });

  let finish!: () => void;
  const gate = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const run = await manager.launch({ name: 'report', fn: () => gate.then(() => 'done') });
  await until('running', async () => {
    const record = await reader.get(run.id);
    return record?.status === 'running' ? record : undefined;
  });

  const holder = spawnFixture('tasks-hold-lock.mjs', [path]);
  await holder.waitForLine('locked');
  finish();

  const done = await manager.wait(run.id);
  expect(done).toMatchObject({ status: 'succeeded', value: 'done' });
  // Asked again, here: the same answer, at once, although the store still says `running`.
  expect(await manager.wait(run.id)).toMatchObject({ status: 'succeeded' });
  expect(await manager.get(run.id)).toMatchObject({ status: 'succeeded' });
  expect((await reader.get(run.id))?.status).toBe('running');
  const health = manager.health();
  expect(health.healthy).toBe(false);
  expect(health.reasons[0]).toMatch(/run store cannot be written.*locked/);
  expect(health.reasons[0]).toContain('the changes of 1 run wait in memory');

  holder.child.kill('SIGTERM');
  await holder.exited;
  const written = await until('the terminal write', async () => {
    const record = await reader.get(run.id);
    return record?.status === 'succeeded' ? record : undefined;
  });
  expect(written.finishedAt).toBe(done.finishedAt);
  expect(manager.health().healthy).toBe(true);
  expect(await manager.get(run.id)).toEqual(written);
});

it('shutdown() gives up on a write the store still refuses after its grace, and says so', async () => {
  const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
  cleanup.push(async () => logged.mockRestore());
  const path = join(dir, 'runyard.db');
  const store = new SqliteStore({ path, busyTimeoutMs: 50 });
  cleanup.push(() => store.close());
  const executor = new Executor({ concurrency: 1, resources: false });
  const manager = new TaskManager({ store, executor, logDir: join(dir, 'logs') });
  let finish!: () => void;
  const gate = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const run = await manager.launch({ fn: () => gate });
  await until('running', async () =>
    (await store.get(run.id))?.status === 'running' ? true : undefined,
  );
  const holder = spawnFixture('tasks-hold-lock.mjs', [path]);
  await holder.waitForLine('locked');
  finish();
  expect(await manager.wait(run.id)).toMatchObject({ status: 'succeeded' });
  await manager.shutdown({ graceMs: 200 });
  await executor.close();
  const gaveUp = logged.mock.calls.find((call) => String(call[0]).includes('gave up writing run'));
  expect(String(gaveUp?.[0])).toContain(run.id);
});

it("health() reports the store's own failed write, whoever made it", async () => {
  const path = join(dir, 'runyard.db');
  const store = new SqliteStore({ path, busyTimeoutMs: 100 });
  cleanup.push(() => store.close());
  const executor = new Executor({ concurrency: 1, resources: false });
  const manager = new TaskManager({ store, executor, logDir: join(dir, 'logs') });
  cleanup.push(async () => {
    await manager.shutdown({ graceMs: 0 });
    await executor.close();
  });
  await manager.wait((await manager.launch({ fn: () => 1 })).id);
  expect(manager.health().healthy).toBe(true);

  const holder = spawnFixture('tasks-hold-lock.mjs', [path]);
  await holder.waitForLine('locked');
  await expect(store.prune({ olderThan: 0 })).rejects.toMatchObject({ code: 'ERR_STORE' });
  const health = manager.health();
  expect(health.healthy).toBe(false);
  expect(health.reasons[0]).toMatch(/^the run store cannot be written: .*locked/);

  holder.child.kill('SIGTERM');
  await holder.exited;
  await store.prune({ olderThan: 0 });
  expect(manager.health().healthy).toBe(true);
});

it("an executor's run that ends while the store is locked is recorded once the lock is gone", async () => {
  const path = join(dir, 'runyard.db');
  const store = new SqliteStore({ path, busyTimeoutMs: 100 });
  cleanup.push(() => store.close());
  const reader = new SqliteStore({ path, readonly: true });
  cleanup.push(() => reader.close());
  const executor = new Executor({ concurrency: 1, resources: false, store });
  cleanup.push(() => executor.close());
  let finish!: () => void;
  const gate = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const result = executor.submit({ name: 'resize', fn: () => gate }, { id: 'resize-1' });
  await until('running', async () => {
    const record = await reader.get('resize-1');
    return record?.status === 'running' ? record : undefined;
  });
  const holder = spawnFixture('tasks-hold-lock.mjs', [path]);
  await holder.waitForLine('locked');
  finish();
  expect(await result).toMatchObject({ status: 'succeeded' });
  expect((await reader.get('resize-1'))?.status).toBe('running');

  holder.child.kill('SIGTERM');
  await holder.exited;
  const written = await until('the terminal write', async () => {
    const record = await reader.get('resize-1');
    return record?.status === 'succeeded' ? record : undefined;
  });
  expect(written).toMatchObject({ name: 'resize', finishedAt: (await result).finishedAt });
});

it('the refused writes of many runs cost one try a round, not one a run', async () => {
  const inner = new MemoryStore();
  cleanup.push(() => inner.close());
  let isLocked = false;
  const refused: number[] = [];
  const store = new Proxy(inner, {
    get(target, key) {
      if (key === 'update') {
        return (id: string, patch: RunPatch) => {
          if (!isLocked) return target.update(id, patch);
          refused.push(performance.now());
          return Promise.reject(new RunyardError('ERR_STORE', 'the database is locked'));
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const executor = new Executor({ concurrency: 5, resources: false });
  const manager = new TaskManager({ store, executor, logDir: join(dir, 'logs') });
  cleanup.push(async () => {
    await manager.shutdown({ graceMs: 0 });
    await executor.close();
  });
  let finish!: () => void;
  const gate = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const runs = await Promise.all(
    Array.from({ length: 5 }, () => manager.launch({ fn: () => gate })),
  );
  for (const run of runs) {
    await until(
      'running',
      async () => (await inner.get(run.id))?.status === 'running' || undefined,
    );
  }
  isLocked = true;
  finish();
  for (const run of runs) expect(await manager.wait(run.id)).toMatchObject({ status: 'succeeded' });
  // At most one refused first try per run, then one try a round: rounds are a backoff apart
  // (at least 37 ms), where runs retried each on its own would come back within a millisecond.
  await until('five rounds', async () => refused.length >= 10 || undefined);
  const rounds = refused.slice(5);
  for (let i = 1; i < rounds.length; i++) {
    expect(rounds[i]! - rounds[i - 1]!).toBeGreaterThan(20);
  }
  expect(manager.health().reasons[0]).toContain('the changes of 5 runs wait in memory');
  isLocked = false;
  for (const run of runs) {
    await until(
      'written',
      async () => (await inner.get(run.id))?.status === 'succeeded' || undefined,
    );
  }
});
