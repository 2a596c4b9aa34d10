/**
 * `cancel()` of a run that ends during the call resolves with the run as it ended: another
 * process finished it, or recovered it, between the cancel's read and its write.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { newRunId } from '../../src/core/ids.js';
import type { RunOwner, RunRecord } from '../../src/core/types.js';
import { Executor } from '../../src/executor/executor.js';
import { readProcessInfo } from '../../src/process/process-table.js';
import type { RunPatch, RunStore } from '../../src/store/run-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { TaskManager } from '../../src/tasks/task-manager.js';
import { killRecordedProcesses, spawnFixture } from '../helpers/processes.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-tasks-cancel-'));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await killRecordedProcesses();
  await rm(dir, { recursive: true, force: true });
});

/**
 * The store, where the first write that `matches` is preceded by `interloper`'s own write to
 * the same run: what another process does to it in between.
 */
function racingStore(
  inner: SqliteStore,
  matches: (patch: RunPatch) => boolean,
  interloper: RunPatch,
): RunStore {
  let raced = false;
  return new Proxy(inner, {
    get(target, key) {
      if (key === 'update') {
        return async (id: string, patch: RunPatch) => {
          if (!raced && matches(patch)) {
            raced = true;
            await target.update(id, interloper);
          }
          return target.update(id, patch);
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function setUp(owner: RunOwner, matches: (patch: RunPatch) => boolean, end: RunPatch) {
  const inner = new SqliteStore({ path: join(dir, 'runyard.db') });
  cleanup.push(() => inner.close());
  const record: RunRecord = {
    id: newRunId(),
    name: 'encode',
    pattern: 'fire-and-forget',
    status: 'running',
    attempt: 1,
    createdAt: new Date().toISOString(),
    startedAt: new Date().toISOString(),
    output: { lines: 0, bytes: 0, truncated: false },
    owner,
  };
  await inner.create(record);
  const executor = new Executor({ concurrency: 1, resources: false });
  const manager = new TaskManager({
    store: racingStore(inner, matches, end),
    executor,
    logDir: join(dir, 'logs'),
    pollMs: 50,
  });
  cleanup.push(async () => {
    await manager.shutdown({ graceMs: 0 });
    await executor.close();
  });
  return { manager, inner, id: record.id };
}

const finished = (status: 'succeeded' | 'interrupted'): RunPatch => ({
  status,
  finishedAt: new Date().toISOString(),
});

it('a run of a live owner that ends before the cancel request lands is returned as it ended', async () => {
  const owner = spawnFixture('forever.js');
  await owner.waitForLine('ready');
  const { manager, inner, id } = await setUp(
    { pid: owner.pid, host: hostname(), startTime: readProcessInfo(owner.pid)!.startTime },
    (patch) => patch.cancelRequestedAt !== undefined,
    finished('succeeded'),
  );
  const cancelled = await manager.cancel(id);
  expect(cancelled.status).toBe('succeeded');
  expect(cancelled).toEqual(await inner.get(id));
});

it('a run of a dead owner that another process settles first is returned as it was settled', async () => {
  const gone = spawnFixture('exit-with.js', ['0']);
  await gone.exited;
  const { manager, inner, id } = await setUp(
    { pid: gone.pid, host: hostname(), startTime: 1 },
    (patch) => patch.status === 'cancelled',
    finished('interrupted'),
  );
  const cancelled = await manager.cancel(id);
  expect(cancelled.status).toBe('interrupted');
  expect(cancelled).toEqual(await inner.get(id));
});
