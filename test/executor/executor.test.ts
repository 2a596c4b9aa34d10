import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isRunyardError, RunyardError } from '../../src/core/errors.js';
import type { RunResult, TaskSpec } from '../../src/core/types.js';
import { type BatchProgress, Executor, type ExecutorOptions } from '../../src/executor/executor.js';
import { PriorityQueue, type QueueItem } from '../../src/executor/priority-queue.js';
import { ResourceMonitor, type ResourceSample } from '../../src/executor/resource-monitor.js';
import { readLogFile } from '../../src/output/index.js';
import { isProcessAlive } from '../../src/process/process-table.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { RunStore } from '../../src/store/run-store.js';
import { waitUntilDead } from '../helpers/processes.js';

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);
const node = process.execPath;

interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(value: T): void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * A function task that starts (resolving `started`) and returns when `release()` is called, or
 * rejects as soon as its signal is aborted.
 */
function heldTask(name = 'held') {
  const started = deferred();
  const release = deferred();
  const task: TaskSpec = {
    name,
    fn: (ctx) =>
      new Promise((resolve, reject) => {
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
        void release.promise.then(() => resolve(name));
        started.resolve();
      }),
  };
  return { task, started: started.promise, release: () => release.resolve() };
}

async function rejection(promise: Promise<unknown>): Promise<RunyardError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RunyardError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** One event-loop turn: enough for MemoryStore's promise chains to finish. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

let dir: string;
const executors: Executor[] = [];
const pids: number[] = [];

function executor(options: ExecutorOptions = {}): Executor {
  const created = new Executor({ resources: false, ...options });
  executors.push(created);
  return created;
}

/** A monitor whose samples the test sets; its own timer never fires during a test. */
function fakeMonitor(initial: Partial<ResourceSample> = {}) {
  const state: ResourceSample = {
    cpuPercent: 10,
    memoryPercent: 10,
    freeMemoryBytes: 1e9,
    ...initial,
  };
  const monitor = new ResourceMonitor({ sample: () => ({ ...state }), sampleMs: 1e8 });
  return { monitor, state };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-concurrent-'));
});

afterEach(async () => {
  await Promise.all(executors.splice(0).map((e) => e.close({ cancelRunning: true })));
  await waitUntilDead(pids.splice(0));
  await rm(dir, { recursive: true, force: true });
});

describe('Executor: the concurrency limit', () => {
  it('never runs more functions at once than the limit', async () => {
    const ex = executor({ concurrency: 3 });
    let running = 0;
    let peak = 0;
    const task: TaskSpec = {
      fn: async () => {
        running++;
        peak = Math.max(peak, running);
        expect(ex.stats.running).toBeLessThanOrEqual(3);
        for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
        running--;
      },
    };
    const results = await ex.runAll(Array.from({ length: 30 }, () => task));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(peak).toBe(3);
  });

  it('never has more children alive at once than the limit', async () => {
    const ex = executor({ concurrency: 3 });
    const spans = join(dir, 'spans.txt');
    const seen: number[] = [];
    let peakAlive = 0;
    ex.on('start', ({ pid }) => {
      if (pid === undefined) return;
      seen.push(pid);
      pids.push(pid);
      // Zombies count as dead: a slot is given back only once its child has been reaped.
      peakAlive = Math.max(peakAlive, seen.filter(isProcessAlive).length);
    });
    const task = { command: node, args: [fixture('record-span.js'), spans, '30'] };
    const results = await ex.runAll(Array.from({ length: 10 }, () => task));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill('succeeded'));
    expect(peakAlive).toBeLessThanOrEqual(3);

    // The children's own view: overlapping start…end spans, in the order they were appended.
    const lines = (await readFile(spans, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(20);
    let open = 0;
    let peakOpen = 0;
    for (const line of lines) {
      open += line.startsWith('start ') ? 1 : -1;
      peakOpen = Math.max(peakOpen, open);
    }
    expect(peakOpen).toBeLessThanOrEqual(3);
    expect(peakOpen).toBeGreaterThanOrEqual(2);
  });

  it('runs 50 programs at a limit of 10, all successfully', async () => {
    const ex = executor({ concurrency: 10 });
    const tasks = Array.from({ length: 50 }, (_, i) => ({
      command: node,
      args: [fixture('exit-with.js'), '0', `task ${i}`],
    }));
    const results = await ex.runAll(tasks);
    expect(results.map((r) => r.stdout)).toEqual(tasks.map((_, i) => `task ${i}`));
    expect(results.every((r) => r.ok && r.pattern === 'concurrent' && r.exitCode === 0)).toBe(true);
    expect(ex.stats).toMatchObject({ running: 0, queued: 0, succeeded: 50, failed: 0 });
  });
});

describe('Executor: priority and order', () => {
  it('starts higher priorities first, and equal priorities in submission order', async () => {
    const ex = executor({ concurrency: 1 });
    const held = heldTask();
    const first = ex.submit(held.task);
    await held.started;
    const order: string[] = [];
    const named = (name: string): TaskSpec => ({ name, fn: () => order.push(name) });
    const submitted = [
      ex.submit(named('a0'), { priority: 0 }),
      ex.submit(named('b5'), { priority: 5 }),
      ex.submit(named('c0')),
      ex.submit(named('d5'), { priority: 5 }),
      ex.submit(named('e-1'), { priority: -1 }),
      ex.submit(named('f10'), { priority: 10 }),
      ex.submit(named('g0.5'), { priority: 0.5 }),
    ];
    expect(ex.stats.waitingFor).toEqual({ concurrency: 7, resources: 0 });
    held.release();
    await Promise.all([first, ...submitted]);
    expect(order).toEqual(['f10', 'b5', 'd5', 'g0.5', 'a0', 'c0', 'e-1']);
  });

  it('runAll keeps the input order whatever the order of completion', async () => {
    const ex = executor({ concurrency: 5 });
    const gates = Array.from({ length: 5 }, () => deferred());
    const started = Array.from({ length: 5 }, () => deferred());
    const tasks = gates.map((gate, i) => ({
      fn: async () => {
        started[i]!.resolve();
        await gate.promise;
        return i;
      },
    }));
    const batch = ex.runAll(tasks);
    await Promise.all(started.map((s) => s.promise));
    for (const gate of [...gates].reverse()) gate.resolve();
    const results = await batch;
    expect(results.map((r) => r.value)).toEqual([0, 1, 2, 3, 4]);
  });

  it('settles an all-failing batch without throwing, in input order', async () => {
    const ex = executor({ concurrency: 2 });
    const results = await ex.runAll([
      { command: node, args: [fixture('exit-with.js'), '3', '', 'first'] },
      {
        name: 'thrower',
        fn: () => {
          throw new Error('boom');
        },
      },
      { command: node, args: [fixture('exit-with.js'), '4', '', 'third'] },
      { command: join(dir, 'missing-program') },
    ]);
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed', 'failed', 'failed']);
    expect(results[0]).toMatchObject({
      exitCode: 3,
      stderr: 'first',
      error: { code: 'ERR_FAILED' },
    });
    expect(results[1]!.error).toEqual({
      code: 'ERR_TASK_FAILED',
      message: 'Task `thrower` failed: boom',
    });
    expect(results[2]).toMatchObject({ exitCode: 4, stderr: 'third' });
    expect(results[3]).toMatchObject({
      ok: false,
      name: 'missing-program',
      exitCode: null,
      error: { code: 'ERR_SPAWN' },
    });
    expect(results[3]!.error!.message).toMatch(/Could not start .*missing-program/);
    expect(ex.stats).toMatchObject({ succeeded: 0, failed: 4, running: 0, queued: 0 });
  });

  it('resolves an empty batch with []', async () => {
    const ex = executor();
    await expect(ex.runAll([])).resolves.toEqual([]);
  });

  it('submit() rejects with ERR_SPAWN like run(), and the slot is given back', async () => {
    const ex = executor({ concurrency: 1 });
    const error = await rejection(ex.submit({ command: join(dir, 'missing-program') }));
    expect(error.code).toBe('ERR_SPAWN');
    const next = await ex.submit({ fn: () => 'after' });
    expect(next).toMatchObject({ ok: true, value: 'after' });
    expect(ex.stats).toMatchObject({ running: 0, failed: 1, succeeded: 1 });
  });
});

describe('Executor: cancellation', () => {
  it('an aborted queued task never starts and settles as cancelled', async () => {
    const ex = executor({ concurrency: 1 });
    const held = heldTask();
    const first = ex.submit(held.task);
    await held.started;
    const fn = vi.fn();
    const controller = new AbortController();
    const queuedFn = ex.submit({ name: 'never', fn }, { signal: controller.signal });
    const queuedProgram = ex.submit(
      { command: node, args: [fixture('forever.js')] },
      { signal: controller.signal },
    );
    expect(ex.stats.queued).toBe(2);
    controller.abort('not needed');
    const [fnResult, programResult] = await Promise.all([queuedFn, queuedProgram]);
    expect(ex.stats.queued).toBe(0);
    expect(fnResult).toMatchObject({
      status: 'cancelled',
      ok: false,
      error: {
        code: 'ERR_CANCELLED',
        message: 'Task `never` was cancelled before it started: not needed',
      },
    });
    expect(fnResult.startedAt).toBeUndefined();
    expect(programResult).toMatchObject({ status: 'cancelled', name: 'node', exitCode: null });
    expect(programResult.pid).toBeUndefined();
    held.release();
    await first;
    expect(fn).not.toHaveBeenCalled();
    expect(ex.stats).toMatchObject({ cancelled: 2, succeeded: 1 });
  });

  it('a task submitted with an aborted signal settles as cancelled at once', async () => {
    const ex = executor();
    const fn = vi.fn();
    const result = await ex.submit({ fn }, { signal: AbortSignal.abort() });
    expect(result.status).toBe('cancelled');
    expect(fn).not.toHaveBeenCalled();
  });

  it('aborting a running task cancels it through ctx.signal', async () => {
    const ex = executor();
    const controller = new AbortController();
    const started = deferred();
    const result = ex.submit(
      {
        fn: (ctx) =>
          new Promise((_, reject) => {
            ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
            started.resolve();
          }),
      },
      { signal: controller.signal },
    );
    await started.promise;
    controller.abort('stop');
    await expect(result).resolves.toMatchObject({
      status: 'cancelled',
      error: { code: 'ERR_CANCELLED' },
    });
  });

  it('failFast cancels the rest: queued tasks never start, running ones are ended', async () => {
    const ex = executor({ concurrency: 3 });
    const neverStarted = vi.fn();
    const results = await ex.runAll(
      [
        { command: node, args: [fixture('forever.js')] },
        { command: node, args: [fixture('forever.js')] },
        { command: node, args: [fixture('exit-with.js'), '1'] },
        ...Array.from({ length: 5 }, () => ({ fn: neverStarted })),
      ],
      { failFast: true },
    );
    pids.push(...results.flatMap((r) => (r.pid === undefined ? [] : [r.pid])));
    expect(results.map((r) => r.status)).toEqual([
      'cancelled',
      'cancelled',
      'failed',
      ...Array(5).fill('cancelled'),
    ]);
    expect(results[0]!.pid).toBeGreaterThan(0);
    expect(results[0]!.exitSignal).toBe('SIGTERM');
    expect(results[3]!.error!.message).toContain('was cancelled before it started');
    expect(neverStarted).not.toHaveBeenCalled();
    // Settled means ended: no process of the batch is left.
    expect(results.flatMap((r) => (r.pid ? [r.pid] : [])).filter(isProcessAlive)).toEqual([]);
  });

  it('close() during a failFast batch settles each queued task once', async () => {
    const ex = executor({ concurrency: 1, resources: false });
    const held = heldTask();
    const ends: string[] = [];
    ex.on('end', ({ result }) => ends.push(result.id));
    const batch = ex.runAll([held.task, { fn: () => 1 }, { fn: () => 2 }, { fn: () => 3 }], {
      failFast: true,
    });
    await held.started;
    const closed = ex.close();
    held.release();
    const results = await batch;
    await closed;
    expect(results.map((r) => r.status)).toEqual([
      'succeeded',
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
    expect(new Set(ends).size).toBe(ends.length);
    expect(ends).toHaveLength(4);
    expect(ex.stats).toMatchObject({ running: 0, queued: 0, succeeded: 1, cancelled: 3 });
  });

  it("aborting a batch's signal cancels the whole batch", async () => {
    const ex = executor({ concurrency: 1 });
    const controller = new AbortController();
    const held = heldTask();
    const batch = ex.runAll([held.task, { fn: () => 'never' }], { signal: controller.signal });
    await held.started;
    controller.abort();
    const results = await batch;
    expect(results.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    expect(results[1]!.error!.message).toContain('was cancelled before it started');
  });
});

describe('Executor: maxQueue', () => {
  it('rejects with ERR_QUEUE_FULL past maxQueue', async () => {
    const ex = executor({ concurrency: 1, maxQueue: 2 });
    const held = heldTask();
    const first = ex.submit(held.task);
    const queued = [ex.submit({ fn: () => 1 }), ex.submit({ fn: () => 2 })];
    const error = await rejection(ex.submit({ fn: () => 3 }));
    expect(error.code).toBe('ERR_QUEUE_FULL');
    expect(error.message).toContain('`maxQueue` 2');
    // A batch is accepted whole or not at all.
    expect((await rejection(ex.runAll([{ fn: () => 4 }]))).code).toBe('ERR_QUEUE_FULL');
    held.release();
    await Promise.all([first, ...queued]);
  });

  it('counts only the tasks that cannot start at once', async () => {
    const ex = executor({ concurrency: 2, maxQueue: 1 });
    const results = await ex.runAll([{ fn: () => 1 }, { fn: () => 2 }, { fn: () => 3 }]);
    expect(results.map((r) => r.value)).toEqual([1, 2, 3]);
    const fn = vi.fn();
    const error = await rejection(ex.runAll(Array.from({ length: 4 }, () => ({ fn }))));
    expect(error.code).toBe('ERR_QUEUE_FULL');
    expect(fn).not.toHaveBeenCalled();
    const none = executor({ concurrency: 1, maxQueue: 0 });
    const held = heldTask();
    const running = none.submit(held.task);
    expect((await rejection(none.submit({ fn }))).code).toBe('ERR_QUEUE_FULL');
    held.release();
    await running;
  });
});

describe('Executor: resource admission', () => {
  it('admits one task when nothing runs, even when the monitor reports no capacity', async () => {
    const { monitor } = fakeMonitor({ cpuPercent: 100, memoryPercent: 100 });
    const ex = executor({ concurrency: 4, resources: monitor });
    expect(monitor.hasCapacity()).toBe(false);
    await expect(ex.submit({ fn: () => 'ran' })).resolves.toMatchObject({ ok: true, value: 'ran' });
    monitor.close();
  });

  it('waits for capacity, then fails with ERR_RESOURCES after admissionTimeoutMs', async () => {
    const { monitor } = fakeMonitor({ cpuPercent: 100 });
    const ex = executor({ concurrency: 4, resources: { monitor, admissionTimeoutMs: 200 } });
    const held = heldTask();
    const first = ex.submit(held.task);
    await held.started;
    const fn = vi.fn();
    const since = performance.now();
    const waiting = ex.submit({ name: 'starved', fn });
    expect(ex.stats).toMatchObject({
      running: 1,
      queued: 1,
      waitingFor: { concurrency: 0, resources: 1 },
    });
    const result = await waiting;
    const waited = performance.now() - since;
    expect(result).toMatchObject({ status: 'failed', ok: false, error: { code: 'ERR_RESOURCES' } });
    expect(result.error!.message).toMatch(
      /^Task `starved` waited 200 ms for CPU or memory and was not started \(CPU 100% of at most 90%/,
    );
    expect(fn).not.toHaveBeenCalled();
    // Lopsided bounds: never before the timeout, and well within the test's own timeout.
    expect(waited).toBeGreaterThanOrEqual(190);
    expect(waited).toBeLessThan(30_000);
    expect(ex.stats).toMatchObject({ failed: 1, queued: 0, waitingFor: { resources: 0 } });
    held.release();
    await first;
    monitor.close();
  });

  it('starts a waiting task at the next sample that shows capacity', async () => {
    const { monitor, state } = fakeMonitor({ memoryPercent: 99 });
    const ex = executor({ concurrency: 2, resources: { monitor } });
    const held = heldTask();
    const first = ex.submit(held.task);
    await held.started;
    const second = heldTask('second');
    const waiting = ex.submit(second.task);
    expect(ex.stats.waitingFor.resources).toBe(1);
    monitor.refresh();
    expect(ex.stats.waitingFor.resources).toBe(1);
    state.memoryPercent = 50;
    monitor.refresh();
    await second.started;
    expect(ex.stats).toMatchObject({ running: 2, queued: 0 });
    held.release();
    second.release();
    await Promise.all([first, waiting]);
    monitor.close();
  });

  it('re-checks when a running task ends, and never starves', async () => {
    const { monitor } = fakeMonitor({ cpuPercent: 95 });
    const ex = executor({ concurrency: 3, resources: { monitor } });
    const held = heldTask();
    const first = ex.submit(held.task);
    await held.started;
    const rest = [ex.submit({ fn: () => 'b' }), ex.submit({ fn: () => 'c' })];
    expect(ex.stats.waitingFor).toEqual({ concurrency: 0, resources: 2 });
    held.release();
    // Each one that ends leaves nothing running, so the next is admitted.
    const results = await Promise.all(rest);
    expect(results.map((r) => r.value)).toEqual(['b', 'c']);
    await first;
    monitor.close();
  });

  it('admits a task exactly at the thresholds', async () => {
    const { monitor } = fakeMonitor({ cpuPercent: 90, memoryPercent: 85 });
    const ex = executor({ concurrency: 2, resources: { monitor } });
    const held = heldTask();
    const first = ex.submit(held.task);
    await held.started;
    const second = heldTask('second');
    const result = ex.submit(second.task);
    await second.started;
    expect(ex.stats).toMatchObject({ running: 2, waitingFor: { resources: 0 } });
    held.release();
    second.release();
    await Promise.all([first, result]);
    monitor.close();
  });

  it('says why each queued task waits, in stats and in the store', async () => {
    const { monitor } = fakeMonitor({ cpuPercent: 100 });
    const store = new MemoryStore();
    const ex = executor({ concurrency: 2, resources: { monitor }, store });
    const held = heldTask();
    const first = ex.submit(held.task, { id: 'run-held' });
    await held.started;
    const waiting = ['run-a', 'run-b', 'run-c'].map((id) => ex.submit({ fn: () => id }, { id }));
    // One slot is free but CPU is short: the first in line waits for resources, the rest
    // for a slot.
    expect(ex.stats.waitingFor).toEqual({ concurrency: 2, resources: 1 });
    await turn();
    expect((await store.get('run-held'))!.status).toBe('running');
    expect((await store.get('run-held'))!.waitingFor).toBeUndefined();
    expect(await store.get('run-a')).toMatchObject({ status: 'queued', waitingFor: 'resources' });
    expect(await store.get('run-b')).toMatchObject({ status: 'queued', waitingFor: 'concurrency' });
    held.release();
    await Promise.all([first, ...waiting]);
    expect(await store.get('run-c')).toMatchObject({ status: 'succeeded' });
    expect((await store.get('run-c'))!.waitingFor).toBeUndefined();
    monitor.close();
  });

  it('builds its own monitor from ResourceLimits, and closes it', async () => {
    const ex = executor({ resources: { maxCpuPercent: 100, maxMemoryPercent: 100 } });
    await expect(ex.runAll([{ fn: () => 1 }, { fn: () => 2 }])).resolves.toHaveLength(2);
    await ex.close();
  });
});

describe('Executor: progress, stats and idle', () => {
  it('reports progress on every start and settlement', async () => {
    const ex = executor({ concurrency: 1 });
    const seen: BatchProgress[] = [];
    const results = await ex.runAll(
      [
        { fn: () => 1 },
        {
          fn: () => {
            throw new Error('no');
          },
        },
        { fn: () => 3 },
      ],
      { onProgress: (p) => seen.push(p) },
    );
    expect(seen).toHaveLength(6);
    for (const p of seen) expect(p.done + p.running + p.queued).toBe(3);
    expect(seen[0]).toEqual({
      total: 3,
      done: 0,
      running: 1,
      queued: 2,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
    });
    expect(seen.at(-1)).toMatchObject({
      total: 3,
      done: 3,
      running: 0,
      queued: 0,
      succeeded: 2,
      failed: 1,
      cancelled: 0,
    });
    expect(seen.at(-1)!.lastResult).toBe(results[2]);
    expect(seen.filter((p) => p.lastResult).map((p) => p.lastResult!.status)).toEqual([
      'succeeded',
      'failed',
      'succeeded',
    ]);
  });

  it('a throwing onProgress or event listener is logged and changes nothing', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const ex = executor();
      ex.on('end', () => {
        throw new Error('listener bug');
      });
      const results = await ex.runAll([{ fn: () => 1 }], {
        onProgress: () => {
          throw new Error('progress bug');
        },
      });
      expect(results[0]!.ok).toBe(true);
      expect(logged).toHaveBeenCalledTimes(3);
    } finally {
      logged.mockRestore();
    }
  });

  it('emits start and end events', async () => {
    const ex = executor();
    const events: string[] = [];
    const off = ex.on('start', ({ name }) => events.push(`start ${name}`));
    ex.on('end', ({ result }) => events.push(`end ${result.name} ${result.status}`));
    await ex.submit({ name: 'one', fn: () => {} });
    off();
    await ex.submit({ name: 'two', fn: () => {} });
    expect(events).toEqual(['start one', 'end one succeeded', 'end two succeeded']);
  });

  it('onIdle() resolves once nothing runs or waits', async () => {
    const ex = executor({ concurrency: 1 });
    await ex.onIdle();
    const held = heldTask();
    void ex.submit(held.task);
    void ex.submit({ fn: () => {} });
    let idle = false;
    const waited = ex.onIdle().then(() => {
      idle = true;
    });
    await held.started;
    await turn();
    expect(idle).toBe(false);
    held.release();
    await waited;
    expect(ex.stats).toMatchObject({ running: 0, queued: 0, succeeded: 2 });
  });
});

describe('Executor: close()', () => {
  it('settles queued tasks with ERR_CLOSED, lets running ones finish, refuses new ones', async () => {
    const ex = executor({ concurrency: 1 });
    const held = heldTask();
    const running = ex.submit(held.task);
    await held.started;
    const fn = vi.fn();
    const queued = ex.submit({ name: 'late', fn });
    const batch = ex.runAll([{ fn }, { fn }]);
    let closed = false;
    const closing = ex.close().then(() => {
      closed = true;
    });
    expect(ex.close()).toBe(ex.close());
    const queuedResult = await queued;
    expect(queuedResult).toMatchObject({
      status: 'cancelled',
      error: {
        code: 'ERR_CLOSED',
        message: 'Task `late` was not started: the executor was closed',
      },
    });
    expect((await batch).map((r) => r.error?.code)).toEqual(['ERR_CLOSED', 'ERR_CLOSED']);
    expect((await rejection(ex.submit({ fn }))).code).toBe('ERR_CLOSED');
    expect((await rejection(ex.runAll([]))).code).toBe('ERR_CLOSED');
    await turn();
    expect(closed).toBe(false);
    held.release();
    await expect(running).resolves.toMatchObject({ ok: true });
    await closing;
    expect(fn).not.toHaveBeenCalled();
  });

  it('close({ cancelRunning: true }) ends running programs', async () => {
    const ex = executor({ concurrency: 2 });
    const started = deferred<number>();
    ex.on('start', ({ pid }) => started.resolve(pid!));
    const result = ex.submit({ command: node, args: [fixture('forever.js')] });
    const pid = await started.promise;
    pids.push(pid);
    // A graceful close would wait for good; a second call may still ask for the forceful path.
    const closing = ex.close();
    expect(ex.close({ cancelRunning: true })).toBe(closing);
    await closing;
    await expect(result).resolves.toMatchObject({
      status: 'cancelled',
      error: { code: 'ERR_CANCELLED', message: '`node` was cancelled: The executor was closed' },
    });
    expect(isProcessAlive(pid)).toBe(false);
  });

  it('close({ graceMs }) cancels what is still running after the grace', async () => {
    const ex = executor();
    const held = heldTask();
    const result = ex.submit(held.task);
    await held.started;
    await ex.close({ graceMs: 20 });
    expect((await result).status).toBe('cancelled');
  });

  it('works with await using', async () => {
    let results: RunResult[] = [];
    {
      await using ex = new Executor({ resources: false });
      results = await ex.runAll([{ fn: () => 'x' }]);
    }
    expect(results[0]!.value).toBe('x');
  });
});

describe('Executor: store and log files', () => {
  it('records every task of a batch under a batch record', async () => {
    const store = new MemoryStore();
    const ex = executor({ concurrency: 2, store });
    const results = await ex.runAll(
      [
        { command: node, args: [fixture('exit-with.js'), '0', 'one line'] },
        { name: 'fn-task', fn: (ctx) => ctx.log('a\nb') },
        { command: node, args: [fixture('exit-with.js'), '2'] },
      ],
      { name: 'nightly' },
    );
    const batchId = results[0]!.parentId!;
    expect(results.every((r) => r.parentId === batchId)).toBe(true);
    const batch = await store.get(batchId);
    expect(batch).toMatchObject({
      name: 'nightly',
      pattern: 'concurrent',
      status: 'failed',
      output: { lines: 3, bytes: 13, truncated: false },
      error: {
        code: 'ERR_FAILED',
        message: '1 of 3 tasks did not succeed (1 failed, 0 cancelled)',
      },
    });
    const { runs } = await store.list({ parentId: batchId });
    expect(runs).toHaveLength(3);
    for (const result of results) {
      const record = await store.get(result.id);
      expect(record).toMatchObject({
        id: result.id,
        pattern: 'concurrent',
        status: result.status,
        parentId: batchId,
        createdAt: result.createdAt,
        startedAt: result.startedAt,
        finishedAt: result.finishedAt,
        output: result.output,
      });
      expect(record).not.toHaveProperty('stdout');
      expect(record).not.toHaveProperty('waitingFor');
    }
    expect(await store.get(results[2]!.id)).toMatchObject({ exitCode: 2, pid: results[2]!.pid });

    const ok = await ex.runAll([{ fn: () => 1 }]);
    expect(await store.get(ok[0]!.parentId!)).toMatchObject({ name: 'batch', status: 'succeeded' });
  });

  it('records a submitted task as queued, running, then terminal, with its options', async () => {
    const store = new MemoryStore();
    const ex = executor({ concurrency: 1, store });
    const held = heldTask();
    const first = ex.submit(held.task, { id: 'first' });
    await held.started;
    const second = ex.submit(
      { command: node, args: [fixture('exit-with.js'), '0'] },
      { id: 'second', parentId: 'schedule-1', name: 'probe', labels: { team: 'media' } },
    );
    await turn();
    expect(await store.get('first')).toMatchObject({ status: 'running', pattern: 'concurrent' });
    expect(await store.get('second')).toMatchObject({
      status: 'queued',
      waitingFor: 'concurrency',
      name: 'probe',
      parentId: 'schedule-1',
      labels: { team: 'media' },
      command: node,
    });
    held.release();
    const result = await second;
    expect(result).toMatchObject({
      id: 'second',
      parentId: 'schedule-1',
      labels: { team: 'media' },
    });
    // Settled means recorded.
    expect(await store.get('second')).toMatchObject({
      status: 'succeeded',
      exitCode: 0,
      pid: result.pid,
    });
    await first;
  });

  it('records a cancelled queued task without ever starting it', async () => {
    const store = new MemoryStore();
    const ex = executor({ concurrency: 1, store });
    const held = heldTask();
    const first = ex.submit(held.task);
    await held.started;
    const controller = new AbortController();
    const queued = ex.submit({ fn: () => {} }, { id: 'dropped', signal: controller.signal });
    controller.abort();
    await queued;
    const record = await store.get('dropped');
    expect(record).toMatchObject({ status: 'cancelled', error: { code: 'ERR_CANCELLED' } });
    expect(record!.startedAt).toBeUndefined();
    held.release();
    await first;
  });

  it('records a failFast batch once, with the cancelled runs', async () => {
    const logged = vi.spyOn(console, 'error');
    try {
      const store = new MemoryStore();
      const ex = executor({ concurrency: 1, store });
      const results = await ex.runAll(
        [
          {
            fn: () => {
              throw new Error('first fails');
            },
          },
          { fn: () => 2 },
          { fn: () => 3 },
        ],
        { failFast: true },
      );
      expect(results.map((r) => r.status)).toEqual(['failed', 'cancelled', 'cancelled']);
      expect(await store.get(results[0]!.parentId!)).toMatchObject({
        status: 'failed',
        error: { message: '3 of 3 tasks did not succeed (1 failed, 2 cancelled)' },
      });
      for (const result of results) {
        expect((await store.get(result.id))!.status).toBe(result.status);
      }
      expect(logged).not.toHaveBeenCalled();
    } finally {
      logged.mockRestore();
    }
  });

  it('a failing store is reported, the task still runs and settles, and its record is retried until close()', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const memory = new MemoryStore();
      let creates = 0;
      const broken: RunStore = Object.assign(Object.create(memory) as RunStore, {
        create: () => {
          creates++;
          return Promise.reject(new RunyardError('ERR_STORE', 'disk full'));
        },
        get: memory.get.bind(memory),
        update: memory.update.bind(memory),
      });
      const ex = executor({ store: broken });
      await expect(ex.submit({ fn: () => 'still ran' })).resolves.toMatchObject({
        value: 'still ran',
      });
      // Reported once: the writes after a failed one are skipped, its end is retried.
      expect(logged).toHaveBeenCalledTimes(1);
      expect(String(logged.mock.calls[0]![0])).toContain('could not record run');
      const deadline = Date.now() + 20_000;
      while (creates < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(creates).toBeGreaterThanOrEqual(3);
      // Closing gives up after one last try, and says so.
      await ex.close();
      expect(logged).toHaveBeenCalledTimes(2);
      expect(String(logged.mock.calls[1]![0])).toContain('could not record run');
    } finally {
      logged.mockRestore();
    }
  });

  it('writes each run to <logDir>/<runId>.log', async () => {
    const logDir = join(dir, 'logs');
    const ex = executor({ logDir });
    const [program, fn] = await ex.runAll([
      { command: node, args: [fixture('exit-with.js'), '0', 'out', 'err'] },
      { fn: (ctx) => ctx.log('from a function') },
    ]);
    const lines = await readLogFile(join(logDir, `${program!.id}.log`));
    expect(lines.map((l) => [l.stream, l.text])).toEqual([
      ['stdout', 'out'],
      ['stderr', 'err'],
    ]);
    const fnLines = await readLogFile(join(logDir, `${fn!.id}.log`));
    expect(fnLines.map((l) => l.text)).toEqual(['from a function']);
  });
});

describe('Executor: validation', () => {
  it.each([
    [{ concurrency: 0 }, 'Expected `concurrency` to be a positive integer, got `0` (number)'],
    [{ concurrency: 1.5 }, 'Expected `concurrency` to be a positive integer, got `1.5` (number)'],
    [
      { maxQueue: -1 },
      'Expected `maxQueue` to be a non-negative integer or Infinity, got `-1` (number)',
    ],
    [{ logDir: '' }, 'Expected `logDir` to be a non-empty string, got `""` (string)'],
    [
      { resources: { admissionTimeoutMs: -5 } },
      'Expected `resources.admissionTimeoutMs` to be a non-negative integer or Infinity, got `-5` (number)',
    ],
    [
      { resources: { maxCpuPercent: 150 } },
      'Expected `maxCpuPercent` to be a number from 0 to 100, got `150` (number)',
    ],
  ])('rejects %j', (options, message) => {
    expect(() => new Executor(options as ExecutorOptions)).toThrow(message);
    try {
      new Executor(options as ExecutorOptions);
    } catch (error) {
      expect(isRunyardError(error, 'ERR_INVALID')).toBe(true);
    }
  });

  it('uses os.availableParallelism() and no queue limit by default', () => {
    const ex = executor();
    expect(ex.concurrency).toBe(availableParallelism());
    expect(ex.maxQueue).toBe(Number.POSITIVE_INFINITY);
  });

  it('rejects bad tasks and options with ERR_INVALID, starting nothing', async () => {
    const ex = executor();
    const fn = vi.fn();
    const cases: [Promise<unknown>, string][] = [
      [
        ex.submit({ fn }, { priority: Number.NaN }),
        'Expected `priority` to be a finite number, got `NaN` (number)',
      ],
      [
        ex.submit({ fn }, { priority: Number.POSITIVE_INFINITY }),
        'Expected `priority` to be a finite number, got `Infinity` (number)',
      ],
      [
        ex.submit({ pool: 'images', payload: 1 }),
        'Expected `task` to be a `{ command }` or `{ fn }` task (`{ pool }` tasks run on their pool, not on an Executor)',
      ],
      [ex.submit({ fn: 'nope' } as never), 'Expected `task.fn` to be a function'],
      [
        ex.runAll([{ fn }, { fn }, { command: '' }]),
        'Expected `command` to be a non-empty string, got `""` (string) (in `tasks[2]`)',
      ],
      [ex.runAll('ls' as never), 'Expected `tasks` to be an array of tasks'],
      [ex.runAll([{ fn }], { failFast: 'yes' as never }), 'Expected `failFast` to be a boolean'],
      [ex.submit({ fn }, { labels: { a: 1 as never } }), 'Expected `labels.a` to be a string'],
      [ex.close({ graceMs: -1 }), 'Expected `graceMs` to be a non-negative finite number'],
    ];
    for (const [promise, message] of cases) {
      const error = await rejection(promise);
      expect(error.code).toBe('ERR_INVALID');
      expect(error.message).toContain(message);
    }
    expect(fn).not.toHaveBeenCalled();
    expect(ex.stats).toMatchObject({ running: 0, queued: 0, succeeded: 0 });
  });
});

describe('Executor: unknown option keys', () => {
  it.each([
    [{ concurency: 2 }, 'Unknown option `concurency`: did you mean `concurrency`?'],
    [{ maxQueu: 2 }, 'Unknown option `maxQueu`: did you mean `maxQueue`?'],
    [
      { resources: { admissionTimeout: 5 } },
      'Unknown option `resources.admissionTimeout`: did you mean `admissionTimeoutMs`?',
    ],
  ])('new Executor(%j) is refused', (options, message) => {
    expect(() => new Executor(options as ExecutorOptions)).toThrow(message);
  });

  it('submit, runAll, close and the tasks themselves refuse unknown keys, starting nothing', async () => {
    const ex = executor();
    const fn = vi.fn();
    const cases: [Promise<unknown>, string][] = [
      [
        ex.submit({ command: 'true', timeout: 5 } as never),
        'Unknown option `task.timeout`: did you mean `timeoutMs`?',
      ],
      [ex.submit({ fn, nmae: 'x' } as never), 'Unknown option `task.nmae`: did you mean `name`?'],
      [
        ex.runAll([{ fn }, { fn, timeout: 1 } as never]),
        'Unknown option `tasks[1].timeout`: did you mean `timeoutMs`?',
      ],
      [
        ex.submit({ fn }, { priorty: 1 } as never),
        'Unknown option `priorty`: did you mean `priority`?',
      ],
      [ex.runAll([{ fn }], { failfast: true } as never), 'did you mean `failFast`?'],
      [ex.close({ grace: 1 } as never), 'Unknown option `grace`: did you mean `graceMs`?'],
    ];
    for (const [promise, message] of cases) {
      const error = await rejection(promise);
      expect(error.code).toBe('ERR_INVALID');
      expect(error.message).toContain(message);
    }
    expect(fn).not.toHaveBeenCalled();
  });
});

describe('Executor: durations past 2^31 ms', () => {
  it('an admissionTimeoutMs of 30 days keeps a task waiting, not failed at once', async () => {
    const { monitor } = fakeMonitor({ cpuPercent: 100 });
    const ex = executor({
      concurrency: 2,
      resources: { monitor, admissionTimeoutMs: 30 * 86_400_000 },
    });
    const quick = executor({ concurrency: 2, resources: { monitor, admissionTimeoutMs: 5 } });
    const held = heldTask();
    const heldQuick = heldTask('held-quick');
    const first = ex.submit(held.task);
    const firstQuick = quick.submit(heldQuick.task);
    await Promise.all([held.started, heldQuick.started]);
    const waiting = ex.submit({ name: 'patient', fn: () => 'ran' });
    // Against an executor that gives up after 5 ms: by then the patient task still waits.
    expect(await quick.submit({ name: 'impatient', fn: () => 'ran' })).toMatchObject({
      error: { code: 'ERR_RESOURCES' },
    });
    expect(ex.stats).toMatchObject({ queued: 1, failed: 0, waitingFor: { resources: 1 } });
    held.release();
    heldQuick.release();
    await Promise.all([first, firstQuick]);
    expect(await waiting).toMatchObject({ status: 'succeeded', value: 'ran' });
    monitor.close();
  });

  it('close({ cancelRunning, graceMs: 30 days }) lets a running task finish', async () => {
    const ex = executor();
    const run = ex.submit({ command: node, args: [fixture('ticker.js'), '3', '20'] });
    await ex.close({ cancelRunning: true, graceMs: 30 * 86_400_000 });
    expect(await run).toMatchObject({ status: 'succeeded', output: { lines: 3 } });
  });
});

describe('PriorityQueue', () => {
  interface Item extends QueueItem {
    name: string;
  }
  const item = (name: string, priority: number): Item => ({
    name,
    priority,
    seq: 0,
    queueIndex: -1,
  });

  it('pops by priority, then first in first out, and removes from anywhere', () => {
    // A seeded linear congruential generator: the same "random" mix on every run.
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const queue = new PriorityQueue<Item>();
    const expected: Item[] = [];
    for (let i = 0; i < 2000; i++) {
      const it = item(`i${i}`, Math.floor(random() * 7) - 3);
      queue.push(it);
      expected.push(it);
      if (random() < 0.3) {
        const victim = expected.splice(Math.floor(random() * expected.length), 1)[0]!;
        expect(queue.remove(victim)).toBe(true);
        expect(queue.remove(victim)).toBe(false);
        expect(victim.queueIndex).toBe(-1);
      }
    }
    // Array#sort is stable: equal priorities keep their insertion order.
    expected.sort((a, b) => b.priority - a.priority);
    expect(queue.size).toBe(expected.length);
    expect(queue.peek()).toBe(expected[0]);
    expect(queue.drain().map((x) => x.name)).toEqual(expected.map((x) => x.name));
    expect(queue.size).toBe(0);
    expect(queue.pop()).toBeUndefined();
  });

  it('does not remove an item it does not hold', () => {
    const a = new PriorityQueue<Item>();
    const b = new PriorityQueue<Item>();
    const x = item('x', 0);
    const y = item('y', 0);
    a.push(x);
    b.push(y);
    expect(b.remove(x)).toBe(false);
    expect(a.size).toBe(1);
  });
});
