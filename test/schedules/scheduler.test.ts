import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { isRunyardError } from '../../src/core/errors.js';
import type { RunRecord, TaskContext } from '../../src/core/types.js';
import { Scheduler } from '../../src/schedules/scheduler.js';
import type {
  SchedulerEventName,
  SchedulerEvents,
} from '../../src/schedules/scheduler-listeners.js';
import { waitUntilDead } from '../helpers/processes.js';

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);
const node = process.execPath;

/** A clock the test moves by hand; the scheduler's timer wakes every millisecond to read it. */
function fakeClock(start = Date.UTC(2026, 0, 1)): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const stoppers: Scheduler[] = [];
afterEach(async () => {
  for (const scheduler of stoppers.splice(0)) await scheduler.stop({ graceMs: 0 });
});

function scheduler(options: ConstructorParameters<typeof Scheduler>[0] = {}): Scheduler {
  const made = new Scheduler(options);
  stoppers.push(made);
  return made;
}

/** Every payload of `event`, as it comes. */
function record<E extends SchedulerEventName>(s: Scheduler, event: E): SchedulerEvents[E][] {
  const seen: SchedulerEvents[E][] = [];
  s.on(event, (payload) => seen.push(payload));
  return seen;
}

/** Resolves with the `count`-th payload of `event` from now on. */
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

function expectRunyardError(error: unknown, code: string, text?: string) {
  expect(isRunyardError(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  if (text !== undefined) expect((error as Error).message).toContain(text);
}

function catching(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('Scheduler with the real clock', () => {
  it('fires an everyMs schedule on its grid, from the clock, whatever each run took', async () => {
    const s = scheduler();
    const fires = record(s, 'fire');
    let calls = 0;
    const third = nth(s, 'end', 3);
    const schedule = s.add(
      'tick',
      { everyMs: 50 },
      {
        fn: async () => {
          calls++;
          // The first run takes longer than the interval's half; the grid does not move.
          if (calls === 1) await new Promise((r) => setTimeout(r, 30));
        },
      },
    );
    const first = schedule.nextRunAt!.getTime();
    await third;
    expect(fires.map((f) => f.dueAt!.getTime() - first)).toEqual([0, 50, 100]);
    for (const fire of fires) {
      expect(fire.reason).toBe('scheduled');
      expect(fire.run).toMatchObject({ pattern: 'periodic', parentId: 'schedule.tick' });
      expect(fire.run.labels).toMatchObject({ schedule: 'tick', firing: 'scheduled' });
    }
    expect(schedule.lastRun).toMatchObject({ status: 'succeeded', name: 'tick' });
    expect(schedule.runs).toBeGreaterThanOrEqual(3);
    expect(schedule.missed).toBe(0);
  });

  it('fires a per-second cron on the second', async () => {
    const s = scheduler();
    const schedule = s.add(
      'every-second',
      { cron: '* * * * * *', timezone: 'UTC' },
      { fn: () => {} },
    );
    const fire = await nth(s, 'fire');
    expect(fire.dueAt!.getTime() % 1000).toBe(0);
    expect(Date.parse(fire.run.createdAt)).toBeGreaterThanOrEqual(fire.dueAt!.getTime());
    expect(schedule.timezone).toBe('UTC');
    expect(schedule.nextRunAt!.getTime() % 1000).toBe(0);
  });

  it('stop() cancels a running firing after the grace and leaves no process', async () => {
    const s = new Scheduler();
    const schedule = s.add(
      'daemon',
      { everyMs: 3_600_000 },
      {
        command: node,
        args: [fixture('forever.js')],
        killGraceMs: 100,
      },
    );
    const run = await schedule.trigger();
    expect(run.status).toBe('running');
    expect(schedule.running).toBe(1);
    const ended = nth(s, 'end');
    const stopped = s.stop({ graceMs: 50 });
    expect(s.stop({ graceMs: 1 })).toBe(stopped);
    await stopped;
    const { run: final } = await ended;
    expect(final.status).toBe('cancelled');
    expect(final.pid).toBeGreaterThan(0);
    await waitUntilDead([final.pid!]);
    expect(schedule.running).toBe(0);
    expect(schedule.nextRunAt).toBeNull();
    await expect(schedule.trigger()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    expectRunyardError(
      catching(() => s.add('late', { everyMs: 10 }, { fn: () => {} })),
      'ERR_CLOSED',
    );
  });

  it('stopping a scheduler with nothing scheduled, twice, is harmless', async () => {
    const s = new Scheduler();
    const first = s.stop();
    expect(s.stop()).toBe(first);
    await first;
    expect(s.list()).toEqual([]);
  });

  it('stop() lets a firing end within the grace', async () => {
    const s = new Scheduler();
    const release = deferred();
    const schedule = s.add('job', { everyMs: 3_600_000 }, { fn: () => release.promise });
    await schedule.trigger();
    const stopped = s.stop({ graceMs: 60_000 });
    release.resolve();
    await stopped;
    expect(schedule.lastRun?.status).toBe('succeeded');
  });

  it('an idle scheduler does not hold the process open; a stopped one leaves no timer', async () => {
    const child = spawn(node, [fixture('scheduler-idle.mjs')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    const [code] = await once(child, 'close');
    clearTimeout(killer);
    expect(out).toBe('added\nstopped, timers: 0\n');
    expect(code).toBe(0);
  });
});

describe('Scheduler with an injected clock', () => {
  it('runs at least twice over 3.5 intervals, passing the task its context each time', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const calls: TaskContext[] = [];
    const schedule = s.add('twice', { everyMs: 1000 }, { fn: (ctx) => calls.push(ctx) });
    const start = clock.now();
    expect(schedule.nextRunAt?.getTime()).toBe(start + 1000);
    for (let n = 1; n <= 3; n++) {
      const fired = nth(s, 'fire');
      clock.advance(1000);
      expect((await fired).dueAt?.getTime()).toBe(start + n * 1000);
    }
    clock.advance(500);
    expect(calls.length).toBe(3);
    expect(new Set(calls.map((ctx) => ctx.runId)).size).toBe(3);
    expect(schedule.nextRunAt?.getTime()).toBe(start + 4000);
  });

  it('a clock that jumps past several firings runs one and counts the rest as missed', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const start = clock.now();
    const schedule = s.add('jumpy', { everyMs: 1000 }, { fn: () => {} });
    const missed = nth(s, 'missed');
    const fired = nth(s, 'fire');
    clock.advance(5500);
    expect(await missed).toMatchObject({ count: 4, capped: false });
    expect((await missed).since.getTime()).toBe(start + 1000);
    expect((await fired).dueAt?.getTime()).toBe(start + 5000);
    expect(schedule.missed).toBe(4);
    expect(schedule.nextRunAt?.getTime()).toBe(start + 6000);
  });

  it('a clock stepped back plans again from the new time', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const schedule = s.add('back', { cron: '0 * * * * *', timezone: 'UTC' }, { fn: () => {} });
    const before = schedule.nextRunAt!.getTime();
    clock.advance(-3_600_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(schedule.nextRunAt!.getTime()).toBe(before - 3_600_000);
  });

  it('a throwing or failing task never stops the schedule', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const schedule = s.add(
      'broken',
      { everyMs: 1000 },
      {
        fn: () => {
          throw new Error('disk full');
        },
      },
    );
    for (let n = 1; n <= 3; n++) {
      const ended = nth(s, 'end');
      clock.advance(1000);
      const { run } = await ended;
      expect(run).toMatchObject({
        status: 'failed',
        error: { message: expect.stringContaining('disk full') },
      });
    }
    expect(schedule.failures).toBe(3);
    expect(schedule.lastRun?.status).toBe('failed');
    expect(schedule.nextRunAt).not.toBeNull();
    schedule.remove();
    // A program that exits non-zero, likewise.
    const exits = s.add(
      'exit-3',
      { everyMs: 1000 },
      { command: node, args: [fixture('exit-with.js'), '3'] },
    );
    const ended = nth(s, 'end');
    clock.advance(1000);
    expect((await ended).run).toMatchObject({ name: 'exit-3', status: 'failed', exitCode: 3 });
    expect(exits.nextRunAt).not.toBeNull();
  });

  it("overlap 'skip' drops a firing while the previous run goes on, and says so", async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const release = deferred();
    let running = 0;
    let peak = 0;
    const schedule = s.add(
      'slow',
      { everyMs: 1000 },
      {
        fn: async () => {
          peak = Math.max(peak, ++running);
          await release.promise;
          running--;
        },
      },
    );
    const started = nth(s, 'fire');
    clock.advance(1000);
    await started;
    const skip = nth(s, 'skip');
    clock.advance(1000);
    expect(await skip).toMatchObject({ schedule: 'slow', reason: 'scheduled', skipped: 1 });
    expect((await skip).dueAt?.getTime()).toBe(clock.now());
    await expect(schedule.trigger()).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
    expect(schedule.skipped).toBe(2);
    const ended = nth(s, 'end');
    release.resolve();
    await ended;
    const next = nth(s, 'fire');
    clock.advance(1000);
    await next;
    expect(peak).toBe(1);
  });

  it("overlap 'queue' keeps at most one firing waiting", async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const gates = [deferred(), deferred()];
    let calls = 0;
    let running = 0;
    let peak = 0;
    const schedule = s.add(
      'queued',
      { everyMs: 1000 },
      {
        fn: async () => {
          const gate = gates[calls++];
          peak = Math.max(peak, ++running);
          await gate?.promise;
          running--;
        },
      },
      { overlap: 'queue' },
    );
    const fires = record(s, 'fire');
    const first = nth(s, 'fire');
    clock.advance(1000);
    await first;
    // Two more come due: one waits, the other is dropped.
    const skip = nth(s, 'skip');
    clock.advance(1000);
    await new Promise((r) => setTimeout(r, 5));
    clock.advance(1000);
    await skip;
    expect(schedule.skipped).toBe(1);
    expect(fires.length).toBe(1);
    const second = nth(s, 'fire');
    gates[0]!.resolve();
    expect((await second).dueAt?.getTime()).toBe(fires[0]!.dueAt!.getTime() + 1000);
    gates[1]!.resolve();
    await nth(s, 'end');
    expect(peak).toBe(1);
  });

  it("overlap 'allow' runs firings side by side", async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const release = deferred();
    let running = 0;
    let peak = 0;
    const schedule = s.add(
      'parallel',
      { everyMs: 1000 },
      {
        fn: async () => {
          peak = Math.max(peak, ++running);
          await release.promise;
          running--;
        },
      },
      { overlap: 'allow' },
    );
    const second = nth(s, 'fire', 2);
    clock.advance(1000);
    await new Promise((r) => setTimeout(r, 5));
    clock.advance(1000);
    await second;
    expect(schedule.running).toBe(2);
    await schedule.trigger();
    expect(peak).toBe(3);
    release.resolve();
    await nth(s, 'end', 3);
    expect(schedule.skipped).toBe(0);
  });

  it("overlap 'cancel-previous' cancels the running firing, then starts the new one", async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    let running = 0;
    let peak = 0;
    s.add(
      'latest-wins',
      { everyMs: 1000 },
      {
        fn: (ctx) =>
          new Promise<void>((resolve) => {
            peak = Math.max(peak, ++running);
            ctx.signal.addEventListener('abort', () => {
              running--;
              resolve();
            });
          }),
      },
      { overlap: 'cancel-previous' },
    );
    const first = nth(s, 'fire');
    clock.advance(1000);
    const firstRun = (await first).run;
    const ended = nth(s, 'end');
    const second = nth(s, 'fire');
    clock.advance(1000);
    expect((await ended).run).toMatchObject({ id: firstRun.id, status: 'cancelled' });
    expect((await second).run.id).not.toBe(firstRun.id);
    expect(peak).toBe(1);
  });

  it('pause, resume and trigger', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const fires = record(s, 'fire');
    const start = clock.now();
    const schedule = s.add('pausable', { everyMs: 1000 }, { fn: () => {} });
    schedule.pause();
    expect(schedule.paused).toBe(true);
    expect(schedule.nextRunAt).toBeNull();
    clock.advance(3500);
    await new Promise((r) => setTimeout(r, 20));
    expect(fires).toEqual([]);
    // trigger() runs now, paused or not, and is not counted as a scheduled run.
    const run = await schedule.trigger();
    expect(run).toMatchObject({
      pattern: 'periodic',
      parentId: schedule.id,
      labels: { firing: 'manual' },
    });
    expect(run.labels?.due).toBeUndefined();
    expect(fires.map((f) => f.reason)).toEqual(['manual']);
    expect(schedule.runs).toBe(0);
    schedule.resume();
    expect(schedule.paused).toBe(false);
    // The grid resumes: no firing for the paused time, the next one on the grid.
    expect(schedule.nextRunAt?.getTime()).toBe(start + 4000);
    const next = nth(s, 'fire');
    clock.advance(500);
    expect((await next).dueAt?.getTime()).toBe(start + 4000);
    expect(schedule.missed).toBe(0);
  });

  it('maxRuns, runOnStart and remove', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const fires = record(s, 'fire');
    const schedule = s.add(
      'twice-only',
      { everyMs: 1000 },
      { fn: () => {} },
      { maxRuns: 2, runOnStart: true },
    );
    await nth(s, 'end');
    expect(fires.map((f) => f.reason)).toEqual(['start']);
    const second = nth(s, 'end');
    clock.advance(1000);
    await second;
    expect(schedule.runs).toBe(2);
    expect(schedule.nextRunAt).toBeNull();
    clock.advance(5000);
    await new Promise((r) => setTimeout(r, 20));
    expect(fires.length).toBe(2);

    schedule.remove();
    expect(s.get('twice-only')).toBeUndefined();
    expect(s.list()).toEqual([]);
    await expect(schedule.trigger()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    // The name is free again.
    expect(s.add('twice-only', { everyMs: 1000 }, { fn: () => {} }).name).toBe('twice-only');
  });

  it('jitterMs delays firings, never the grid', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const start = clock.now();
    const schedule = s.add('jittery', { everyMs: 1000 }, { fn: () => {} }, { jitterMs: 400 });
    const at = schedule.nextRunAt!.getTime();
    expect(at).toBeGreaterThanOrEqual(start + 1000);
    expect(at).toBeLessThan(start + 1400);
    const fired = nth(s, 'fire');
    clock.advance(1400);
    expect((await fired).dueAt?.getTime()).toBe(start + 1000);
    const next = schedule.nextRunAt!.getTime();
    expect(next).toBeGreaterThanOrEqual(start + 2000);
    expect(next).toBeLessThan(start + 2400);
  });

  it('timeoutMs ends a run as timed_out; retries try again with backoff', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    s.add(
      'stuck',
      { everyMs: 1000 },
      { fn: (ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)) },
      { timeoutMs: 20 },
    );
    let tries = 0;
    s.add(
      'flaky',
      { everyMs: 1000 },
      {
        fn: () => {
          if (++tries === 1) throw new Error('first try fails');
          return 'ok';
        },
      },
      { retries: { attempts: 3, backoffMs: 1 } },
    );
    const ends: RunRecord[] = [];
    const both = new Promise<void>((resolve) => {
      s.on('end', ({ run }) => {
        ends.push(run);
        if (ends.length === 2) resolve();
      });
    });
    clock.advance(1000);
    await both;
    const byName = Object.fromEntries(ends.map((run) => [run.name, run]));
    expect(byName.stuck).toMatchObject({ status: 'timed_out', error: { code: 'ERR_TIMEOUT' } });
    expect(byName.flaky).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect(tries).toBe(2);
  });

  it('refuses bad schedules with ERR_INVALID naming the field', () => {
    const s = scheduler();
    const task = { fn: () => {} };
    s.add('taken', { everyMs: 1000 }, task);
    const cases: [() => unknown, string][] = [
      [() => s.add('taken', { everyMs: 1000 }, task), 'name'],
      [() => s.add('', { everyMs: 1000 }, task), 'name'],
      [() => s.add('zero', { everyMs: 0 }, task), 'everyMs'],
      [() => s.add('negative', { everyMs: -5 }, task), 'everyMs'],
      [() => s.add('nan', { everyMs: Number.NaN }, task), 'everyMs'],
      [() => s.add('bad-cron', { cron: '* * 32 * *' }, task), 'cron'],
      [() => s.add('never', { cron: '0 0 0 30 2 *' }, task), 'cron'],
      [
        () => s.add('bad-zone', { cron: '* * * * *', timezone: 'Nowhere/Special' }, task),
        'timezone',
      ],
      [() => s.add('both', { everyMs: 5, cron: '* * * * *' } as never, task), 'trigger'],
      [() => s.add('no-task', { everyMs: 5 }, {} as never), 'task'],
      [() => s.add('pool', { everyMs: 5 }, { pool: 'p', payload: 1 }), 'task'],
      [() => s.add('overlap', { everyMs: 5 }, task, { overlap: 'sometimes' as never }), 'overlap'],
      [() => s.add('catch', { everyMs: 5 }, task, { catchUp: 'all' as never }), 'catchUp'],
      [() => s.add('jitter', { everyMs: 5 }, task, { jitterMs: -1 }), 'jitterMs'],
      [() => s.add('runs', { everyMs: 5 }, task, { maxRuns: 0 }), 'maxRuns'],
      [
        () => s.add('retry', { everyMs: 5 }, task, { retries: { attempts: 0 } }),
        'retries.attempts',
      ],
      [() => new Scheduler({ maxSleepMs: 0 }), 'maxSleepMs'],
    ];
    for (const [fn, field] of cases)
      expectRunyardError(catching(fn), 'ERR_INVALID', `\`${field}\``);
    expect(s.list().map((schedule) => schedule.name)).toEqual(['taken']);
  });

  it('refuses unknown keys in options, triggers and retries, naming the near one', () => {
    const s = scheduler();
    const task = { fn: () => {} };
    const cases: [() => unknown, string][] = [
      [
        () => s.add('a', { everyMS: 1000 } as never, task),
        '`trigger.everyMS`: did you mean `everyMs`?',
      ],
      [
        () => s.add('b', { cron: '0 * * * *', timeZone: 'UTC' } as never, task),
        '`trigger.timeZone`: did you mean `timezone`?',
      ],
      [
        () => s.add('c', { everyMs: 1000 }, task, { timeout: 5 } as never),
        '`timeout`: did you mean `timeoutMs`?',
      ],
      [
        () => s.add('d', { everyMs: 1000 }, task, { jitter: 5 } as never),
        '`jitter`: did you mean `jitterMs`?',
      ],
      [
        () => s.add('e', { everyMs: 1000 }, task, { retries: { attempt: 3 } } as never),
        '`retries.attempt`: did you mean `attempts`?',
      ],
      [() => new Scheduler({ maxSleep: 5 } as never), '`maxSleep`: did you mean `maxSleepMs`?'],
      [() => new Scheduler({ keepalive: true } as never), 'did you mean `keepAlive`?'],
    ];
    for (const [fn, text] of cases) expectRunyardError(catching(fn), 'ERR_INVALID', text);
    expect(s.list()).toEqual([]);
    expectRunyardError(
      catching(() => s.stop({ grace: 5 } as never)),
      'ERR_INVALID',
      '`grace`: did you mean `graceMs`?',
    );
  });

  it('a `?` day field is "no specific value": a weekly cron stays weekly', () => {
    // 2026-01-01 is a Thursday; the next Wednesday is the 7th.
    const s = scheduler({ clock: fakeClock(Date.UTC(2026, 0, 1, 12)) });
    const weekly = s.add('weekly', { cron: '10 2 ? * 3', timezone: 'UTC' }, { fn: () => {} });
    expect(weekly.nextRunAt?.toISOString()).toBe('2026-01-07T02:10:00.000Z');
    expect(weekly.cron).toBe('10 2 ? * 3');
    expectRunyardError(
      catching(() => s.add('hash', { cron: '0 0 * * 1#' }, { fn: () => {} })),
      'ERR_INVALID',
      '`<weekday>#<1-5>`',
    );
  });

  it('a listener that throws is logged and changes nothing', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      s.on('fire', () => {
        throw new Error('listener bug');
      });
      const schedule = s.add('safe', { everyMs: 1000 }, { fn: () => {} });
      const ended = nth(s, 'end');
      clock.advance(1000);
      expect((await ended).run.status).toBe('succeeded');
      expect(schedule.failures).toBe(0);
      expect(errors.length).toBe(1);
    } finally {
      console.error = original;
    }
  });

  it('lists schedules and shows them as JSON', () => {
    const clock = fakeClock(Date.UTC(2026, 0, 1, 12, 0, 0));
    const s = scheduler({ clock });
    s.add('a', { everyMs: 60_000 }, { fn: () => {} });
    s.add('b c/d', { cron: '0 0 * * *', timezone: 'Europe/London' }, { fn: () => {} });
    expect(s.list().map((schedule) => schedule.toJSON())).toEqual([
      expect.objectContaining({
        name: 'a',
        id: 'schedule.a',
        trigger: { everyMs: 60_000 },
        nextRunAt: '2026-01-01T12:01:00.000Z',
        missed: 0,
        skipped: 0,
        paused: false,
      }),
      expect.objectContaining({
        name: 'b c/d',
        trigger: { cron: '0 0 * * *', timezone: 'Europe/London' },
        nextRunAt: '2026-01-02T00:00:00.000Z',
      }),
    ]);
    // The id passes the store's id rules and tells names apart.
    expect(s.get('b c/d')!.id).toMatch(/^schedule\.b-c-d\.[0-9a-f]{10}$/);
  });
});

describe('Scheduler and processes', () => {
  it('a scheduled program gets its arguments each time', async () => {
    const clock = fakeClock();
    const s = scheduler({ clock, maxSleepMs: 1 });
    s.add('printer', { everyMs: 1000 }, { command: node, args: [fixture('print-lines.js'), '2'] });
    const ends: RunRecord[] = [];
    for (let n = 0; n < 2; n++) {
      const ended = nth(s, 'end');
      clock.advance(1000);
      ends.push((await ended).run);
    }
    for (const run of ends) {
      expect(run).toMatchObject({ status: 'succeeded', exitCode: 0, output: { lines: 2 } });
      expect(run.args).toEqual([fixture('print-lines.js'), '2']);
    }
  });

  it('leaves no child behind when stopped with await using', async () => {
    let pid: number | undefined;
    {
      await using s = new Scheduler();
      const schedule = s.add(
        'forever',
        { everyMs: 3_600_000 },
        {
          command: node,
          args: [fixture('forever.js')],
          killGraceMs: 50,
        },
      );
      const run = await schedule.trigger();
      pid = run.pid;
      expect(pid).toBeGreaterThan(0);
    }
    await waitUntilDead([pid!]);
  });
});
