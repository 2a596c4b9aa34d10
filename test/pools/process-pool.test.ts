import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MemoryStore,
  type NodePoolOptions,
  ProcessPool,
  type ProcessPoolOptions,
  type ProcessPoolRunOptions,
  type PythonPoolOptions,
  processPoolDefaults,
  RunyardError,
} from '../../src/index.js';
import { isProcessAlive } from '../../src/process/tree-kill.js';
import { readDoc, tableCell } from '../helpers/docs.js';
import { waitUntilDead } from '../helpers/processes.js';

const poolDir = join(import.meta.dirname, '..', 'fixtures', 'pool');
/** The system interpreter starts in ~10 ms; a pyenv shim on PATH takes 80–90 ms. */
const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Every pool a test makes, closed after it; every worker pid seen, checked dead after that. */
const pools: ProcessPool[] = [];
const seenPids = new Set<number>();

afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
  const pids = [...seenPids];
  seenPids.clear();
  await waitUntilDead(pids, 5000);
});

function track(pool: ProcessPool): ProcessPool {
  pools.push(pool);
  return pool;
}

type Flavour = 'python' | 'node';
/** A pool of the shipped helper for one of the fixture handlers, by its short name. */
function helperPool(
  flavour: Flavour,
  handler: string,
  options: Omit<ProcessPoolOptions, 'command'> = {},
): ProcessPool {
  const pool =
    flavour === 'python'
      ? ProcessPool.python({
          handler: `py_handlers:${pythonNames[handler] ?? handler}`,
          python,
          cwd: poolDir,
          ...options,
        })
      : ProcessPool.node({ handler: `./handlers.mjs#${handler}`, cwd: poolDir, ...options });
  return track(pool);
}
const pythonNames: Record<string, string> = { asyncEcho: 'async_echo' };

/** Runs a task whose handler answers `{ pid }`, remembering the pid for the leak check. */
async function runForPid(pool: ProcessPool, payload: unknown = null): Promise<number> {
  const { pid } = (await pool.run(payload)) as { pid: number };
  seenPids.add(pid);
  return pid;
}

/** The rejection of `promise`, which must reject with a RunyardError. */
async function rejection(promise: Promise<unknown>): Promise<RunyardError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RunyardError);
    return error as RunyardError;
  }
  throw new Error('expected a rejection');
}

/** Polls `check` until it returns true; fails naming `what` after `timeoutMs`. */
async function eventually(what: string, check: () => boolean, timeoutMs = 10_000) {
  const deadline = performance.now() + timeoutMs;
  for (let delay = 1; !check(); delay = Math.min(delay * 2, 50)) {
    if (performance.now() > deadline) throw new Error(`Not ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

describe.each(['python', 'node'] as const)('ProcessPool with the %s helper', (flavour) => {
  it('returns each handler result, sync and async', async () => {
    const pool = helperPool(flavour, 'echo', { size: 1 });
    expect(await pool.run({ a: [1, 'two', null], b: 'ünïcödé \u2028' })).toEqual({
      a: [1, 'two', null],
      b: 'ünïcödé \u2028',
    });
    expect(await pool.run(undefined)).toBeNull();
    expect(await helperPool(flavour, 'add').run([1, 2, 3])).toBe(6);
    expect(await helperPool(flavour, 'asyncEcho').run('x')).toEqual({ async: 'x' });
    expect(pool.stats).toMatchObject({ workers: 1, idle: 1, busy: 0, completed: 2, restarts: 0 });
  });

  it('returns a result, and takes a payload, of more than 1 MiB', async () => {
    const pool = helperPool(flavour, 'big', { size: 1 });
    const size = 2 * 1024 * 1024 + 10;
    expect(((await pool.run(size)) as string).length).toBe(size);
    expect(await pool.run('y'.repeat(size))).toBe(size);
    expect(pool.stats).toMatchObject({ completed: 2, failed: 0, restarts: 0 });
  });

  it('fails only the task whose result passes maxMessageBytes, and replaces its worker', async () => {
    const pool = helperPool(flavour, 'big', { size: 2, maxMessageBytes: 4096 });
    const [tooBig, small] = await Promise.allSettled([pool.run(10_000), pool.run(100)]);
    expect(small).toMatchObject({ status: 'fulfilled', value: 'x'.repeat(100) });
    const error = (tooBig as PromiseRejectedResult).reason as RunyardError;
    expect(error.code).toBe('ERR_TASK_FAILED');
    expect(error.message).toContain('passed `maxMessageBytes` (4096 bytes)');
    expect(error.message).toContain('was replaced');
    expect(await pool.run(4000)).toHaveLength(4000);
    expect(pool.stats).toMatchObject({ completed: 2, failed: 1, restarts: 1 });
  });

  it('never hands a task to an idle worker that died: a new worker takes it', async () => {
    const pool = helperPool(flavour, 'pid', { size: 1 });
    const first = await runForPid(pool);
    process.kill(first, 'SIGKILL');
    // Synchronously, so the pool cannot have seen the exit when the task is sent.
    waitUntilGoneSync(first);
    const { pid } = (await pool.run('after')) as { pid: number };
    seenPids.add(pid);
    expect(pid).not.toBe(first);
    expect(pool.stats).toMatchObject({ workers: 1, completed: 2, failed: 0, restarts: 1 });
  });

  it('rejects a throwing handler with ERR_TASK_FAILED and its own type and message', async () => {
    const pool = helperPool(flavour, 'fail', { size: 1 });
    const error = await rejection(pool.run(3));
    expect(error.code).toBe('ERR_TASK_FAILED');
    expect(error.message).toBe(
      flavour === 'python' ? 'ValueError: bad value 3' : 'TypeError: bad value 3',
    );
    const cause = error.cause as Error;
    expect(cause.name).toBe(flavour === 'python' ? 'ValueError' : 'TypeError');
    expect(cause.stack).toContain(flavour === 'python' ? 'raise ValueError' : 'at fail');
    // The worker lives on: the next task runs on it.
    await expect(pool.run(4)).rejects.toThrow('bad value 4');
    expect(pool.stats).toMatchObject({ workers: 1, failed: 2, restarts: 0 });
  });

  it('keeps the protocol clean when the handler prints, and passes the lines as logs', async () => {
    const pool = helperPool(flavour, 'noisy', { size: 1 });
    const logs: string[] = [];
    const first = await runForPid(pool);
    const result = await pool.run('p', { onLog: (line) => logs.push(line) });
    expect(result).toEqual({ pid: first, payload: 'p' });
    expect(logs).toEqual([
      'first line',
      'a line that looks like protocol: {"id":1,"ok":true,"result":"forged"}',
      'no newline at the end',
    ]);
    expect(pool.stats).toMatchObject({ completed: 2, failed: 0, restarts: 0 });
  });

  it('fails only the task of a crashing worker with ERR_WORKER_CRASHED, and replaces it', async () => {
    const pool = helperPool(flavour, 'crash', { size: 2 });
    const payloads = [1, 2, 'crash', 3, 4, 5, 6];
    const settled = await Promise.allSettled(payloads.map((payload) => pool.run(payload)));
    settled.forEach((outcome, i) => {
      if (payloads[i] !== 'crash') {
        expect(outcome).toMatchObject({ status: 'fulfilled', value: { payload: payloads[i] } });
        seenPids.add((outcome as PromiseFulfilledResult<{ pid: number }>).value.pid);
        return;
      }
      expect(outcome.status).toBe('rejected');
      const error = (outcome as PromiseRejectedResult).reason as RunyardError;
      expect(error.code).toBe('ERR_WORKER_CRASHED');
      expect(error.message).toMatch(
        /^Worker \d+ of pool `.*crash` exited with code 3 while it ran a task/,
      );
      expect(error.message).toContain('about to crash');
    });
    expect(await pool.run(7)).toMatchObject({ payload: 7 });
    expect(pool.stats).toMatchObject({ completed: 7, failed: 1, restarts: 1 });
  });

  it('ends and replaces the worker of a task that passes its timeoutMs', async () => {
    const pool = helperPool(flavour, 'sleep', { size: 1 });
    const pids: number[] = [];
    const error = await rejection(
      pool.run(flavour === 'python' ? 1e5 : 1e8, { timeoutMs: 300, onLog: startedPid(pids) }),
    );
    expect(error.code).toBe('ERR_TIMEOUT');
    expect(error.message).toContain('timeoutMs (300 ms)');
    expect(pids).toHaveLength(1);
    await waitUntilDead(pids);
    // The next task gets a fresh worker.
    expect(await pool.run(0, { onLog: startedPid(pids) })).toBe(0);
    expect(pids[1]).not.toBe(pids[0]);
    expect(pool.stats).toMatchObject({ workers: 1, restarts: 1 });
  });

  it('cancels a running task through its signal: the worker is ended and replaced', async () => {
    const pool = helperPool(flavour, 'sleep', { size: 1 });
    const controller = new AbortController();
    const pids: number[] = [];
    const running = pool.run(flavour === 'python' ? 1e5 : 1e8, {
      signal: controller.signal,
      onLog: (line) => {
        startedPid(pids)(line);
        controller.abort(new Error('enough'));
      },
    });
    const error = await rejection(running);
    expect(error.code).toBe('ERR_CANCELLED');
    expect((error.cause as Error).message).toBe('enough');
    await waitUntilDead(pids);
    expect(await pool.run(0)).toBe(0);
    expect(pool.stats).toMatchObject({ workers: 1, completed: 1, failed: 1, restarts: 1 });
  });

  it('recycles a worker after maxTasksPerWorker tasks', async () => {
    const pool = helperPool(flavour, 'pid', { size: 1, maxTasksPerWorker: 2 });
    const pids: number[] = [];
    for (let i = 0; i < 5; i++) pids.push(await runForPid(pool, i));
    expect(pids[0]).toBe(pids[1]);
    expect(pids[2]).toBe(pids[3]);
    expect(new Set(pids).size).toBe(3);
    await waitUntilDead([pids[0]!, pids[2]!]);
    expect(pool.stats.restarts).toBe(0);
  });

  it('gives 10 concurrent callers on 4 workers each their own result', async () => {
    const pool = helperPool(flavour, 'pid', { size: 4 });
    const calls = Array.from({ length: 10 }, (_, i) => {
      const call = pool.run({ caller: i });
      expect(pool.stats.busy + pool.stats.starting).toBeLessThanOrEqual(4);
      return call;
    });
    const results = (await Promise.all(calls)) as { pid: number; payload: unknown }[];
    expect(results.map((r) => r.payload)).toEqual(
      Array.from({ length: 10 }, (_, i) => ({ caller: i })),
    );
    for (const { pid } of results) seenPids.add(pid);
    expect(new Set(results.map((r) => r.pid)).size).toBeLessThanOrEqual(4);
    expect(pool.stats).toMatchObject({ workers: 4, completed: 10, queued: 0 });
  });

  it('lets idle workers exit after idleTimeoutMs', async () => {
    const pool = helperPool(flavour, 'pid', { size: 2, idleTimeoutMs: 50 });
    const pids = await Promise.all([runForPid(pool), runForPid(pool)]);
    await eventually('shrunk to no worker', () => pool.stats.workers === 0);
    await waitUntilDead(pids);
    // A later task starts a worker again.
    expect(await runForPid(pool)).not.toBe(pids[0]);
    expect(pool.stats.restarts).toBe(0);
  });

  it('close() cancels running tasks, rejects queued ones, and ends every worker', async () => {
    const pool = helperPool(flavour, 'sleep', { size: 2 });
    const long = flavour === 'python' ? 1e5 : 1e8;
    const workerPids: number[] = [];
    const running = [1, 2].map(() => rejection(pool.run(long, { onLog: startedPid(workerPids) })));
    const queued = rejection(pool.run(0));
    await eventually('both tasks running', () => workerPids.length === 2);
    const closing = pool.close();
    expect(pool.close()).toBe(closing);
    await closing;
    for (const task of running) expect((await task).code).toBe('ERR_CANCELLED');
    expect((await queued).code).toBe('ERR_CLOSED');
    expect(workerPids.filter(isProcessAlive)).toEqual([]);
    expect((await rejection(pool.run(1))).code).toBe('ERR_CLOSED');
    expect(pool.stats).toMatchObject({ workers: 0, queued: 0 });
  });

  it('records each task as a pooled run in the store', async () => {
    const store = new MemoryStore();
    const pool = helperPool(flavour, 'noisy', { size: 1, store });
    await pool.run('ok');
    const failing = helperPool(flavour, 'fail', { size: 1, store });
    await rejection(failing.run(1));
    await pool.close();
    await failing.close();
    const { runs } = await store.list({ pattern: 'pooled' });
    const byName = Object.fromEntries(runs.map((run) => [run.name, run]));
    const noisyName = flavour === 'python' ? 'py_handlers:noisy' : './handlers.mjs#noisy';
    const failName = flavour === 'python' ? 'py_handlers:fail' : './handlers.mjs#fail';
    expect(byName[noisyName]).toMatchObject({
      status: 'succeeded',
      pattern: 'pooled',
      output: { lines: 3 },
    });
    expect(byName[noisyName]!.pid).toBeGreaterThan(0);
    expect(byName[failName]).toMatchObject({
      status: 'failed',
      error: { code: 'ERR_TASK_FAILED', message: expect.stringContaining('bad value 1') },
    });
  });
});

describe('ProcessPool: broken workers', () => {
  it('a worker printing garbage on stdout counts as crashed and is replaced', async () => {
    const pool = track(
      ProcessPool.node({ handler: './handlers.mjs#corrupt', cwd: poolDir, size: 1 }),
    );
    const error = await rejection(pool.run(null));
    expect(error.code).toBe('ERR_WORKER_CRASHED');
    expect(error.message).toContain('printed a line that is not protocol JSON: `this is not json`');
    const again = await rejection(pool.run(null));
    expect(again.code).toBe('ERR_WORKER_CRASHED');
    expect(pool.stats).toMatchObject({ failed: 2, restarts: 2 });
  });

  it('a Python handler module that is missing fails fast with the import error, without spinning', async () => {
    const pool = track(
      ProcessPool.python({ handler: 'missing_module_xyz:run', python, cwd: poolDir, size: 4 }),
    );
    const first = await rejection(pool.run(1));
    expect(first.code).toBe('ERR_WORKER_CRASHED');
    expect(first.message).toContain("ModuleNotFoundError: No module named 'missing_module_xyz'");
    expect(first.message).toMatch(/exited with code 1 before its ready line/);
    expect(first.message).toContain(
      `${processPoolDefaults.maxStartFailures} starts failed in a row`,
    );
    // Thousands of tasks then fail at once with the same message, and start nothing.
    const restarts = pool.stats.restarts;
    expect(restarts).toBe(processPoolDefaults.maxStartFailures - 1);
    const started = performance.now();
    const errors = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => rejection(pool.run(i))),
    );
    expect(performance.now() - started).toBeLessThan(1000);
    expect(new Set(errors.map((e) => e.message))).toEqual(new Set([first.message]));
    expect(pool.stats).toMatchObject({ workers: 0, restarts });
  });

  it('a failed pool recovers: a run() after the backoff tries a start again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runyard-pool-'));
    try {
      const gate = join(dir, 'gate');
      const pool = track(
        ProcessPool.node({
          handler: './gated.mjs#echo',
          cwd: poolDir,
          size: 2,
          env: { POOL_GATE: gate },
        }),
      );
      const error = await rejection(pool.run(1));
      expect(error.message).toContain(`gate closed: ${gate} does not exist`);
      await writeFile(gate, '');
      let result: unknown;
      await eventually('recovered', () => {
        pool.run(2).then(
          (value) => {
            result = value;
          },
          () => {},
        );
        return result === 2;
      });
      expect(result).toBe(2);
      expect(await pool.run(3)).toBe(3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a worker that never sends its ready line fails after startupTimeoutMs, with its stderr', async () => {
    const stderrLines: string[] = [];
    const pool = track(
      new ProcessPool({
        command: process.execPath,
        args: [join(poolDir, 'never-ready.mjs')],
        // Long enough for node to start and write its stderr on a loaded machine.
        startupTimeoutMs: 1000,
        size: 1,
        onStderr: (line, pid) => stderrLines.push(`${pid}: ${line}`),
      }),
    );
    const error = await rejection(pool.run(1));
    expect(error.code).toBe('ERR_WORKER_CRASHED');
    expect(error.message).toContain('sent no ready line within 1000 ms');
    expect(error.message).toContain('warming up forever');
    expect(pool.stats).toMatchObject({
      workers: 0,
      restarts: processPoolDefaults.maxStartFailures - 1,
    });
    expect(stderrLines).toHaveLength(processPoolDefaults.maxStartFailures);
    expect(stderrLines[0]).toMatch(/^\d+: warming up forever$/);
  });

  it('a worker that prints before its ready line fails to start', async () => {
    const pool = track(
      new ProcessPool({ command: process.execPath, args: [join(poolDir, 'garbage-at-start.mjs')] }),
    );
    const error = await rejection(pool.run(1));
    expect(error.message).toContain(
      'printed a line that is not protocol JSON: `Welcome to the worker!`',
    );
  });

  it('a missing command rejects with ERR_SPAWN at once', async () => {
    const pool = track(new ProcessPool({ command: join(poolDir, 'no-such-worker'), size: 2 }));
    const error = await rejection(pool.run(1));
    expect(error.code).toBe('ERR_SPAWN');
    expect(error.message).toContain('command not found');
    expect((await rejection(pool.run(2))).code).toBe('ERR_SPAWN');
    expect(pool.stats.restarts).toBe(0);
  });
});

describe('ProcessPool: options and inputs', () => {
  it('rejects bad options with ERR_INVALID naming the field', () => {
    expect(() => new ProcessPool({ command: '' })).toThrow(/`command`/);
    expect(() => new ProcessPool({ command: 'x', size: 0 })).toThrow(/`size`/);
    expect(() => new ProcessPool({ command: 'x', idleTimeoutMs: -1 })).toThrow(/`idleTimeoutMs`/);
    expect(() => ProcessPool.python({ handler: 'no-colon' })).toThrow(/`handler`/);
    expect(() => ProcessPool.node({ handler: './x.mjs#' })).toThrow(/`handler`/);
  });

  it('rejects a payload JSON cannot hold, and bad run options, without starting anything', async () => {
    const pool = helperPool('node', 'echo');
    expect((await rejection(pool.run(10n))).code).toBe('ERR_INVALID');
    expect((await rejection(pool.run(1, { timeoutMs: -1 }))).message).toContain('`timeoutMs`');
    const controller = new AbortController();
    controller.abort();
    expect((await rejection(pool.run(1, { signal: controller.signal }))).code).toBe(
      'ERR_CANCELLED',
    );
    expect(pool.stats).toMatchObject({ workers: 0, failed: 0 });
  });

  it('rejects with ERR_QUEUE_FULL past maxQueue', async () => {
    const pool = helperPool('node', 'echo', { size: 1, maxQueue: 1 });
    const accepted = [pool.run(1), pool.run(2)];
    expect((await rejection(pool.run(3))).code).toBe('ERR_QUEUE_FULL');
    expect(await Promise.all(accepted)).toEqual([1, 2]);
  });

  it('a queued task cancelled through its signal never starts', async () => {
    const pool = helperPool('node', 'echo', { size: 1 });
    const controller = new AbortController();
    const first = pool.run(1);
    const second = pool.run(2, { signal: controller.signal });
    controller.abort();
    expect((await rejection(second)).code).toBe('ERR_CANCELLED');
    expect(await first).toBe(1);
    expect(pool.stats).toMatchObject({ queued: 0, completed: 1, failed: 1, restarts: 0 });
  });

  it('the Node helper reads a task line of tens of MiB in linear time', async () => {
    const pool = helperPool('node', 'big', { size: 1 });
    await pool.run(0);
    const size = 40 * 1024 * 1024;
    const started = performance.now();
    expect(await pool.run('y'.repeat(size))).toBe(size);
    // Lopsided: about a second here; re-scanning the whole line for each 64 KiB chunk
    // that arrives took about 25 s.
    expect(performance.now() - started).toBeLessThan(8000);
  });

  it('rejects a payload past maxMessageBytes with ERR_INVALID, without starting anything', async () => {
    const pool = helperPool('node', 'big', { maxMessageBytes: 1000 });
    const error = await rejection(pool.run('y'.repeat(1000)));
    expect(error.code).toBe('ERR_INVALID');
    expect(error.message).toMatch(/at most `maxMessageBytes` \(1000 bytes\), got 1\d{3} bytes/);
    expect(pool.stats).toMatchObject({ workers: 0, failed: 0 });
    expect(() => new ProcessPool({ command: 'x', maxMessageBytes: 0 })).toThrow(
      /`maxMessageBytes`/,
    );
  });

  it('rejects unknown option keys, suggesting the near name', async () => {
    expect(() => new ProcessPool({ command: 'x', timeout: 5 } as ProcessPoolOptions)).toThrow(
      /Unknown option `timeout`: did you mean `timeoutMs`\?/,
    );
    const node = { handler: './handlers.mjs', sizee: 2 } as unknown as NodePoolOptions;
    expect(() => ProcessPool.node(node)).toThrow(/`sizee`: did you mean `size`\?/);
    const py = { handler: 'a:b', pyhton: 'x' } as unknown as PythonPoolOptions;
    expect(() => ProcessPool.python(py)).toThrow(/`pyhton`: did you mean `python`\?/);
    const pool = helperPool('node', 'echo');
    const error = await rejection(pool.run(1, { timeout: 5 } as ProcessPoolRunOptions));
    expect(error.code).toBe('ERR_INVALID');
    expect(error.message).toContain('did you mean `timeoutMs`?');
    expect(pool.stats.workers).toBe(0);
  });

  it('takes durations of 2^31 ms and more as they are, not as 1 ms', async () => {
    const thirtyDays = 30 * 24 * 3600 * 1000;
    const pool = helperPool('node', 'sleep', {
      size: 1,
      timeoutMs: thirtyDays,
      idleTimeoutMs: thirtyDays,
      startupTimeoutMs: thirtyDays,
      killGraceMs: thirtyDays,
    });
    const pids: number[] = [];
    expect(await pool.run(50, { onLog: startedPid(pids) })).toBe(50);
    expect(await pool.run(50, { timeoutMs: thirtyDays, onLog: startedPid(pids) })).toBe(50);
    // Lopsided: a clamped idle timer would fire after 1 ms.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(pool.stats).toMatchObject({ workers: 1, idle: 1, completed: 2, restarts: 0 });
    expect(await pool.run(0, { onLog: startedPid(pids) })).toBe(0);
    expect(new Set(pids).size).toBe(1);
  });

  it('calls the default export without #name', async () => {
    const pool = track(ProcessPool.node({ handler: './handlers.mjs', cwd: poolDir, size: 1 }));
    expect(await pool.run(5)).toEqual({ fromDefault: 5 });
  });

  it('documents its defaults', () => {
    const docs = readDoc('pools.md');
    const section = docs.slice(docs.indexOf('## ProcessPool'));
    const row = (option: string) => tableCell(section, option);
    expect(row('idleTimeoutMs')).toBe(`\`${processPoolDefaults.idleTimeoutMs}\``);
    expect(row('startupTimeoutMs')).toBe(`\`${processPoolDefaults.startupTimeoutMs}\``);
    expect(row('killGraceMs')).toBe(`\`${processPoolDefaults.killGraceMs}\``);
    expect(row('maxMessageBytes')).toBe(`\`${processPoolDefaults.maxMessageBytes}\` (64 MiB)`);
    expect(section).toContain(
      `${processPoolDefaults.restartBackoffMs} ms, doubling to ${processPoolDefaults.maxRestartBackoffMs} ms`,
    );
    expect(section).toContain(`${processPoolDefaults.maxStartFailures} failed starts in a row`);
  });
});

/** An `onLog` listener that collects the pid of a `sleep` handler's "started <pid>" line. */
function startedPid(pids: number[]): (line: string) => void {
  return (line) => {
    const match = /^started (\d+)$/.exec(line);
    if (!match) return;
    pids.push(Number(match[1]));
    seenPids.add(Number(match[1]));
  };
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Waits, without yielding to the event loop, until every thread of `pid` has exited: its pipes
 * are closed then, while the pool has had no chance to see it.
 */
function waitUntilGoneSync(pid: number, timeoutMs = 10_000): void {
  const deadline = performance.now() + timeoutMs;
  const isDead = (thread: string) => {
    try {
      return /\) [ZX] /.test(readFileSync(`/proc/${pid}/task/${thread}/stat`, 'utf8'));
    } catch {
      return true;
    }
  };
  for (;;) {
    let threads: string[];
    try {
      threads = readdirSync(`/proc/${pid}/task`);
    } catch {
      return;
    }
    if (threads.every(isDead)) return;
    if (performance.now() > deadline) throw new Error(`${pid} still runs after ${timeoutMs} ms`);
    // Blocks this thread without running the event loop, leaving the CPU to the dying worker.
    Atomics.wait(pause, 0, 0, 1);
  }
}
