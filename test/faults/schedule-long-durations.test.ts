// Schedules with durations of 2^31 ms (~24.8 days) or more, which Node's own timers clamp to
// 1 ms: none may fire, time out or cancel at once, and the timer loop may not spin.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { maxTimerDelayMs } from '../../src/core/timers.js';
import type { RunRecord } from '../../src/core/types.js';
import { schedulerDefaults } from '../../src/schedules/schedule-options.js';
import { Scheduler } from '../../src/schedules/scheduler.js';

const DAY = 86_400_000;
/** Far past Node's limit. */
const LONG = 30 * DAY;
/** A wait 100 times the 1 ms that a clamped timer takes, and nothing against 30 days. */
const LOPSIDED_MS = 100;

/** A clock the test moves by hand, counting how often it is read. */
function fakeClock(start: number): Clock & { advance(ms: number): void; reads: number } {
  let now = start;
  const clock = {
    reads: 0,
    now() {
      clock.reads++;
      return now;
    },
    advance(ms: number) {
      now += ms;
    },
  };
  return clock;
}

const stoppers: Scheduler[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const scheduler of stoppers.splice(0)) await scheduler.stop({ graceMs: 0 });
});

function scheduler(options: ConstructorParameters<typeof Scheduler>[0]): Scheduler {
  const made = new Scheduler(options);
  stoppers.push(made);
  return made;
}

/** The delays handed to `setTimeout` while `fn` runs. */
function timerDelays(fn: () => void): number[] {
  const spy = vi.spyOn(globalThis, 'setTimeout');
  try {
    fn();
    return spy.mock.calls.map((call) => Number(call[1] ?? 0));
  } finally {
    spy.mockRestore();
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A task that runs until the test ends it, and says whether its signal was aborted. */
function heldTask() {
  let finish!: () => void;
  const state = { started: false, aborted: false };
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    state,
    finish,
    task: {
      fn: async ({ signal }: { signal: AbortSignal }) => {
        state.started = true;
        signal.addEventListener('abort', () => {
          state.aborted = true;
          finish();
        });
        await done;
      },
    },
  };
}

function nextEnd(s: Scheduler): Promise<RunRecord> {
  return new Promise((resolve) => {
    const off = s.on('end', ({ run }) => {
      off();
      resolve(run);
    });
  });
}

describe('durations past 2^31 ms', () => {
  it('the timer loop sleeps at most maxSleepMs (30 s by default) before it reads the clock', () => {
    // February: `0 0 1 1 *` is ten months away, `everyMs` 30 days.
    const clock = fakeClock(Date.UTC(2026, 1, 10));
    const s = scheduler({ clock });
    const delays = timerDelays(() => {
      s.add('yearly', { cron: '0 0 1 1 *', timezone: 'UTC' }, { fn: () => {} });
      s.add('monthly', { everyMs: LONG }, { fn: () => {} });
    });
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(schedulerDefaults.maxSleepMs);
    expect(s.get('yearly')!.nextRunAt?.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(s.get('monthly')!.nextRunAt?.getTime()).toBe(Date.UTC(2026, 1, 10) + LONG);
  });

  it('a maxSleepMs past 2^31 ms does not make the loop spin or warn', async () => {
    const clock = fakeClock(Date.UTC(2026, 1, 10));
    const s = scheduler({ clock, maxSleepMs: 40 * DAY });
    const fired: unknown[] = [];
    s.on('fire', (payload) => fired.push(payload));
    const delays = timerDelays(() => {
      s.add('monthly', { everyMs: LONG }, { fn: () => {} });
      s.add('yearly', { cron: '0 0 1 1 *', timezone: 'UTC' }, { fn: () => {} });
    });
    // Node would clamp a longer delay to 1 ms and print a TimeoutOverflowWarning.
    expect(Math.max(...delays)).toBeLessThanOrEqual(maxTimerDelayMs);
    const readsBefore = clock.reads;
    await pause(LOPSIDED_MS);
    // A clamped timer wakes every millisecond and reads the clock each time.
    expect(clock.reads - readsBefore).toBeLessThan(10);
    expect(fired).toEqual([]);
    expect(s.get('monthly')!.nextRunAt?.getTime()).toBe(Date.UTC(2026, 1, 10) + LONG);
  });

  it('a stop grace of 30 days lets a running firing end by itself', async () => {
    const clock = fakeClock(Date.UTC(2026, 0, 1));
    const s = scheduler({ clock, maxSleepMs: 1 });
    const held = heldTask();
    s.add('held', { everyMs: 1000 }, held.task);
    const fired = new Promise((resolve) => s.on('fire', resolve));
    const ended = nextEnd(s);
    clock.advance(1000);
    await fired;
    const stopped = s.stop({ graceMs: LONG });
    await pause(LOPSIDED_MS);
    expect(held.state.aborted).toBe(false);
    held.finish();
    expect((await ended).status).toBe('succeeded');
    await stopped;
  });

  it('a timeoutMs of 30 days does not end a firing at once', async () => {
    const clock = fakeClock(Date.UTC(2026, 0, 1));
    const s = scheduler({ clock, maxSleepMs: 1 });
    const held = heldTask();
    const schedule = s.add('slow', { everyMs: DAY }, held.task, { timeoutMs: LONG });
    const ended = nextEnd(s);
    await schedule.trigger();
    await pause(LOPSIDED_MS);
    expect(held.state).toEqual({ started: true, aborted: false });
    held.finish();
    expect((await ended).status).toBe('succeeded');
  });

  it('a jitter of 40 days delays the firing by up to 40 days, not to now', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const start = Date.UTC(2026, 0, 1);
    const clock = fakeClock(start);
    const s = scheduler({ clock, maxSleepMs: 1 });
    const fires: (Date | undefined)[] = [];
    s.on('fire', ({ dueAt }) => fires.push(dueAt));
    const schedule = s.add('late', { everyMs: 1000 }, { fn: () => {} }, { jitterMs: 40 * DAY });
    expect(schedule.nextRunAt?.getTime()).toBe(start + 1000 + 20 * DAY);
    clock.advance(2000);
    await pause(LOPSIDED_MS);
    expect(fires).toEqual([]);
    const fired = new Promise((resolve) => s.on('fire', resolve));
    clock.advance(20 * DAY);
    await fired;
    expect(fires.map((due) => due?.getTime())).toEqual([start + 1000]);
  });
});
