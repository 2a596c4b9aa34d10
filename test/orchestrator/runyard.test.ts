import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Pattern, RunRecord, TaskSpec } from '../../src/core/types.js';
import { Runyard } from '../../src/index.js';
import { choosePattern, selectPattern } from '../../src/orchestrator/select-pattern.js';
import { isProcessAlive } from '../../src/process/tree-kill.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { fixturesDir, waitUntilDead } from '../helpers/processes.js';

const poolDir = join(fixturesDir, 'pool');
const homes: string[] = [];
const yards: Runyard[] = [];

afterEach(async () => {
  await Promise.allSettled(yards.splice(0).map((yard) => yard.close({ graceMs: 0 })));
  await Promise.all(homes.splice(0).map((home) => rm(home, { recursive: true, force: true })));
});

async function tempHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'runyard-yard-'));
  homes.push(home);
  return home;
}

async function openYard(options: Parameters<typeof Runyard.open>[0] = {}): Promise<Runyard> {
  const yard = await Runyard.open({ home: await tempHome(), resources: false, ...options });
  yards.push(yard);
  return yard;
}

function node(script: string, ...args: string[]) {
  return { command: process.execPath, args: [join(fixturesDir, script), ...args] };
}

async function recorded(yard: Runyard, pattern: Pattern): Promise<RunRecord[]> {
  return (await yard.store.list({ pattern })).runs;
}

function invalidNaming(field: string) {
  return expect.objectContaining({
    code: 'ERR_INVALID',
    message: expect.stringContaining(`\`${field}\``),
  });
}

describe('selectPattern (the selection rules)', () => {
  const command: TaskSpec = { command: 'true' };
  const table: [string, TaskSpec | TaskSpec[], Parameters<typeof choosePattern>[1], Pattern][] = [
    ['nothing asked', command, {}, 'simple'],
    ['recurring', command, { everyMs: 1000 }, 'periodic'],
    ['recurring wins over streaming', command, { cron: '* * * * *', streaming: true }, 'periodic'],
    ['streaming', command, { streaming: true }, 'long-running'],
    ['exactly 60 s is not long', command, { expectedDurationMs: 60_000 }, 'simple'],
    ['over 60 s', command, { expectedDurationMs: 60_001 }, 'long-running'],
    ['several tasks', [command, command], {}, 'concurrent'],
    ['result not needed', command, { wait: false }, 'fire-and-forget'],
    ['a pool task', { pool: 'p', payload: 1 }, {}, 'pooled'],
    ['a pool task, not waited for', { pool: 'p', payload: 1 }, { wait: false }, 'fire-and-forget'],
  ];
  it.each(table)('%s', (_label, task, hints, pattern) => {
    expect(choosePattern(task, hints).pattern).toBe(pattern);
    expect(selectPattern(task, hints)).toBe(pattern);
  });
});

describe('Runyard.open and close', () => {
  it('opens a memory store, runs, and closes with nothing left running', async () => {
    const yard = await openYard({ store: 'memory:' });
    const handle = yard.execute(node('forever.js'), { streaming: true });
    const pid = handle.pid!;
    for await (const line of handle.lines()) if (line.text === 'ready') break;
    const closing = yard.close({ graceMs: 0 });
    expect(yard.close()).toBe(closing);
    await closing;
    await waitUntilDead([pid]);
    expect(isProcessAlive(pid)).toBe(false);
    expect((await handle.result).status).toBe('cancelled');
    expect(() => yard.execute(node('exit-with.js', '0'))).toThrow(
      expect.objectContaining({ code: 'ERR_CLOSED' }),
    );
  });

  it('has the parts at hand, and supports await using', async () => {
    const home = await tempHome();
    let store: unknown;
    {
      await using yard = await Runyard.open({ home, resources: false });
      expect(yard.home).toBe(home);
      expect(yard.scheduler.list().map((s) => s.name)).toContain('maintenance.prune-runs');
      const result = await yard.run(process.execPath, ['-e', 'console.log("hi")']);
      expect(result.stdout).toBe('hi');
      store = yard.store;
    }
    await expect((store as SqliteStore).list()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('leaves out the maintenance schedules with maintenance: false', async () => {
    const yard = await openYard({ store: 'memory:', maintenance: false });
    expect(yard.scheduler.list()).toEqual([]);
  });

  it('rejects bad options before building anything, and unwinds a failed open', async () => {
    await expect(Runyard.open({ concurrency: 0 })).rejects.toEqual(invalidNaming('concurrency'));
    await expect(
      Runyard.open({ home: await tempHome(), store: 'postgres://db/x' }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID' });
  });

  it('refuses unknown option keys, suggesting the near name', async () => {
    await expect(Runyard.open({ concurency: 2 } as never)).rejects.toMatchObject({
      code: 'ERR_INVALID',
      message: expect.stringContaining('Unknown option `concurency`: did you mean `concurrency`?'),
    });
    await expect(Runyard.open({ resources: { maxCpu: 50 } } as never)).rejects.toMatchObject({
      message: expect.stringContaining('`resources.maxCpu`: did you mean `maxCpuPercent`?'),
    });
    const yard = await openYard({ store: 'memory:' });
    expect(() => yard.execute({ command: 'true' }, { stream: true } as never)).toThrow(
      'Unknown option `hints.stream`: did you mean `streaming`?',
    );
    await expect(yard.close({ grace: 1 } as never)).rejects.toMatchObject({
      message: expect.stringContaining('did you mean `graceMs`?'),
    });
  });

  it('recovers runs of a dead owner at open', async () => {
    const home = await tempHome();
    const seeded = new SqliteStore({ path: join(home, 'runyard.db') });
    const createdAt = new Date().toISOString();
    await seeded.create({
      id: '0190a000-0000-7000-8000-000000000001',
      name: 'orphan',
      pattern: 'fire-and-forget',
      status: 'running',
      attempt: 1,
      createdAt,
      startedAt: createdAt,
      // This process's pid with another start time: a process that died and whose pid was reused.
      owner: { pid: process.pid, host: hostname(), startTime: 12_345 },
      output: { lines: 0, bytes: 0, truncated: false },
    });
    await seeded.close();
    const yard = await openYard({ home });
    const run = await yard.store.get('0190a000-0000-7000-8000-000000000001');
    expect(run?.status).toBe('interrupted');
    expect(run?.error?.code).toBe('ERR_INTERRUPTED');
  });

  it('cancels a running long task once the grace is over', async () => {
    const home = await tempHome();
    const yard = await Runyard.open({ home, resources: false });
    const handle = yard.execute(node('forever.js'), { pattern: 'long-running' });
    for await (const line of handle.lines()) if (line.text === 'ready') break;
    await yard.close({ graceMs: 100 });
    const result = await handle.result;
    expect(result.status).toBe('cancelled');
    await waitUntilDead([handle.pid!]);
    const store = new SqliteStore({ path: join(home, 'runyard.db') });
    try {
      expect((await store.get(handle.id))?.status).toBe('cancelled');
    } finally {
      await store.close();
    }
  });
});

describe('yard.execute', () => {
  it.each(['memory:', undefined])('records every pattern in one store (%s)', async (store) => {
    const yard = await openYard(store === undefined ? {} : { store });

    const simple = await yard.execute(node('exit-with.js', '0', 'out'));
    expect(simple.ok).toBe(true);
    expect(simple.stdout).toBe('out');
    const [simpleRun] = await recorded(yard, 'simple');
    expect(simpleRun).toMatchObject({ id: simple.id, status: 'succeeded', exitCode: 0 });

    const handle = yard.execute(node('print-lines.js', '3'), { streaming: true });
    const long = await handle.result;
    expect(long.output.lines).toBe(3);
    expect(await recorded(yard, 'long-running')).toEqual([
      expect.objectContaining({ id: handle.id, status: 'succeeded' }),
    ]);

    const results = await yard.execute([{ fn: () => 1 }, { fn: () => 2 }], { name: 'pair' });
    expect(results.map((r) => r.value)).toEqual([1, 2]);
    const concurrent = await recorded(yard, 'concurrent');
    expect(concurrent.map((r) => r.name).sort()).toEqual(['fn', 'fn', 'pair'].sort());

    const launched = await yard.execute({ fn: () => 'later', name: 'later' }, { wait: false });
    expect(launched.status).toBe('queued');
    expect((await yard.tasks.wait(launched.id)).status).toBe('succeeded');
    expect((await recorded(yard, 'fire-and-forget')).map((r) => r.id)).toEqual([launched.id]);
  });

  it('names a function task by its function', async () => {
    const yard = await openYard({ store: 'memory:' });
    const result = await yard.execute({
      fn: function answer() {
        return 42;
      },
    });
    expect(result.value).toBe(42);
    expect((await recorded(yard, 'simple'))[0]?.name).toBe('answer');
  });

  it('uses hints.pattern when given', async () => {
    const yard = await openYard({ store: 'memory:' });
    const one = await yard.execute({ fn: () => 'x' }, { pattern: 'concurrent' });
    expect(one.pattern).toBe('concurrent');
    const long = yard.execute({ fn: () => 'y' }, { pattern: 'long-running' });
    expect((await long.result).value).toBe('y');
    const record = await yard.execute({ fn: () => 'z' }, { pattern: 'fire-and-forget' });
    await yard.tasks.wait(record.id);
    const byDuration = yard.execute({ fn: () => 0 }, { expectedDurationMs: 120_000 });
    expect('result' in byDuration).toBe(true);
    for (const pattern of ['concurrent', 'long-running', 'fire-and-forget'] as const) {
      expect((await recorded(yard, pattern)).length).toBeGreaterThan(0);
    }
    expect(await recorded(yard, 'long-running')).toHaveLength(2);
  });

  it('refuses each hint the pattern cannot honour, naming it', async () => {
    const yard = await openYard({ store: 'memory:' });
    const command = node('exit-with.js', '0');
    const cases: [unknown, Record<string, unknown>, string][] = [
      [command, { everyMs: 1000, pattern: 'simple' }, 'everyMs'],
      [command, { cron: '* * * * *', pattern: 'long-running' }, 'cron'],
      [command, { pattern: 'pooled' }, 'pattern'],
      [{ fn: () => 1 }, { pattern: 'pooled' }, 'pattern'],
      [[command, command], { pattern: 'simple' }, 'pattern'],
      [[command, command], { wait: false }, 'wait'],
      [[command, command], { everyMs: 10 }, 'everyMs'],
      [command, { wait: false, pattern: 'long-running' }, 'wait'],
      [command, { wait: false, streaming: true }, 'wait'],
      [command, { wait: true, pattern: 'fire-and-forget' }, 'wait'],
      [command, { streaming: true, pattern: 'simple' }, 'streaming'],
      [command, { pattern: 'periodic' }, 'everyMs'],
      [command, { everyMs: 10, cron: '* * * * *' }, 'cron'],
      [command, { everyMs: -1 }, 'everyMs'],
      [command, { pattern: 'sometimes' }, 'pattern'],
      [command, { every: 1000 }, 'hints.every'],
      [command, { stream: true }, 'hints.stream'],
    ];
    for (const [task, hints, field] of cases) {
      expect(() => yard.execute(task as TaskSpec, hints as never), JSON.stringify(hints)).toThrow(
        invalidNaming(field),
      );
    }
    expect(await yard.store.list()).toEqual({ runs: [] });
  });

  it('runs a { pool } task on a named pool and records it as pooled', async () => {
    const yard = await openYard({ store: 'memory:' });
    const pool = yard.pools.node('workers', {
      handler: './handlers.mjs#pid',
      cwd: poolDir,
      size: 1,
    });
    expect(yard.pools.get('workers')).toBe(pool);
    expect(() =>
      yard.pools.node('workers', { handler: './handlers.mjs#echo', cwd: poolDir }),
    ).toThrow(invalidNaming('name'));
    const answer = (await yard.execute({ pool: 'workers', payload: 'hello' })) as {
      pid: number;
      payload: string;
    };
    expect(answer.payload).toBe('hello');
    const runs = await recorded(yard, 'pooled');
    expect(runs).toEqual([expect.objectContaining({ name: 'workers', status: 'succeeded' })]);
    // A pool task not waited for runs on the pool all the same.
    const launched = await yard.execute({ pool: 'workers', payload: 'later' }, { wait: false });
    expect((await yard.tasks.wait(launched.id)).status).toBe('succeeded');
    await expect(yard.execute({ pool: 'nowhere', payload: 1 })).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    await yard.close();
    await waitUntilDead([answer.pid]);
  });

  it('schedules an everyMs task that fires at least twice, recorded as periodic', async () => {
    const yard = await openYard({ store: 'memory:' });
    let ended = 0;
    const twice = new Promise<void>((resolve) => {
      yard.scheduler.on('end', ({ schedule }) => {
        if (schedule === 'tick' && ++ended === 2) resolve();
      });
    });
    const schedule = yard.execute({ fn: () => 'tick' }, { everyMs: 20, name: 'tick' });
    expect(schedule.name).toBe('tick');
    await twice;
    const runs = await recorded(yard, 'periodic');
    expect(runs.filter((r) => r.status === 'succeeded').length).toBeGreaterThanOrEqual(2);
  });
});
