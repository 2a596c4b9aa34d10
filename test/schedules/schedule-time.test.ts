import { Cron } from 'croner';
import { describe, expect, it } from 'vitest';
import { isRunyardError } from '../../src/core/errors.js';
import {
  CronTimes,
  firingsBetween,
  intervalTimes,
  nextIntervalRun,
  ZoneOffsets,
} from '../../src/schedules/schedule-time.js';
import { seededRandom } from '../helpers/random.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The next `count` firings after `from`, as ISO strings. */
function firings(times: { next(from: number): number | null }, from: string, count: number) {
  const out: (string | null)[] = [];
  let t: number | null = at(from);
  for (let i = 0; i < count && t !== null; i++) {
    t = times.next(t);
    out.push(iso(t));
  }
  return out;
}

function invalidField(fn: () => unknown, field: string) {
  try {
    fn();
  } catch (error) {
    expect(isRunyardError(error, 'ERR_INVALID')).toBe(true);
    expect((error as Error).message).toContain(`\`${field}\``);
    return;
  }
  throw new Error('expected ERR_INVALID');
}

describe('interval arithmetic', () => {
  it('the n-th firing is due at anchor + n × everyMs, strictly after `from`', () => {
    expect(nextIntervalRun(1000, 100, 1000)).toBe(1100);
    expect(nextIntervalRun(1000, 100, 1099)).toBe(1100);
    expect(nextIntervalRun(1000, 100, 1100)).toBe(1200);
    expect(nextIntervalRun(1000, 100, 1100.5)).toBe(1200);
    // However late the previous firing ran, the grid does not move.
    expect(nextIntervalRun(1000, 100, 1_000_000_037)).toBe(1_000_000_100);
    // Before the anchor, the first firing is still anchor + everyMs.
    expect(nextIntervalRun(1000, 100, 0)).toBe(1100);
  });

  it('does not drift over a million firings, even with a fractional interval', () => {
    const times = intervalTimes(33.3, 0);
    let t = 0;
    for (let i = 0; i < 1_000_000; i++) t = times.next(t)!;
    expect(t).toBeCloseTo(33_300_000, 3);
  });

  it('counts the firings due in a window', () => {
    expect(firingsBetween(intervalTimes(10, 0), 0, 35, 100)).toEqual({
      count: 3,
      last: 30,
      capped: false,
    });
    expect(firingsBetween(intervalTimes(10, 0), 0, 1000, 5)).toEqual({
      count: 5,
      last: 50,
      capped: true,
    });
  });
});

describe('cron arithmetic', () => {
  it('reads a seconds field, and strictly after `from`', () => {
    const times = new CronTimes('*/15 * * * * *', 'UTC');
    expect(firings(times, '2025-01-01T00:00:07Z', 3)).toEqual([
      '2025-01-01T00:00:15.000Z',
      '2025-01-01T00:00:30.000Z',
      '2025-01-01T00:00:45.000Z',
    ]);
    expect(iso(times.next(at('2025-01-01T00:00:15.000Z')))).toBe('2025-01-01T00:00:30.000Z');
    expect(iso(times.next(at('2025-01-01T00:00:14.999Z')))).toBe('2025-01-01T00:00:15.000Z');
    // Five fields: second 0.
    expect(firings(new CronTimes('*/20 * * * *', 'UTC'), '2025-01-01T00:00:00Z', 2)).toEqual([
      '2025-01-01T00:20:00.000Z',
      '2025-01-01T00:40:00.000Z',
    ]);
  });

  it('handles month ends, the last day and leap days', () => {
    expect(firings(new CronTimes('0 0 0 31 * *', 'UTC'), '2025-01-31T00:00:00Z', 3)).toEqual([
      '2025-03-31T00:00:00.000Z',
      '2025-05-31T00:00:00.000Z',
      '2025-07-31T00:00:00.000Z',
    ]);
    expect(firings(new CronTimes('0 0 0 L * *', 'UTC'), '2024-01-15T00:00:00Z', 3)).toEqual([
      '2024-01-31T00:00:00.000Z',
      '2024-02-29T00:00:00.000Z',
      '2024-03-31T00:00:00.000Z',
    ]);
    expect(firings(new CronTimes('0 12 29 2 *', 'UTC'), '2025-01-01T00:00:00Z', 2)).toEqual([
      '2028-02-29T12:00:00.000Z',
      '2032-02-29T12:00:00.000Z',
    ]);
    // 23:59:59 on the last day of the year rolls into the next year.
    expect(iso(new CronTimes('0 0 0 1 1 *', 'UTC').next(at('2025-12-31T23:59:59.500Z')))).toBe(
      '2026-01-01T00:00:00.000Z',
    );
  });

  it('reads wall-clock times in the given time zone', () => {
    // Kolkata is UTC+05:30 all year.
    expect(
      firings(new CronTimes('0 0 9 * * *', 'Asia/Kolkata'), '2025-06-01T00:00:00Z', 1),
    ).toEqual(['2025-06-01T03:30:00.000Z']);
    expect(
      firings(new CronTimes('0 0 9 * * MON-FRI', 'Europe/London'), '2025-06-06T12:00:00Z', 2),
    ).toEqual(['2025-06-09T08:00:00.000Z', '2025-06-10T08:00:00.000Z']);
    // An alias is accepted and kept in its canonical spelling.
    expect(new CronTimes('* * * * *', 'US/Eastern').timezone).toBe('America/New_York');
  });

  it('refuses a bad expression or time zone, naming the field', () => {
    invalidField(() => new CronTimes('61 * * * *', 'UTC'), 'cron');
    invalidField(() => new CronTimes('* * *', 'UTC'), 'cron');
    invalidField(() => new CronTimes('', 'UTC'), 'cron');
    invalidField(() => new CronTimes(42, 'UTC'), 'cron');
    invalidField(() => new CronTimes('* * * * *', 'Mars/Olympus_Mons'), 'timezone');
    invalidField(() => new CronTimes('* * * * *', ''), 'timezone');
  });
});

describe('cron syntax: `?` and `#`', () => {
  it('`?` in a day field means no specific value: the other day field alone chooses', () => {
    // 2025-01-01 is a Wednesday.
    expect(firings(new CronTimes('10 2 ? * 3', 'UTC'), '2025-01-01T00:00:00Z', 3)).toEqual([
      '2025-01-01T02:10:00.000Z',
      '2025-01-08T02:10:00.000Z',
      '2025-01-15T02:10:00.000Z',
    ]);
    expect(firings(new CronTimes('0 10 2 ? * WED', 'UTC'), '2025-01-02T00:00:00Z', 1)).toEqual([
      '2025-01-08T02:10:00.000Z',
    ]);
    expect(firings(new CronTimes('10 2 15 * ?', 'UTC'), '2025-01-01T00:00:00Z', 2)).toEqual([
      '2025-01-15T02:10:00.000Z',
      '2025-02-15T02:10:00.000Z',
    ]);
    expect(firings(new CronTimes('0 0 L * ?', 'UTC'), '2025-02-01T00:00:00Z', 2)).toEqual([
      '2025-02-28T00:00:00.000Z',
      '2025-03-31T00:00:00.000Z',
    ]);
    // Both `?`: no day restricted, every day.
    expect(firings(new CronTimes('0 0 ? * ?', 'UTC'), '2025-01-01T00:00:00Z', 2)).toEqual([
      '2025-01-02T00:00:00.000Z',
      '2025-01-03T00:00:00.000Z',
    ]);
    // The expression is kept as written.
    expect(new CronTimes('10 2 ? * 3', 'UTC').expression).toBe('10 2 ? * 3');
  });

  it('refuses `?` anywhere but a whole day field, naming the field', () => {
    for (const [cron, field] of [
      ['? 2 * * *', 'minute'],
      ['10 ? * * *', 'hour'],
      ['10 2 * ? *', 'month'],
      ['? 10 2 * * *', 'second'],
      ['0 10 2 * * ? ?', 'year'],
      ['10 2 1,? * *', 'day-of-month'],
      ['10 2 * * ?/2', 'day-of-week'],
    ] as const) {
      invalidField(() => new CronTimes(cron, 'UTC'), 'cron');
      expect(() => new CronTimes(cron, 'UTC')).toThrow(`its ${field} field is`);
    }
  });

  it('`#` is `<weekday>#<1-5>` in the day-of-week field', () => {
    // The second Monday, and the fifth Wednesday where a month has one.
    expect(firings(new CronTimes('0 9 * * MON#2', 'UTC'), '2025-01-01T00:00:00Z', 2)).toEqual([
      '2025-01-13T09:00:00.000Z',
      '2025-02-10T09:00:00.000Z',
    ]);
    expect(firings(new CronTimes('0 0 * * 3#5', 'UTC'), '2025-01-01T00:00:00Z', 2)).toEqual([
      '2025-01-29T00:00:00.000Z',
      '2025-04-30T00:00:00.000Z',
    ]);
    // 7 is Sunday too; lists of nth weekdays are fine.
    expect(firings(new CronTimes('0 0 * * 7#1', 'UTC'), '2025-01-01T00:00:00Z', 1)).toEqual([
      '2025-01-05T00:00:00.000Z',
    ]);
    expect(firings(new CronTimes('0 0 ? * 1#1,5#3', 'UTC'), '2025-01-01T00:00:00Z', 2)).toEqual([
      '2025-01-06T00:00:00.000Z',
      '2025-01-17T00:00:00.000Z',
    ]);
  });

  it('refuses a malformed `#`, naming the field and the rule', () => {
    for (const dayOfWeek of [
      '0##4',
      '1#',
      '#2',
      '3#0',
      '3#6',
      '1-3#2',
      '*/2#1',
      '5#L',
      'MON#2#3',
    ]) {
      const cron = `0 0 * * ${dayOfWeek}`;
      invalidField(() => new CronTimes(cron, 'UTC'), 'cron');
      expect(() => new CronTimes(cron, 'UTC')).toThrow(
        `its day-of-week field has \`${dayOfWeek}\``,
      );
      expect(() => new CronTimes(cron, 'UTC')).toThrow('`<weekday>#<1-5>`');
    }
    expect(() => new CronTimes('0 0 * * 1#2,3#9', 'UTC')).toThrow('field has `3#9`');
    for (const [cron, field] of [
      ['0##4 * * * *', 'minute'],
      ['0 0 1#2 * *', 'day-of-month'],
      ['0 0 * 1#2 *', 'month'],
    ] as const) {
      invalidField(() => new CronTimes(cron, 'UTC'), 'cron');
      expect(() => new CronTimes(cron, 'UTC')).toThrow(`only in the day-of-week field`);
      expect(() => new CronTimes(cron, 'UTC')).toThrow(`its ${field} field has`);
    }
  });

  it('a day-of-month list after mid-February does not miss March 1 and 2', () => {
    // croner alone tries Feb 30, lands on Mar 2 and answers Mar 30.
    expect(firings(new CronTimes('0 0 1,30 * *', 'UTC'), '2027-02-12T00:00:00Z', 2)).toEqual([
      '2027-03-01T00:00:00.000Z',
      '2027-03-30T00:00:00.000Z',
    ]);
    expect(firings(new CronTimes('0 0 2,31 * *', 'UTC'), '2027-02-12T00:00:00Z', 1)).toEqual([
      '2027-03-02T00:00:00.000Z',
    ]);
    // A leap year: Feb 31 → Mar 2 would miss Mar 1.
    expect(firings(new CronTimes('0 0 1,31 * *', 'UTC'), '2028-02-12T00:00:00Z', 1)).toEqual([
      '2028-03-01T00:00:00.000Z',
    ]);
    // Day of month OR day of week: 2027-03-01 is a Monday.
    expect(firings(new CronTimes('0 0 30 * MON', 'UTC'), '2027-02-23T00:00:00Z', 1)).toEqual([
      '2027-03-01T00:00:00.000Z',
    ]);
    // In a zone, from late February local time.
    expect(
      firings(new CronTimes('30 21 1,30 * *', 'America/Santiago'), '2027-02-12T12:00:00Z', 1),
    ).toEqual(['2027-03-02T00:30:00.000Z']);
  });
});

describe('daylight saving', () => {
  it('a time skipped by a jump forward fires once, right after the jump', () => {
    // New York, 2025-03-09: 02:00 EST → 03:00 EDT at 07:00Z.
    const daily = new CronTimes('30 2 * * *', 'America/New_York');
    expect(firings(daily, '2025-03-08T00:00:00Z', 3)).toEqual([
      '2025-03-08T07:30:00.000Z', // 02:30 EST
      '2025-03-09T07:00:00.000Z', // 02:30 does not exist: 03:00 EDT, the jump
      '2025-03-10T06:30:00.000Z', // 02:30 EDT
    ]);
    // An hourly job keeps its 03:30 firing: the skipped 02:30 did not swallow it.
    const hourly = new CronTimes('0 30 * * * *', 'America/New_York');
    expect(firings(hourly, '2025-03-09T05:00:00Z', 4)).toEqual([
      '2025-03-09T05:30:00.000Z', // 00:30 EST
      '2025-03-09T06:30:00.000Z', // 01:30 EST
      '2025-03-09T07:00:00.000Z', // 02:30 skipped → 03:00 EDT
      '2025-03-09T07:30:00.000Z', // 03:30 EDT
    ]);
    // Every minute of the skipped hour fires once, together, at the jump.
    const everyMinute = new CronTimes('* * * * *', 'America/New_York');
    expect(firings(everyMinute, '2025-03-09T06:58:00Z', 3)).toEqual([
      '2025-03-09T06:59:00.000Z',
      '2025-03-09T07:00:00.000Z',
      '2025-03-09T07:01:00.000Z',
    ]);
  });

  it('a time repeated by a jump back fires once, at its first occurrence', () => {
    // New York, 2025-11-02: 02:00 EDT → 01:00 EST at 06:00Z; 01:00–01:59 happens twice.
    const daily = new CronTimes('30 1 * * *', 'America/New_York');
    expect(firings(daily, '2025-11-01T12:00:00Z', 2)).toEqual([
      '2025-11-02T05:30:00.000Z', // 01:30 EDT, the first one
      '2025-11-03T06:30:00.000Z', // 01:30 EST the next day
    ]);
    const everyTwenty = new CronTimes('*/20 * * * *', 'America/New_York');
    expect(firings(everyTwenty, '2025-11-02T05:30:00Z', 4)).toEqual([
      '2025-11-02T05:40:00.000Z', // 01:40 EDT
      '2025-11-02T07:00:00.000Z', // 02:00 EST: the repeated 01:00–01:40 do not fire again
      '2025-11-02T07:20:00.000Z',
      '2025-11-02T07:40:00.000Z',
    ]);
    // Asked from inside the repeated hour, the answer is still after it.
    expect(iso(everyTwenty.next(at('2025-11-02T06:10:00Z')))).toBe('2025-11-02T07:00:00.000Z');
  });

  it('Europe/London and the 30-minute shift of Lord Howe', () => {
    const london = new CronTimes('30 1 * * *', 'Europe/London');
    // 2025-03-30 01:00 GMT → 02:00 BST at 01:00Z; 2025-10-26 02:00 BST → 01:00 GMT at 01:00Z.
    expect(firings(london, '2025-03-29T12:00:00Z', 2)).toEqual([
      '2025-03-30T01:00:00.000Z',
      '2025-03-31T00:30:00.000Z',
    ]);
    expect(firings(london, '2025-10-25T12:00:00Z', 2)).toEqual([
      '2025-10-26T00:30:00.000Z',
      '2025-10-27T01:30:00.000Z',
    ]);
    // Lord Howe, 2025-10-05: 02:00 → 02:30 (+10:30 → +11:00) at 15:30Z.
    const lordHowe = new CronTimes('*/15 * * * *', 'Australia/Lord_Howe');
    expect(firings(lordHowe, '2025-10-04T15:10:00Z', 3)).toEqual([
      '2025-10-04T15:15:00.000Z', // 01:45
      '2025-10-04T15:30:00.000Z', // 02:00 and 02:15 skipped, 02:30 exists: once
      '2025-10-04T15:45:00.000Z', // 02:45
    ]);
  });

  it('zone offsets and transitions', () => {
    const zone = new ZoneOffsets('America/New_York');
    expect(zone.at(at('2025-03-09T06:59:59Z'))).toBe(-5 * 3_600_000);
    expect(zone.at(at('2025-03-09T07:00:00Z'))).toBe(-4 * 3_600_000);
    expect(iso(zone.transition(at('2025-03-08T00:00:00Z'), at('2025-03-10T00:00:00Z')))).toBe(
      '2025-03-09T07:00:00.000Z',
    );
    expect(new ZoneOffsets('UTC').at(at('2025-03-09T07:00:00Z'))).toBe(0);
  });
});

describe('daylight saving fuzz', () => {
  const zones = [
    'America/New_York',
    'Europe/London',
    'Australia/Lord_Howe',
    'America/Santiago',
    'Asia/Kolkata',
    'UTC',
  ];
  const expressions = [
    { cron: '* * * * *', stepMs: 60_000 },
    { cron: '*/15 * * * *', stepMs: 60_000 },
    { cron: '*/7 * * * *', stepMs: 60_000 },
    { cron: '0 30 * * * *', stepMs: 60_000 },
    { cron: '0 * * * *', stepMs: 60_000 },
    { cron: '30 2 * * *', stepMs: 60_000 },
    { cron: '15,45 0-3 * * *', stepMs: 60_000 },
    { cron: '0 0 * * *', stepMs: 60_000 },
    { cron: '*/20 * * * * *', stepMs: 1000 },
  ];

  /** Offset changes of a zone in a year: the instants the clock jumped. */
  function transitions(zone: ZoneOffsets, year: number): number[] {
    const found: number[] = [];
    let t = Date.UTC(year, 0, 1);
    const end = Date.UTC(year + 1, 0, 1);
    let offset = zone.at(t);
    for (let day = t + 86_400_000; day <= end; day += 86_400_000) {
      const next = zone.at(day);
      if (next !== offset) found.push(zone.transition(t, day));
      t = day;
      offset = next;
    }
    return found;
  }

  /**
   * The oracle, independent of `CronTimes`: walk real time step by step, read the zone's
   * clock, and fire whenever the clock reaches a wall-clock time the expression matches (or
   * jumps over one) that it had not shown before.
   */
  function expected(cron: string, zone: ZoneOffsets, from: number, to: number, stepMs: number) {
    const matcher = new Cron(cron, { utcOffset: 0 });
    const fired: number[] = [];
    let shown = zone.local(from);
    for (let t = from + stepMs; t <= to; t += stepMs) {
      const wall = zone.local(t);
      if (wall <= shown) continue;
      const match = matcher.nextRun(new Date(shown));
      if (match !== null && match.getTime() <= wall) fired.push(t);
      shown = wall;
    }
    return fired;
  }

  it('no firing is lost, doubled or fired in a tight loop (seed 20261128)', () => {
    const random = seededRandom(20261128);
    const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
    let samples = 0;
    let transitionsSeen = 0;
    for (let i = 0; i < 80; i++) {
      const timezone = pick(zones);
      const { cron, stepMs } = pick(expressions);
      const year = 1996 + Math.floor(random() * 42);
      const zone = new ZoneOffsets(timezone);
      const times = new CronTimes(cron, timezone);
      const jumps = transitions(zone, year);
      const centre =
        jumps.length > 0
          ? pick(jumps)
          : Date.UTC(year, 0, 1) + Math.floor(random() * 365) * 86_400_000;
      if (jumps.length > 0) transitionsSeen++;
      const span = stepMs === 1000 ? 45 * 60_000 : 5 * 3_600_000;
      // Whole minutes: every firing of these expressions is on a minute (or second) boundary.
      const from = Math.floor((centre - span) / 60_000) * 60_000;
      const to = centre + span;
      const want = expected(cron, zone, from, to, stepMs);

      const got: number[] = [];
      for (let t = times.next(from); t !== null && t <= to; t = times.next(t)) {
        // Strictly later every time: never the same firing twice, never a tight loop.
        if (got.length > 0) expect(t).toBeGreaterThan(got[got.length - 1]!);
        got.push(t);
        expect(got.length).toBeLessThan(10_000);
      }
      const context = `${cron} in ${timezone} around ${iso(centre)}`;
      expect(got.map(iso), context).toEqual(want.map(iso));

      // No two firings closer than the expression allows, except across a jump.
      const matcher = new Cron(cron, { utcOffset: 0 });
      const walls = matcher.nextRuns(50, new Date(zone.local(from)));
      let minGap = Number.POSITIVE_INFINITY;
      for (let k = 1; k < walls.length; k++) {
        minGap = Math.min(minGap, walls[k]!.getTime() - walls[k - 1]!.getTime());
      }
      for (let k = 1; k < got.length; k++) {
        const gap = got[k]! - got[k - 1]!;
        if (gap < minGap) {
          expect(zone.at(got[k - 1]! - 1000), context).not.toBe(zone.at(got[k]!));
        }
      }

      // From any instant, ms included, the next firing is the first expected one after it.
      for (let k = 0; k < 20; k++) {
        const probe = from + Math.floor(random() * (to - from));
        const first = want.find((t) => t > probe);
        if (first !== undefined)
          expect(iso(times.next(probe)), `${context} from ${iso(probe)}`).toBe(iso(first));
      }
      samples++;
    }
    expect(samples).toBe(80);
    // The seed must actually exercise jumps in most samples.
    expect(transitionsSeen).toBeGreaterThan(40);
  });
});
