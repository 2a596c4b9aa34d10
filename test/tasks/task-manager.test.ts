import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/core/types.js';
import { Executor } from '../../src/executor/executor.js';
import { readLogFile } from '../../src/output/log-file.js';
import { isProcessAlive } from '../../src/process/tree-kill.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { RunStore } from '../../src/store/run-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { TaskManager } from '../../src/tasks/task-manager.js';
import { waitUntilDead } from '../helpers/processes.js';

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);
const node = process.execPath;

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-tasks-'));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await rm(dir, { recursive: true, force: true });
});

function managerWith(
  store: RunStore,
  options: { concurrency?: number; stuckAfterMs?: number } = {},
) {
  const executor = new Executor({ concurrency: options.concurrency ?? 4, resources: false });
  const manager = new TaskManager({
    store,
    executor,
    logDir: join(dir, 'logs'),
    pollMs: 50,
    ...(options.stuckAfterMs !== undefined && { stuckAfterMs: options.stuckAfterMs }),
  });
  cleanup.push(async () => {
    await manager.shutdown({ graceMs: 0 });
    await executor.close();
  });
  return manager;
}

/** Waits until the store shows the run in `status`, reading it as another process would. */
async function untilStatus(store: RunStore, id: string, status: RunRecord['status']) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const record = await store.get(id);
    if (record?.status === status) return record;
    if (Date.now() > deadline)
      throw new Error(`run ${id} never became ${status}: ${record?.status}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each([
  ['memory', () => new MemoryStore()],
  ['sqlite', () => new SqliteStore({ path: join(dir, 'runyard.db') })],
])('TaskManager on the %s store', (_name, makeStore) => {
  let store: RunStore;
  beforeEach(() => {
    store = makeStore();
    cleanup.push(() => store.close());
  });

  it('returns the queued record before the task ends, then moves it to a terminal status', async () => {
    const manager = managerWith(store);
    const launched = await manager.launch(
      { command: node, args: [fixture('ticker.js'), '3', '20'] },
      { labels: { team: 'video' }, params: { quality: 'high' } },
    );
    expect(launched).toMatchObject({
      status: 'queued',
      pattern: 'fire-and-forget',
      attempt: 1,
      labels: { team: 'video' },
      params: { quality: 'high' },
      name: 'node',
    });
    expect(launched.owner?.pid).toBe(process.pid);
    await untilStatus(store, launched.id, 'running');
    const done = await manager.wait(launched.id);
    expect(done).toMatchObject({ status: 'succeeded', exitCode: 0, output: { lines: 3 } });
    expect(done.startedAt).toBeDefined();
    expect(done.finishedAt).toBeDefined();
    expect(await store.get(launched.id)).toEqual(done);
    const log = await readLogFile(join(dir, 'logs', `${launched.id}.log`));
    expect(log.map(({ seq, stream, text }) => ({ seq, stream, text }))).toEqual([
      { seq: 1, stream: 'stdout', text: 'tick 1' },
      { seq: 2, stream: 'stdout', text: 'tick 2' },
      { seq: 3, stream: 'stdout', text: 'tick 3' },
    ]);
  });

  it('a throwing function task fails with its message', async () => {
    const manager = managerWith(store);
    const run = await manager.launch({
      name: 'parse',
      fn: (ctx) => {
        ctx.log('reading');
        throw new Error('row 12 has no date');
      },
    });
    const done = await manager.wait(run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'ERR_TASK_FAILED' });
    expect(done.error?.message).toContain('row 12 has no date');
  });

  it("wait() gives a function run's return value, kept here and never stored", async () => {
    const manager = managerWith(store);
    const run = await manager.launch({ name: 'count', fn: () => ({ rows: 3 }) });
    expect(await manager.wait(run.id)).toMatchObject({ status: 'succeeded', value: { rows: 3 } });
    // Asked again once the run is over, from the store's record.
    const again = await manager.wait(run.id);
    expect(again.value).toEqual({ rows: 3 });
    const stored = await store.get(run.id);
    expect(stored).not.toHaveProperty('value');
    expect(again).toEqual({ ...stored, value: { rows: 3 } });
    const program = await manager.launch({ command: node, args: [fixture('exit-with.js'), '0'] });
    expect(await manager.wait(program.id)).not.toHaveProperty('value');
  });

  it('cancel ends a running tree, cancels a queued run before it starts, and is idempotent', async () => {
    const manager = managerWith(store, { concurrency: 1 });
    const running = await manager.launch({
      command: node,
      args: [fixture('spawn-grandchildren.js'), '3'],
    });
    const queued = await manager.launch({ command: node, args: [fixture('exit-with.js'), '0'] });
    const started = await untilStatus(store, running.id, 'running');
    const pids = await pidsFromLog(join(dir, 'logs', `${running.id}.log`));
    expect(pids.every(isProcessAlive)).toBe(true);

    const cancelledQueued = await manager.cancel(queued.id);
    expect(cancelledQueued.status).toBe('cancelled');
    expect(cancelledQueued.startedAt).toBeUndefined();
    const cancelled = await manager.cancel(running.id, 'operator');
    expect(cancelled.status).toBe('cancelled');
    expect(started.pid).toBe(pids[0]);
    expect(pids.filter(isProcessAlive)).toEqual([]);
    expect(await manager.cancel(running.id)).toEqual(cancelled);
    await expect(manager.cancel('0190a0a0-0000-7000-8000-000000000000')).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
  });

  it('retries with backoff, counting attempts, until it succeeds', async () => {
    const manager = managerWith(store);
    const counter = join(dir, 'counter');
    const run = await manager.launch(
      { command: node, args: [fixture('fail-until.js'), counter, '3'] },
      { retries: { attempts: 5, backoffMs: 10 } },
    );
    const done = await manager.wait(run.id);
    expect(done).toMatchObject({ status: 'succeeded', attempt: 3 });
    expect(await readFile(counter, 'utf8')).toBe('3');
    const log = await readFile(join(dir, 'logs', `${run.id}.log`), 'utf8');
    expect(log).toContain('attempt 1 failed; retrying in');
    expect(log).toContain('attempt 2 failed; retrying in');
  });

  it('gives up after the last attempt with the last error', async () => {
    const manager = managerWith(store);
    const run = await manager.launch(
      { command: node, args: [fixture('fail-until.js'), join(dir, 'c2'), '10'] },
      { retries: { attempts: 2, backoffMs: 1 } },
    );
    const done = await manager.wait(run.id);
    expect(done).toMatchObject({ status: 'failed', attempt: 2, exitCode: 1 });
    expect(done.error?.message).toContain('not yet (try 2 of 10)');
  });

  it('an idempotency key returns the first run, also when launches race', async () => {
    const manager = managerWith(store);
    const task = { command: node, args: [fixture('exit-with.js'), '0'] };
    const [a, b, c] = await Promise.all([
      manager.launch(task, { idempotencyKey: 'report-2026-11-28' }),
      manager.launch(task, { idempotencyKey: 'report-2026-11-28' }),
      manager.launch(task, { idempotencyKey: 'report-2026-11-28' }),
    ]);
    expect(new Set([a!.id, b!.id, c!.id]).size).toBe(1);
    await manager.wait(a!.id);
    const again = await manager.launch(task, { idempotencyKey: 'report-2026-11-28' });
    expect(again.id).toBe(a!.id);
    expect(again.status).toBe('succeeded');
    expect((await store.list({})).runs).toHaveLength(1);
  });

  it('a cancel racing the completion leaves one terminal status that never changes', async () => {
    const manager = managerWith(store);
    for (let i = 0; i < 5; i++) {
      const run = await manager.launch({ command: node, args: [fixture('exit-with.js'), '0'] });
      await untilStatus(store, run.id, 'running');
      const [cancelled, waited] = await Promise.all([manager.cancel(run.id), manager.wait(run.id)]);
      expect(cancelled).toEqual(waited);
      expect(['succeeded', 'cancelled']).toContain(waited.status);
      expect(await store.get(run.id)).toEqual(waited);
    }
  });

  it('shutdown lets running runs finish, keeps queued ones queued, refuses launches', async () => {
    const manager = managerWith(store, { concurrency: 1 });
    const running = await manager.launch({
      command: node,
      args: [fixture('ticker.js'), '2', '30'],
    });
    const queued = await manager.launch({ command: node, args: [fixture('exit-with.js'), '0'] });
    await untilStatus(store, running.id, 'running');
    await manager.shutdown({ graceMs: 20_000 });
    expect((await store.get(running.id))?.status).toBe('succeeded');
    expect((await store.get(queued.id))?.status).toBe('queued');
    await expect(manager.launch({ command: 'true' })).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('shutdown cancels what is still running after the grace', async () => {
    const manager = managerWith(store);
    const run = await manager.launch({ command: node, args: [fixture('forever.js')] });
    const running = await untilStatus(store, run.id, 'running');
    await manager.shutdown({ graceMs: 50 });
    expect((await store.get(run.id))?.status).toBe('cancelled');
    expect(isProcessAlive(running.pid!)).toBe(false);
  });

  it('health reports queued work that does not move', async () => {
    const manager = managerWith(store, { concurrency: 1, stuckAfterMs: 1 });
    expect(manager.health()).toMatchObject({ healthy: true, running: 0, queued: 0 });
    const blocker = await manager.launch({ command: node, args: [fixture('forever.js')] });
    await untilStatus(store, blocker.id, 'running');
    const stuck = await manager.launch({ command: node, args: [fixture('exit-with.js'), '0'] });
    const deadline = Date.now() + 10_000;
    while (manager.health().healthy && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const health = manager.health();
    expect(health).toMatchObject({ healthy: false, running: 1, queued: 1 });
    expect(health.reasons[0]).toContain(`run ${stuck.id} (node) has waited`);
    expect(health.reasons[0]).toContain('for concurrency');
  });
});

describe('TaskManager options', () => {
  it('refuses unknown keys in its options, launch options, retries and tasks', async () => {
    const store = new MemoryStore();
    cleanup.push(() => store.close());
    expect(() => new TaskManager({ store, pollEvery: 5 } as never)).toThrow(
      'Unknown option `pollEvery`',
    );
    expect(() => new TaskManager({ store, stuckAfter: 5 } as never)).toThrow(
      'Unknown option `stuckAfter`: did you mean `stuckAfterMs`?',
    );
    const manager = managerWith(store);
    const cases: [Promise<unknown>, string][] = [
      [
        manager.launch({ command: 'true', timeout: 5 } as never),
        'Unknown option `task.timeout`: did you mean `timeoutMs`?',
      ],
      [
        manager.launch({ fn: () => 1, nmae: 'x' } as never),
        'Unknown option `task.nmae`: did you mean `name`?',
      ],
      [
        manager.launch({ command: 'true' }, { lables: { a: 'b' } } as never),
        'Unknown option `lables`: did you mean `labels`?',
      ],
      [
        manager.launch({ command: 'true' }, { retries: { attempts: 2, backoff: 5 } } as never),
        'Unknown option `retries.backoff`: did you mean `backoffMs`?',
      ],
      [manager.shutdown({ grace: 5 } as never), 'Unknown option `grace`: did you mean `graceMs`?'],
    ];
    for (const [promise, message] of cases) {
      await expect(promise).rejects.toMatchObject({
        code: 'ERR_INVALID',
        message: expect.stringContaining(message),
      });
    }
    expect((await store.list({})).runs).toEqual([]);
  });
});

describe('TaskManager durations past 2^31 ms', () => {
  const month = 30 * 86_400_000;

  it('a 30-day backoff does not retry at once', async () => {
    const store = new MemoryStore();
    cleanup.push(() => store.close());
    const manager = managerWith(store);
    const slow = await manager.launch(
      { command: node, args: [fixture('fail-until.js'), join(dir, 'slow'), '2'] },
      { retries: { attempts: 2, backoffMs: month, maxBackoffMs: month } },
    );
    // Against a run that needs two 1 ms backoffs: by its end the slow one has tried once.
    const quick = await manager.launch(
      { command: node, args: [fixture('fail-until.js'), join(dir, 'quick'), '3'] },
      { retries: { attempts: 3, backoffMs: 1 } },
    );
    expect(await manager.wait(quick.id)).toMatchObject({ status: 'succeeded', attempt: 3 });
    expect(await store.get(slow.id)).toMatchObject({
      status: 'queued',
      waitingFor: 'retry-backoff',
      attempt: 2,
    });
    expect(await readFile(join(dir, 'slow'), 'utf8')).toBe('1');
    const log = await readFile(join(dir, 'logs', `${slow.id}.log`), 'utf8');
    expect(log).toMatch(/attempt 1 failed; retrying in \d{10} ms/);
  });

  it('a 30-day pollMs does not poll the store at once and again', async () => {
    const inner = new MemoryStore();
    cleanup.push(() => inner.close());
    let polls = 0;
    const store = new Proxy(inner, {
      get(target, key) {
        if (key === 'list') {
          return (query: { cancelRequested?: boolean }) => {
            if (query?.cancelRequested) polls++;
            return target.list(query as never);
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const executor = new Executor({ concurrency: 1, resources: false });
    const manager = new TaskManager({ store, executor, logDir: join(dir, 'logs'), pollMs: month });
    cleanup.push(async () => {
      await manager.shutdown({ graceMs: 0 });
      await executor.close();
    });
    const run = await manager.launch({ command: node, args: [fixture('ticker.js'), '5', '20'] });
    expect(await manager.wait(run.id)).toMatchObject({ status: 'succeeded' });
    expect(polls).toBe(0);
  });

  it('shutdown({ graceMs: 30 days }) lets a running run finish', async () => {
    const store = new MemoryStore();
    cleanup.push(() => store.close());
    const manager = managerWith(store);
    const run = await manager.launch({ command: node, args: [fixture('ticker.js'), '3', '20'] });
    await untilStatus(store, run.id, 'running');
    await manager.shutdown({ graceMs: month });
    expect(await store.get(run.id)).toMatchObject({ status: 'succeeded', output: { lines: 3 } });
  });

  it('a 30-day stuckAfterMs reports nothing stuck', async () => {
    const store = new MemoryStore();
    cleanup.push(() => store.close());
    const manager = managerWith(store, { concurrency: 1, stuckAfterMs: month });
    const blocker = await manager.launch({ command: node, args: [fixture('forever.js')] });
    await untilStatus(store, blocker.id, 'running');
    await manager.launch({ command: node, args: [fixture('exit-with.js'), '0'] });
    expect(manager.health()).toMatchObject({ healthy: true, running: 1, queued: 1 });
  });
});

describe('TaskManager crash recovery', () => {
  it('a killed owner leaves runs that recover() interrupts, kills or restarts, leaving nothing running', async () => {
    const path = join(dir, 'runyard.db');
    const logDir = join(dir, 'logs');
    const crashing = spawn(node, [fixture('crashing-manager.mjs'), path, logDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(createInterface({ input: crashing.stdout }), 'line')) as [string];
    const report = JSON.parse(line) as {
      tree: string;
      queued: string[];
      fn: string;
      pids: number[];
    };
    cleanup.push(async () => {
      for (const pid of report.pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    });
    expect(report.pids.length).toBeGreaterThanOrEqual(3);
    crashing.kill('SIGKILL');
    await new Promise((resolve) => crashing.once('exit', resolve));
    // The owner is gone; its tree lives on as orphans.
    expect(report.pids.every(isProcessAlive)).toBe(true);

    const store = new SqliteStore({ path });
    cleanup.push(() => store.close());
    expect((await store.get(report.tree))?.status).toBe('running');
    const manager = managerWith(store);
    const summary = await manager.recover();
    expect(summary).toMatchObject({ interrupted: 2, requeued: 2, orphansEnded: 1 });
    await waitUntilDead(report.pids);

    const tree = await store.get(report.tree);
    expect(tree).toMatchObject({ status: 'interrupted', error: { code: 'ERR_INTERRUPTED' } });
    expect(tree?.error?.message).toContain(`owner (pid ${crashing.pid}) died while it ran`);
    expect(await store.get(report.fn)).toMatchObject({ status: 'interrupted' });
    for (const id of report.queued) {
      const done = await manager.wait(id);
      expect(done).toMatchObject({ status: 'succeeded', owner: { pid: process.pid } });
    }
    // A second recover finds nothing left to do.
    expect(await manager.recover()).toMatchObject({ interrupted: 0, requeued: 0, orphansEnded: 0 });
  });
});

async function pidsFromLog(file: string): Promise<number[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = await readLogFile(file).catch(() => []);
    const texts = lines.map((line) => line.text);
    if (texts.includes('ready')) {
      return texts
        .filter((t) => t.startsWith('{'))
        .map((t) => (JSON.parse(t) as { pid: number }).pid);
    }
    if (Date.now() > deadline) throw new Error('the tree never became ready');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
