import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { newRunId } from '../../src/core/ids.js';
import type { RunRecord } from '../../src/core/types.js';
import { Executor } from '../../src/executor/executor.js';
import { CronTimes } from '../../src/schedules/schedule-time.js';
import { Scheduler } from '../../src/schedules/scheduler.js';
import type {
  SchedulerEventName,
  SchedulerEvents,
} from '../../src/schedules/scheduler-listeners.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { RunStore } from '../../src/store/run-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { TaskManager } from '../../src/tasks/task-manager.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-schedules-'));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await rm(dir, { recursive: true, force: true });
});

function managerOn(store: RunStore): TaskManager {
  const manager = new TaskManager({
    store,
    executor: new Executor({ concurrency: 4, resources: false }),
    logDir: join(dir, 'logs'),
    pollMs: 50,
  });
  cleanup.push(() => manager.shutdown({ graceMs: 0 }));
  return manager;
}

function sqlite(): SqliteStore {
  const store = new SqliteStore({ path: join(dir, 'runyard.db') });
  cleanup.push(() => store.close());
  return store;
}

function schedulerWith(options: ConstructorParameters<typeof Scheduler>[0]): Scheduler {
  const scheduler = new Scheduler(options);
  // Stopped before the manager shuts down and the store closes (cleanup runs in reverse).
  cleanup.push(() => scheduler.stop({ graceMs: 0 }));
  return scheduler;
}

function fakeClock(start = Date.now()): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}

function nth<E extends SchedulerEventName>(
  s: Scheduler,
  event: E,
  count = 1,
): Promise<SchedulerEvents[E]> {
  return new Promise((resolve) => {
    let seen = 0;
    const off = s.on(event, (payload) => {
      if (++seen < count) return;
      off();
      resolve(payload);
    });
  });
}

/** A finished run of a schedule, as an earlier process would have left it. */
function pastFiring(
  parentId: string,
  createdMs: number,
  labels?: Record<string, string>,
): RunRecord {
  const createdAt = new Date(createdMs).toISOString();
  return {
    id: newRunId(createdMs),
    name: parentId.replace(/^schedule\./, ''),
    pattern: 'periodic',
    status: 'succeeded',
    attempt: 1,
    parentId,
    ...(labels && { labels }),
    createdAt,
    startedAt: createdAt,
    finishedAt: createdAt,
    durationMs: 0,
    output: { lines: 0, bytes: 0, truncated: false },
  };
}

describe('Scheduler with a TaskManager', () => {
  it('every firing is a run in the store, with its output in its log file', async () => {
    const store = sqlite();
    const manager = managerOn(store);
    const clock = fakeClock();
    const scheduler = schedulerWith({ manager, clock, maxSleepMs: 1 });
    const schedule = scheduler.add(
      'report',
      { everyMs: 60_000 },
      {
        fn: (ctx) => ctx.log('report written'),
      },
    );
    expect(schedule.nextRunAt?.getTime()).toBe(clock.now() + 60_000);
    // The schedule looks for history first: a firing due meanwhile runs after the look.
    const ended = nth(scheduler, 'end');
    clock.advance(60_000);
    const { run } = await ended;
    expect(run).toMatchObject({
      name: 'report',
      status: 'succeeded',
      parentId: 'schedule.report',
      labels: { schedule: 'report', firing: 'scheduled' },
    });
    expect(run.labels?.due).toBe(new Date(clock.now()).toISOString());
    const stored = await store.get(run.id);
    expect(stored).toMatchObject({ status: 'succeeded', parentId: schedule.id });
    const { runs } = await store.list({ parentId: schedule.id });
    expect(runs.map((r) => r.id)).toEqual([run.id]);
    expect(await readFile(join(dir, 'logs', `${run.id}.log`), 'utf8')).toContain('report written');
    expect(schedule.lastRun).toMatchObject({ id: run.id, status: 'succeeded' });
  });

  it('records the runs with pattern periodic', async () => {
    const store = new MemoryStore();
    const manager = managerOn(store);
    const scheduler = schedulerWith({ manager });
    const schedule = scheduler.add('kind', { everyMs: 3_600_000 }, { fn: () => {} });
    const run = await schedule.trigger();
    expect(run.pattern).toBe('periodic');
    expect((await manager.wait(run.id)).pattern).toBe('periodic');
  });

  it('retries a failed firing with backoff through the manager', async () => {
    const store = new MemoryStore();
    const manager = managerOn(store);
    const scheduler = schedulerWith({ manager });
    let tries = 0;
    const schedule = scheduler.add(
      'flaky',
      { everyMs: 3_600_000 },
      {
        fn: () => {
          if (++tries < 3) throw new Error(`try ${tries} failed`);
        },
      },
      { retries: { attempts: 3, backoffMs: 5 } },
    );
    const ended = nth(scheduler, 'end');
    await schedule.trigger();
    expect((await ended).run).toMatchObject({ status: 'succeeded', attempt: 3 });
    expect(schedule.failures).toBe(0);
  });

  it('catches up once after downtime and reports the missed firings (SqliteStore)', async () => {
    const path = join(dir, 'runyard.db');
    const now = Date.now();
    // An earlier process fired `sync` every minute, then went down 10.5 minutes ago.
    const before = new SqliteStore({ path });
    const lastDue = now - 10.5 * 60_000;
    await before.create(pastFiring('schedule.sync', lastDue - 100, { firing: 'manual' }));
    await before.create(
      pastFiring('schedule.sync', lastDue + 3, {
        firing: 'scheduled',
        due: new Date(lastDue).toISOString(),
      }),
    );
    await before.close();

    const store = sqlite();
    const manager = managerOn(store);
    const clock = fakeClock(now);
    const scheduler = schedulerWith({ manager, clock, maxSleepMs: 1 });
    const missed = nth(scheduler, 'missed');
    const fired = nth(scheduler, 'fire');
    const schedule = scheduler.add('sync', { everyMs: 60_000 }, { fn: () => {} });
    expect(await missed).toMatchObject({ schedule: 'sync', count: 10, capped: false });
    expect((await missed).since.getTime()).toBe(lastDue + 60_000);
    const fire = await fired;
    expect(fire.reason).toBe('catch-up');
    expect(fire.dueAt?.getTime()).toBe(lastDue + 10 * 60_000);
    expect(fire.run.labels).toMatchObject({ firing: 'catch-up' });
    expect(schedule.missed).toBe(10);
    // The grid goes on from the last firing: start + n × interval.
    expect(schedule.nextRunAt?.getTime()).toBe(lastDue + 11 * 60_000);
    await manager.wait(fire.run.id);
    const { runs } = await store.list({ parentId: schedule.id });
    expect(runs.length).toBe(3);
  });

  it("catchUp 'none' runs nothing but still counts what was missed", async () => {
    const store = sqlite();
    const now = Date.now();
    // A run left by an older runyard, without labels: its creation time counts.
    await store.create(pastFiring('schedule.nightly', now - 3 * 86_400_000 - 1000));
    const manager = managerOn(store);
    const scheduler = schedulerWith({ manager, clock: fakeClock(now), maxSleepMs: 1 });
    const fires: unknown[] = [];
    scheduler.on('fire', (fire) => fires.push(fire));
    const missed = nth(scheduler, 'missed');
    const schedule = scheduler.add(
      'nightly',
      { cron: '0 0 3 * * *', timezone: 'UTC' },
      { fn: () => {} },
      { catchUp: 'none' },
    );
    const expected = new CronTimes('0 0 3 * * *', 'UTC');
    let count = 0;
    for (let t = expected.next(now - 3 * 86_400_000 - 1000)!; t <= now; t = expected.next(t)!) {
      count++;
    }
    expect((await missed).count).toBe(count);
    expect(count).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 50));
    expect(fires).toEqual([]);
    expect(schedule.missed).toBe(count);
    expect(schedule.lastRun?.parentId).toBe('schedule.nightly');
    expect(schedule.nextRunAt?.getTime()).toBe(expected.next(now));
  });

  it('a fresh schedule has nothing to catch up; runOnStart fires after the look', async () => {
    const store = new MemoryStore();
    const manager = managerOn(store);
    const scheduler = schedulerWith({ manager });
    const fired = nth(scheduler, 'fire');
    const schedule = scheduler.add(
      'fresh',
      { everyMs: 3_600_000 },
      { fn: () => {} },
      { runOnStart: true },
    );
    const fire = await fired;
    expect(fire.reason).toBe('start');
    expect(fire.run.labels?.due).toBeUndefined();
    expect(schedule.missed).toBe(0);
  });

  it('a firing that cannot start is an error event, and the schedule goes on', async () => {
    const store = new MemoryStore();
    const manager = managerOn(store);
    const clock = fakeClock();
    const scheduler = schedulerWith({ manager, clock, maxSleepMs: 1 });
    const schedule = scheduler.add('orphaned', { everyMs: 1000 }, { fn: () => {} });
    await new Promise((r) => setTimeout(r, 20));
    await manager.shutdown({ graceMs: 0 });
    const error = nth(scheduler, 'error');
    clock.advance(1000);
    expect((await error).error).toMatchObject({ code: 'ERR_CLOSED' });
    expect(schedule.failures).toBe(1);
    expect(schedule.nextRunAt).not.toBeNull();
  });

  it('stop() cancels runs of the manager after the grace', async () => {
    const store = new MemoryStore();
    const manager = managerOn(store);
    const scheduler = new Scheduler({ manager });
    const schedule = scheduler.add(
      'long',
      { everyMs: 3_600_000 },
      {
        fn: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
      },
    );
    const run = await schedule.trigger();
    const ended = nth(scheduler, 'end');
    await scheduler.stop({ graceMs: 20 });
    expect((await ended).run).toMatchObject({ id: run.id, status: 'cancelled' });
    expect((await store.get(run.id))?.status).toBe('cancelled');
  });
});
