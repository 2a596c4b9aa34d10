import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { isRunyardError, type RunyardError } from '../../src/core/errors.js';
import { newRunId } from '../../src/core/ids.js';
import {
  ThreadPool,
  type ThreadPoolOptions,
  type ThreadPoolStats,
  threadPoolDefaults,
} from '../../src/pools/thread/thread-pool.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { readDoc, tableCell } from '../helpers/docs.js';

const task = (name: string) => join(import.meta.dirname, '..', 'fixtures', 'thread-tasks', name);
const addOne = task('add-one.mjs');
const behave = task('behave.mjs');
const namedExports = task('named-exports.mjs');

let dir: string;
const pools: ThreadPool[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-thread-pool-'));
});

afterEach(async () => {
  // Every pool a test made is closed, and leaves no thread behind.
  for (const pool of pools.splice(0)) {
    await pool.close({ force: true });
    expect(pool.stats.threads).toBe(0);
  }
  await rm(dir, { recursive: true, force: true });
});

function pool(options: ThreadPoolOptions): ThreadPool {
  const made = new ThreadPool(options);
  pools.push(made);
  return made;
}

/** Polls `check` until it returns true; fails after `timeoutMs`. No fixed sleeps. */
async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The file a task writes once it runs: its content is the thread id. */
async function readyThread(path: string): Promise<number> {
  await waitFor(() => existsSync(path) && readFileSync(path, 'utf8') !== '', `${path}`);
  return Number(readFileSync(path, 'utf8'));
}

async function rejection(promise: Promise<unknown>): Promise<RunyardError> {
  try {
    await promise;
  } catch (error) {
    if (isRunyardError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** OS threads of this process (Linux), to see that closed pools leave none. */
function osThreads(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]);
}

describe('ThreadPool: results', () => {
  it('resolves with what the task returned', async () => {
    const threads = pool({ filename: addOne, maxThreads: 1 });
    await expect(threads.run(41)).resolves.toBe(42);
    expectTypeOf(threads.run).returns.toEqualTypeOf<Promise<unknown>>();
    expectTypeOf(threads.stats).toEqualTypeOf<ThreadPoolStats>();
  });

  it('gives 10 concurrent callers on a 4-thread pool each its own result', async () => {
    const threads = pool({ filename: new URL(`file://${addOne}`), minThreads: 4, maxThreads: 4 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => threads.run(i * 10)));
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => i * 10 + 1));
  });

  it('runs thousands of small tasks, batched, each with its own result', async () => {
    const threads = pool({ filename: addOne, minThreads: 2, maxThreads: 2 });
    for (let round = 0; round < 3; round++) {
      const inputs = Array.from({ length: 5000 }, (_, i) => i + round);
      const results = await Promise.all(inputs.map((n) => threads.run(n)));
      expect(results).toEqual(inputs.map((n) => n + 1));
    }
    expect(threads.stats).toMatchObject({ completed: 15_000, failed: 0, running: 0, queued: 0 });
  });

  it('answers the tasks batched before one that returns a promise without waiting for it', async () => {
    const threads = pool({ filename: behave, minThreads: 1, maxThreads: 1 });
    // Warm up with synchronous tasks, so that tasks go in batches.
    await Promise.all(Array.from({ length: 2000 }, () => threads.run({ op: 'thread' })));
    const order: string[] = [];
    const runs = Array.from({ length: 50 }, (_, i) => {
      const payload = i === 20 ? { op: 'sleep', ms: 300 } : { op: 'thread' };
      return threads.run(payload).then(() => order.push(i === 20 ? 'async' : 'sync'));
    });
    await Promise.all(runs);
    // The async one resolves last: no synchronous task waited for its promise.
    expect(order.indexOf('async')).toBe(49);
  });
});

describe('ThreadPool: failures', () => {
  it("rejects with ERR_TASK_FAILED and the task's own message when it throws", async () => {
    const threads = pool({ filename: behave, maxThreads: 1 });
    const error = await rejection(threads.run({ op: 'throw', message: 'no such frame' }));
    expect(error.code).toBe('ERR_TASK_FAILED');
    expect(error.message).toBe('no such frame');
    expect(error.cause).toMatchObject({ name: 'TypeError', code: 'E_FIXTURE' });
    expect((error.cause as Error).stack).toContain('behave.mjs');
    await expect(threads.run({ op: 'thread' })).resolves.toBeTypeOf('number');
    expect(threads.stats).toMatchObject({ completed: 1, failed: 1, restarts: 0 });
  });

  it('fails every task with the reason when the module has no default function', async () => {
    const threads = pool({ filename: task('not-a-function.mjs'), maxThreads: 1 });
    const error = await rejection(threads.run(1));
    expect(error.code).toBe('ERR_TASK_FAILED');
    expect(error.message).toMatch(/default export of .*not-a-function\.mjs is not a function/);
  });

  it('rejects a payload that cannot be cloned with ERR_INVALID, alone in its batch', async () => {
    const threads = pool({ filename: addOne, maxThreads: 1 });
    // Warm up, so that tasks go in batches.
    await Promise.all(Array.from({ length: 2000 }, (_, i) => threads.run(i)));
    const runs = Array.from({ length: 50 }, (_, i) => threads.run(i === 20 ? () => i : i));
    const settled = await Promise.allSettled(runs);
    settled.forEach((outcome, i) => {
      if (i === 20) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason.code).toBe('ERR_INVALID');
      } else expect(outcome).toEqual({ status: 'fulfilled', value: i + 1 });
    });
  });

  it('fails a result that cannot be sent back as its task, and the pool goes on', async () => {
    const threads = pool({ filename: behave, maxThreads: 1 });
    const error = await rejection(threads.run({ op: 'return-function' }));
    expect(error.code).toBe('ERR_TASK_FAILED');
    expect(error.message).toMatch(/cannot be sent to the pool/);
    await expect(threads.run({ op: 'thread' })).resolves.toBeTypeOf('number');
  });
});

describe('ThreadPool: crashes', () => {
  it('fails only the task whose thread exited, with ERR_WORKER_CRASHED', async () => {
    const threads = pool({ filename: behave, minThreads: 1, maxThreads: 1 });
    const first = await threads.run({ op: 'thread' });
    const runs = Array.from({ length: 30 }, (_, i) =>
      threads.run(i === 10 ? { op: 'exit', code: 1 } : { op: 'thread' }),
    );
    const settled = await Promise.allSettled(runs);
    const crash = settled[10] as PromiseRejectedResult;
    expect(crash.status).toBe('rejected');
    expect(crash.reason.code).toBe('ERR_WORKER_CRASHED');
    expect(crash.reason.message).toMatch(/died: worker exited with code: 1/);
    const others = settled.filter((_, i) => i !== 10);
    expect(others.every((outcome) => outcome.status === 'fulfilled')).toBe(true);
    // Those before the crash ran on the first thread, those after on its replacement.
    const ids = others.map((outcome) => (outcome as PromiseFulfilledResult<number>).value);
    expect(ids[0]).toBe(first);
    expect(ids.at(-1)).not.toBe(first);
    expect(threads.stats).toMatchObject({ restarts: 1, failed: 1, completed: 30 });
  });

  it('names the uncaught error that ended the thread', async () => {
    const threads = pool({ filename: behave, maxThreads: 1 });
    const error = await rejection(threads.run({ op: 'throw-uncaught', message: 'late' }));
    expect(error.code).toBe('ERR_WORKER_CRASHED');
    expect(error.message).toBe(
      'The thread running task `behave` died of an uncaught RangeError: late',
    );
    await expect(threads.run({ op: 'thread' })).resolves.toBeTypeOf('number');
    expect(threads.stats.restarts).toBe(1);
  });

  it('fails a task whose thread runs out of memory with ERR_WORKER_CRASHED', async () => {
    const threads = pool({
      filename: behave,
      maxThreads: 1,
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 8 },
    });
    const error = await rejection(threads.run({ op: 'oom' }));
    expect(error.code).toBe('ERR_WORKER_CRASHED');
    expect(error.message).toMatch(/memory/);
    await expect(threads.run({ op: 'thread' })).resolves.toBeTypeOf('number');
  });
});

describe('ThreadPool: cancellation', () => {
  it('aborts the running task’s signal; it cleans up and its thread stays', async () => {
    // The grace is lopsided: a task that honours its signal settles long before it ends.
    const threads = pool({ filename: behave, maxThreads: 1, cancelGraceMs: 60_000 });
    const ready = join(dir, 'ready');
    const marker = join(dir, 'marker');
    const controller = new AbortController();
    const running = threads.run(
      { op: 'until-aborted', ready, marker },
      { signal: controller.signal },
    );
    const thread = await readyThread(ready);
    controller.abort(new Error('the user left'));
    const error = await rejection(running);
    expect(error.code).toBe('ERR_CANCELLED');
    expect(error.message).toBe('Task `behave` was cancelled: the user left');
    expect(readFileSync(marker, 'utf8')).toBe('cleaned up after AbortError');
    await expect(threads.run({ op: 'thread' })).resolves.toBe(thread);
    expect(threads.stats.restarts).toBe(0);
  });

  it('terminates and replaces the thread of a task that ignores its signal past the grace', async () => {
    const threads = pool({ filename: behave, maxThreads: 1, cancelGraceMs: 100 });
    const ready = join(dir, 'ready');
    const controller = new AbortController();
    const running = threads.run({ op: 'spin', ready }, { signal: controller.signal });
    const thread = await readyThread(ready);
    const abortedAt = Date.now();
    controller.abort();
    const error = await rejection(running);
    expect(Date.now() - abortedAt).toBeGreaterThanOrEqual(90);
    expect(error.code).toBe('ERR_CANCELLED');
    expect(error.message).toMatch(/ignored its signal and its thread was terminated/);
    const next = await threads.run({ op: 'thread' });
    expect(next).not.toBe(thread);
    expect(threads.stats).toMatchObject({ restarts: 1, threads: 1 });
  });

  it('never starts a task cancelled while it waits', async () => {
    const threads = pool({ filename: behave, maxThreads: 1, concurrentTasksPerWorker: 1 });
    const ready = join(dir, 'ready');
    const first = new AbortController();
    const holding = threads.run(
      { op: 'until-aborted', ready, marker: join(dir, 'marker') },
      { signal: first.signal },
    );
    const controller = new AbortController();
    const waiting = threads.run({ op: 'exit', code: 1 }, { signal: controller.signal });
    await readyThread(ready);
    expect(threads.stats.queued).toBe(1);
    controller.abort();
    expect((await rejection(waiting)).code).toBe('ERR_CANCELLED');
    first.abort();
    expect((await rejection(holding)).code).toBe('ERR_CANCELLED');
    // The exit never ran: no thread was lost.
    expect(threads.stats.restarts).toBe(0);
    // An already aborted signal rejects at once.
    const aborted = AbortSignal.abort();
    expect((await rejection(threads.run({ op: 'thread' }, { signal: aborted }))).code).toBe(
      'ERR_CANCELLED',
    );
  });

  it('cancels many tasks sharing one signal without a listener warning', async () => {
    const threads = pool({ filename: behave, maxThreads: 2, cancelGraceMs: 60_000 });
    const controller = new AbortController();
    const ready = join(dir, 'ready');
    const runs = Array.from({ length: 40 }, (_, i) =>
      threads
        .run(
          { op: 'until-aborted', ready, marker: join(dir, `marker-${i}`) },
          { signal: controller.signal },
        )
        .catch((error: RunyardError) => error.code),
    );
    await readyThread(ready);
    controller.abort();
    // The started ones end through their signals, the others never start.
    expect(new Set(await Promise.all(runs))).toEqual(new Set(['ERR_CANCELLED']));
    expect(threads.stats).toMatchObject({ failed: 40, restarts: 0 });
  });

  it('settles within the bound when a terminated thread does not end', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const threads = pool({ filename: behave, maxThreads: 2, cancelGraceMs: 50 });
    const ready = join(dir, 'ready');
    const controller = new AbortController();
    // Opening a FIFO with no writer blocks in the kernel, where a terminate cannot reach.
    const blocked = threads.run({ op: 'block', fifo, ready }, { signal: controller.signal });
    await readyThread(ready);
    controller.abort();
    const error = await rejection(blocked);
    expect(error.code).toBe('ERR_CANCELLED');
    expect(error.message).toMatch(
      new RegExp(`did not end within ${threadPoolDefaults.terminateTimeoutMs} ms`),
    );
    // The other thread still serves.
    await expect(threads.run({ op: 'thread' })).resolves.toBeTypeOf('number');
    // Let the stuck thread go: it then ends as it was told to.
    const writer = openSync(fifo, 'w');
    writeSync(writer, 'bye');
    closeSync(writer);
  });
});

describe('ThreadPool: time limits', () => {
  it('rejects with ERR_TIMEOUT; a task that honours its signal cleans up', async () => {
    const threads = pool({ filename: behave, maxThreads: 1, cancelGraceMs: 60_000 });
    const marker = join(dir, 'marker');
    const error = await rejection(threads.run({ op: 'until-aborted', marker }, { timeoutMs: 100 }));
    expect(error.code).toBe('ERR_TIMEOUT');
    expect(error.message).toBe('Task `behave` timed out after 100 ms');
    expect(readFileSync(marker, 'utf8')).toBe('cleaned up after TimeoutError');
    expect(threads.stats.restarts).toBe(0);
  });

  it('terminates a task that ignores its time limit', async () => {
    const threads = pool({ filename: behave, maxThreads: 1, cancelGraceMs: 50 });
    const error = await rejection(threads.run({ op: 'spin' }, { timeoutMs: 50 }));
    expect(error.code).toBe('ERR_TIMEOUT');
    expect(error.message).toMatch(/thread was terminated/);
    await expect(threads.run({ op: 'thread' })).resolves.toBeTypeOf('number');
  });

  it('counts the time limit from the start on the thread, not from the call', async () => {
    const threads = pool({ filename: behave, maxThreads: 1, concurrentTasksPerWorker: 2 });
    // The second waits on the thread behind the first for 800 ms, then takes no time.
    const first = threads.run({ op: 'busy', ms: 800 });
    const second = threads.run({ op: 'thread' }, { timeoutMs: 400 });
    await expect(second).resolves.toBeTypeOf('number');
    await first;
  });
});

describe('ThreadPool: queue and threads', () => {
  it('rejects past maxQueue with ERR_QUEUE_FULL', async () => {
    const threads = pool({
      filename: behave,
      maxThreads: 1,
      concurrentTasksPerWorker: 1,
      maxQueue: 1,
    });
    const controller = new AbortController();
    const holding = threads.run(
      { op: 'until-aborted', marker: join(dir, 'marker') },
      { signal: controller.signal },
    );
    const waiting = threads.run({ op: 'thread' });
    const error = await rejection(threads.run({ op: 'thread' }));
    expect(error.code).toBe('ERR_QUEUE_FULL');
    controller.abort();
    await rejection(holding);
    await expect(waiting).resolves.toBeTypeOf('number');
  });

  it('shrinks to minThreads after idleTimeoutMs', async () => {
    const threads = pool({
      filename: behave,
      minThreads: 1,
      maxThreads: 3,
      concurrentTasksPerWorker: 1,
      idleTimeoutMs: 100,
    });
    const runs = Array.from({ length: 3 }, () => threads.run({ op: 'sleep', ms: 300 }));
    await waitFor(() => threads.stats.threads === 3, 'three threads');
    expect(new Set(await Promise.all(runs)).size).toBe(3);
    await waitFor(() => threads.stats.threads === 1, 'the idle threads to end');
    expect(threads.stats).toMatchObject({ threads: 1, idleThreads: 1, running: 0 });
  });

  it('reports utilization between 0 and 1', async () => {
    const threads = pool({ filename: behave, maxThreads: 1 });
    await threads.run({ op: 'busy', ms: 20 });
    expect(threads.stats.utilization).toBeGreaterThan(0);
    expect(threads.stats.utilization).toBeLessThanOrEqual(1);
  });
});

describe('ThreadPool: close', () => {
  it('lets running tasks finish, rejects waiting ones with ERR_CLOSED, and is idempotent', async () => {
    const threads = new ThreadPool({
      filename: behave,
      maxThreads: 1,
      concurrentTasksPerWorker: 1,
    });
    const running = threads.run({ op: 'sleep', ms: 200 });
    const waiting = threads.run({ op: 'thread' });
    await waitFor(() => threads.stats.running === 1, 'the first task to start');
    const closing = threads.close();
    expect(threads.close()).toBe(closing);
    const error = await rejection(waiting);
    expect(error.code).toBe('ERR_CLOSED');
    expect(error.message).toBe('The thread pool `behave` was closed before task `behave` started');
    await expect(running).resolves.toBeTypeOf('number');
    await closing;
    expect(threads.stats.threads).toBe(0);
    const late = await rejection(threads.run({ op: 'thread' }));
    expect(late.code).toBe('ERR_CLOSED');
    await threads[Symbol.asyncDispose]();
  });

  it('with force, aborts the running tasks, which reject with ERR_CANCELLED', async () => {
    const threads = new ThreadPool({ filename: behave, maxThreads: 1, cancelGraceMs: 60_000 });
    const ready = join(dir, 'ready');
    const marker = join(dir, 'marker');
    const running = rejection(threads.run({ op: 'until-aborted', ready, marker }));
    await readyThread(ready);
    await threads.close({ force: true });
    const error = await running;
    expect(error.code).toBe('ERR_CANCELLED');
    expect(error.message).toBe('Task `behave` was cancelled: the thread pool `behave` was closed');
    expect(readFileSync(marker, 'utf8')).toBe('cleaned up after AbortError');
    expect(threads.stats.threads).toBe(0);
  });

  it('leaks nothing over 100 cycles', async () => {
    const before = osThreads();
    const handles = process.getActiveResourcesInfo().length;
    for (let cycle = 0; cycle < 100; cycle++) {
      await using threads = new ThreadPool({ filename: addOne, minThreads: 1, maxThreads: 1 });
      expect(await threads.run(cycle)).toBe(cycle + 1);
    }
    await waitFor(() => osThreads() <= before, 'the threads to be joined');
    expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(handles);
  });

  it('keeps its thread count through 20 terminations', async () => {
    const threads = pool({ filename: behave, minThreads: 2, maxThreads: 2, cancelGraceMs: 10 });
    for (let cycle = 0; cycle < 20; cycle++) {
      const error = await rejection(threads.run({ op: 'spin' }, { timeoutMs: 1 }));
      expect(error.code).toBe('ERR_TIMEOUT');
      expect(threads.stats.threads).toBeLessThanOrEqual(2);
    }
    await expect(threads.run({ op: 'thread' })).resolves.toBeTypeOf('number');
    expect(threads.stats.restarts).toBe(20);
  });
});

describe('ThreadPool: piscina options', () => {
  it('`name` selects the export, for the pool and for one run, as in piscina', async () => {
    const threads = pool({ filename: namedExports, maxThreads: 1, name: 'double' });
    expect(await threads.run(4)).toBe(8);
    expect(await threads.run(4, { name: 'triple' })).toBe(12);
    expect(await threads.run(4, { name: 'default' })).toEqual({ from: 'default', n: 4 });
    // Small synchronous tasks share batches: each keeps its own export.
    const names = ['double', 'triple', undefined, 'default'] as const;
    const runs = Array.from({ length: 64 }, (_, i) => {
      const name = names[i % 4];
      return threads.run(i, name === undefined ? undefined : { name });
    });
    const expected = Array.from({ length: 64 }, (_, i) =>
      i % 4 === 1 ? i * 3 : i % 4 === 3 ? { from: 'default', n: i } : i * 2,
    );
    expect(await Promise.all(runs)).toEqual(expected);
    const missing = await rejection(threads.run(1, { name: 'notAFunction' }));
    expect(missing.code).toBe('ERR_TASK_FAILED');
    expect(missing.message).toMatch(
      /^The export `notAFunction` of .*named-exports\.mjs is not a function \(got number\)$/,
    );
    // The thread lives on.
    expect(await threads.run(5)).toBe(10);
    expect(threads.stats.restarts).toBe(0);
  });

  it('moves what `transferList` names instead of copying it, as in piscina', async () => {
    const threads = pool({ filename: namedExports, maxThreads: 1, name: 'byteSum' });
    const copied = new Uint8Array([1, 2, 3]).buffer;
    expect(await threads.run(copied)).toBe(6);
    expect(copied.byteLength).toBe(3);
    const moved = new Uint8Array([4, 5, 6]).buffer;
    expect(await threads.run(moved, { transferList: [moved] })).toBe(15);
    // Detached on the caller's side: its bytes went to the thread.
    expect(moved.byteLength).toBe(0);
    expect((await rejection(threads.run(1, { transferList: 'no' as never }))).message).toBe(
      'Expected `transferList` to be an array, got `"no"` (string)',
    );
  });
});

describe('ThreadPool: run records', () => {
  it("records each task as a 'pooled' run: running, then terminal", async () => {
    const store = new MemoryStore();
    const threads = pool({ filename: behave, maxThreads: 1, store, cancelGraceMs: 60_000 });
    const ok = newRunId();
    await threads.run({ op: 'thread' }, { id: ok, runName: 'lookup' });
    expect(await store.get(ok)).toMatchObject({
      id: ok,
      name: 'lookup',
      pattern: 'pooled',
      status: 'succeeded',
      attempt: 1,
    });
    const record = (await store.get(ok))!;
    expect(record.durationMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(record.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(record.startedAt!));

    const failed = newRunId();
    await rejection(threads.run({ op: 'throw', message: 'bad input' }, { id: failed }));
    expect(await store.get(failed)).toMatchObject({
      name: 'behave',
      status: 'failed',
      error: { code: 'ERR_TASK_FAILED', message: 'bad input' },
    });

    const cancelled = newRunId();
    const controller = new AbortController();
    const ready = join(dir, 'ready');
    const running = threads.run(
      { op: 'until-aborted', ready, marker: join(dir, 'marker') },
      { id: cancelled, signal: controller.signal },
    );
    await readyThread(ready);
    expect((await store.get(cancelled))?.status).toBe('running');
    controller.abort();
    await rejection(running);
    expect(await store.get(cancelled)).toMatchObject({
      status: 'cancelled',
      error: { code: 'ERR_CANCELLED' },
    });

    const timedOut = newRunId();
    const untilAborted = { op: 'until-aborted', marker: join(dir, 'marker') };
    await rejection(threads.run(untilAborted, { id: timedOut, timeoutMs: 1 }));
    expect((await store.get(timedOut))?.status).toBe('timed_out');
  });
});

describe('ThreadPool: options', () => {
  it('validates eagerly with the house message template', () => {
    const invalid = (options: unknown) => {
      try {
        new ThreadPool(options as ThreadPoolOptions);
      } catch (error) {
        expect(isRunyardError(error, 'ERR_INVALID')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('expected ERR_INVALID');
    };
    expect(invalid({})).toBe('Expected `filename` to be a string, got `undefined` (undefined)');
    expect(invalid({ filename: join(dir, 'missing.mjs') })).toMatch(
      /^Expected `filename` to be an existing file, got `".*missing\.mjs"` \(string\)$/,
    );
    expect(invalid({ filename: addOne, minThreads: -1 })).toBe(
      'Expected `minThreads` to be a non-negative integer, got `-1` (number)',
    );
    expect(invalid({ filename: addOne, minThreads: 3, maxThreads: 2 })).toBe(
      'Expected `maxThreads` to be at least `minThreads` (3), got `2` (number)',
    );
    expect(invalid({ filename: addOne, cancelGraceMs: -1 })).toBe(
      'Expected `cancelGraceMs` to be a non-negative finite number, got `-1` (number)',
    );
    expect(invalid({ filename: addOne, concurrentTasksPerWorker: 0 })).toBe(
      'Expected `concurrentTasksPerWorker` to be a positive integer, got `0` (number)',
    );
    expect(invalid({ filename: addOne, maxQueue: 1.5 })).toBe(
      'Expected `maxQueue` to be a non-negative integer or Infinity, got `1.5` (number)',
    );
    expect(invalid({ filename: addOne, store: {} })).toBe(
      'Expected `store` to be a RunStore, got `{}` (object)',
    );
  });

  it('rejects bad run and close options with ERR_INVALID', async () => {
    const threads = pool({ filename: addOne, maxThreads: 1 });
    const error = await rejection(threads.run(1, { timeoutMs: -1 }));
    expect(error.message).toBe(
      'Expected `timeoutMs` to be a non-negative finite number, got `-1` (number)',
    );
    expect((await rejection(threads.run(1, { signal: {} as AbortSignal }))).code).toBe(
      'ERR_INVALID',
    );
    expect(
      (await rejection(threads.close({ force: 'yes' } as unknown as { force: boolean }))).code,
    ).toBe('ERR_INVALID');
  });

  it('names itself after its file by default, or its runName', () => {
    expect(pool({ filename: addOne, maxThreads: 1 }).name).toBe('add-one');
    expect(pool({ filename: addOne, maxThreads: 1, runName: 'inc' }).name).toBe('inc');
    expect(pool({ filename: namedExports, maxThreads: 1, name: 'double' }).name).toBe(
      'named-exports',
    );
  });

  it('rejects unknown option keys, suggesting the near name', async () => {
    const message = (make: () => unknown) => {
      try {
        make();
      } catch (error) {
        expect(isRunyardError(error, 'ERR_INVALID')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('expected ERR_INVALID');
    };
    expect(message(() => new ThreadPool({ filename: addOne, maxThread: 2 } as never))).toMatch(
      /^Unknown option `maxThread`: did you mean `maxThreads`\?/,
    );
    const limits = { maxOldGenerationSizeMB: 64 };
    expect(
      message(() => new ThreadPool({ filename: addOne, resourceLimits: limits } as never)),
    ).toMatch(/`resourceLimits.maxOldGenerationSizeMB`: did you mean `maxOldGenerationSizeMb`\?/);
    const threads = pool({ filename: addOne, maxThreads: 1 });
    const error = await rejection(threads.run(1, { timeout: 5 } as never));
    expect(error.code).toBe('ERR_INVALID');
    expect(error.message).toMatch(/^Unknown option `timeout`: did you mean `timeoutMs`\?/);
    expect((await rejection(threads.close({ forse: true } as never))).message).toMatch(
      /did you mean `force`\?/,
    );
    expect(threads.stats.completed + threads.stats.failed).toBe(0);
  });

  it('takes durations of 2^31 ms and more as they are, not as 1 ms', async () => {
    const thirtyDays = 30 * 24 * 3600 * 1000;
    const threads = pool({
      filename: behave,
      minThreads: 0,
      maxThreads: 1,
      idleTimeoutMs: thirtyDays,
      cancelGraceMs: thirtyDays,
    });
    const thread = await threads.run({ op: 'sleep', ms: 50 }, { timeoutMs: thirtyDays });
    expect(typeof thread).toBe('number');
    // Lopsided: a clamped idle timer would end the thread after 1 ms.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(threads.stats).toMatchObject({ threads: 1, completed: 1, failed: 0 });
    // A cancelled task that honours its signal has all its grace: its thread is not terminated.
    const controller = new AbortController();
    const ready = join(dir, 'ready');
    const running = threads.run(
      { op: 'until-aborted', ready, marker: join(dir, 'marker') },
      { signal: controller.signal },
    );
    expect(await readyThread(ready)).toBe(thread);
    controller.abort();
    const error = await rejection(running);
    expect(error.code).toBe('ERR_CANCELLED');
    expect(error.message).not.toContain('terminated');
    expect(threads.stats.restarts).toBe(0);
    expect(await threads.run({ op: 'thread' })).toBe(thread);
  });

  it('has the defaults docs/pools.md states', () => {
    const text = readDoc('pools.md');
    // The ThreadPool section only: the ProcessPool's table has rows of the same names.
    const start = text.indexOf('\n## ThreadPool');
    const end = text.indexOf('\n## ', start + 1);
    const docs = text.slice(start, end === -1 ? undefined : end);
    const documented = (option: string) => tableCell(docs, option);
    expect(documented('minThreads')).toBe(`\`${threadPoolDefaults.minThreads}\``);
    expect(documented('idleTimeoutMs')).toBe(`\`${threadPoolDefaults.idleTimeoutMs}\``);
    expect(documented('concurrentTasksPerWorker')).toBe(
      `\`${threadPoolDefaults.concurrentTasksPerWorker}\``,
    );
    expect(documented('cancelGraceMs')).toBe(`\`${threadPoolDefaults.cancelGraceMs}\``);
    expect(docs).toContain(`${threadPoolDefaults.terminateTimeoutMs} ms`);
    expect(docs).toContain(`up to ${threadPoolDefaults.maxBatch} tasks`);
  });
});
