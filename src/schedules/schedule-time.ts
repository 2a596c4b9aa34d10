/*
 * Firing times as pure arithmetic: interval firings, `ZoneOffsets` and the DST-aware `CronTimes`.
 * Kept pure and apart so due times can be tested with plain numbers, without a scheduler.
 */
import { Cron } from 'croner';
import { invalid } from '../core/validate.js';
import { normalizeCron } from './cron.js';

/**
 * When a schedule fires, as pure arithmetic on epoch milliseconds: no timers, no clock. The
 * scheduler asks `next(from)` each time it wakes, so these are tested with plain numbers.
 */
export interface FiringTimes {
  /** The first firing strictly after `from`; `null` when there is none (a cron whose years ended). */
  next(from: number): number | null;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Interval firings: the n-th is due at `anchor + n × everyMs` (n ≥ 1), whatever each run took
 * and however late the previous one fired, so they never drift.
 *
 * @example
 * intervalTimes(1000, 0).next(2500); // 3000
 */
export function intervalTimes(everyMs: number, anchor: number): FiringTimes {
  return { next: (from) => nextIntervalRun(anchor, everyMs, from) };
}

/** The first `anchor + n × everyMs` (n ≥ 1) strictly after `from`. */
export function nextIntervalRun(anchor: number, everyMs: number, from: number): number {
  return anchor + Math.max(1, intervalIndex(anchor, everyMs, from) + 1) * everyMs;
}

/**
 * The largest n with `anchor + n × everyMs ≤ t`. Floating point can put a quotient a hair on
 * either side of a whole number; every firing is computed as the same product, so a firing
 * asked about again is recognised, never returned twice.
 */
export function intervalIndex(anchor: number, everyMs: number, t: number): number {
  let n = Math.floor((t - anchor) / everyMs);
  while (anchor + (n + 1) * everyMs <= t) n++;
  while (anchor + n * everyMs > t) n--;
  return n;
}

/** Interval firings due in `(after, upTo]`: how many, and the last. */
export function intervalRunsBetween(
  anchor: number,
  everyMs: number,
  after: number,
  upTo: number,
): { count: number; last: number | undefined; capped: false } {
  const first = Math.max(1, intervalIndex(anchor, everyMs, after) + 1);
  const last = intervalIndex(anchor, everyMs, upTo);
  return last >= first
    ? { count: last - first + 1, last: anchor + last * everyMs, capped: false }
    : { count: 0, last: undefined, capped: false };
}

/** The time zone this process formats local times in (`TZ`, else the system's). */
export function localTimeZone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/**
 * Checks an IANA time zone name and returns its canonical spelling (`US/Eastern` →
 * `America/New_York`).
 * @throws RunyardError `ERR_INVALID` naming `timezone` for an unknown zone.
 */
export function canonicalTimeZone(timezone: unknown): string {
  if (typeof timezone !== 'string' || timezone === '') {
    throw invalid('timezone', 'an IANA time zone name such as `Europe/London`', timezone);
  }
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    throw invalid('timezone', 'an IANA time zone name such as `Europe/London`', timezone);
  }
}

/**
 * The offset of a time zone from UTC at an instant, in ms (`+05:30` → 19_800_000). Whole
 * seconds, as the time zone database has them.
 */
export class ZoneOffsets {
  readonly timezone: string;
  readonly #format: Intl.DateTimeFormat | undefined;

  constructor(timezone: string) {
    this.timezone = timezone;
    this.#format =
      timezone === 'UTC'
        ? undefined
        : new Intl.DateTimeFormat('en-US', {
            timeZone: timezone,
            hourCycle: 'h23',
            year: 'numeric',
            month: 'numeric',
            day: 'numeric',
            hour: 'numeric',
            minute: 'numeric',
            second: 'numeric',
          });
  }

  /** Offset in ms at instant `t`. */
  at(t: number): number {
    if (this.#format === undefined) return 0;
    const seconds = Math.floor(t / 1000) * 1000;
    const fields = { year: 0, month: 1, day: 1, hour: 0, minute: 0, second: 0 };
    for (const part of this.#format.formatToParts(seconds)) {
      if (part.type in fields) fields[part.type as keyof typeof fields] = Number(part.value);
    }
    const local = Date.UTC(
      fields.year,
      fields.month - 1,
      fields.day,
      fields.hour,
      fields.minute,
      fields.second,
    );
    return local - seconds;
  }

  /** The wall-clock time at `t`, written as if it were UTC: `local(t) = t + offset`. */
  local(t: number): number {
    return t + this.at(t);
  }

  /**
   * The first instant in `(after, upTo]` whose offset differs from the offset at `after`;
   * `upTo` when there is none. Offsets change at whole seconds.
   */
  transition(after: number, upTo: number): number {
    const before = this.at(after);
    let lo = Math.floor(after / 1000); // offset `before` at lo
    let hi = Math.ceil(upTo / 1000);
    if (this.at(hi * 1000) === before) return upTo;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.at(mid * 1000) === before) lo = mid;
      else hi = mid;
    }
    return Math.min(upTo, Math.max(hi * 1000, after + 1));
  }
}

/**
 * Cron firings in a time zone. croner parses the expression and finds matching wall-clock
 * times; this class turns wall-clock times into instants with daylight saving specified:
 *
 * - every wall-clock time the expression matches fires once, at the first instant the zone's
 *   clock shows that time or a later one;
 * - so a time skipped by a jump forward (02:30 on a spring-forward night) fires once, right
 *   after the jump (at 03:00), and several skipped times fire together, once;
 * - and a time repeated by a jump back (01:30 on a fall-back night) fires once, at its first
 *   occurrence.
 *
 * croner alone moves a skipped time forward by the length of the gap (02:30 → 03:30, merging
 * it with a real 03:30 firing of an hourly job), which is why the zone arithmetic lives here.
 *
 * @example
 * const times = cronTimes('30 2 * * *', 'America/New_York');
 * new Date(times.next(Date.parse('2025-03-09T05:00:00Z'))!).toISOString(); // '2025-03-09T07:00:00.000Z', 03:00 EDT
 */
export class CronTimes implements FiringTimes {
  readonly expression: string;
  readonly timezone: string;
  readonly #cron: Cron;
  readonly #zone: ZoneOffsets;

  /**
   * @throws RunyardError `ERR_INVALID` naming `cron` (a malformed expression, a misplaced `?`
   * or a malformed `#`, see `normalizeCron`) or `timezone`.
   */
  constructor(expression: unknown, timezone: unknown = localTimeZone()) {
    if (typeof expression !== 'string' || expression.trim() === '') {
      throw invalid('cron', 'a cron expression such as `0 * * * *`', expression);
    }
    this.timezone = canonicalTimeZone(timezone);
    this.expression = expression;
    const readable = normalizeCron(expression);
    try {
      // Matching happens on wall-clock times written as UTC; the zone is applied here.
      this.#cron = new Cron(readable, { utcOffset: 0 });
    } catch (error) {
      const detail = error instanceof Error ? error.message.replace(/^CronPattern: /, '') : '';
      throw invalid(
        'cron',
        `a cron expression of 5 to 7 fields ([second] minute hour day month weekday [year])${
          detail ? ` (${detail})` : ''
        }`,
        expression,
      );
    }
    this.#zone = new ZoneOffsets(this.timezone);
  }

  next(from: number): number | null {
    // Every wall-clock time up to the highest the clock has shown by `from` has fired.
    const shown = this.#highestLocal(from);
    const match = this.#nextMatch(shown);
    return match === null ? null : this.#firstInstantShowing(match);
  }

  /**
   * The first wall-clock time after `wall` the expression matches. croner 10, searching from
   * mid-February, tries the 30th or 31st, rolls over into March 2 or 3 and misses March 1 and
   * 2 (`0 0 1,30 * *` from Feb 12 answers Mar 30); asked again from the start of the next
   * month, it searches that month from its first day.
   */
  #nextMatch(wall: number): number | null {
    const match = this.#cron.nextRun(new Date(wall))?.getTime() ?? null;
    const day = new Date(wall);
    const nextMonth = Date.UTC(day.getUTCFullYear(), day.getUTCMonth() + 1, 1);
    if (match === null || match < nextMonth) return match;
    const again = this.#cron.nextRun(new Date(nextMonth - 1))?.getTime() ?? null;
    return again !== null && again < match ? again : match;
  }

  /** The highest wall-clock time shown at or before `t`: after a jump back, the one before it. */
  #highestLocal(t: number): number {
    const now = this.#zone.local(t);
    const dayBefore = this.#zone.at(t - DAY);
    if (dayBefore <= this.#zone.at(t)) return now;
    // The clock went back within the day: just before the jump it showed more.
    const jump = this.#zone.transition(t - DAY, t);
    return Math.max(now, jump - 1 + this.#zone.at(jump - 1));
  }

  /** The first instant at which the zone's clock shows `wall` or later. */
  #firstInstantShowing(wall: number): number {
    const before = this.#zone.at(wall - DAY);
    const after = this.#zone.at(wall + DAY);
    const early = wall - before;
    if (before === after) return early;
    const late = wall - after;
    const earlyHolds = this.#zone.at(early) === before;
    const lateHolds = this.#zone.at(late) === after;
    if (earlyHolds && lateHolds) return Math.min(early, late); // repeated: its first occurrence
    if (earlyHolds) return early;
    if (lateHolds) return late;
    // Skipped by a jump forward: the first instant after the jump.
    return this.#zone.transition(Math.min(early, late), Math.max(early, late));
  }
}

/**
 * The firings due in `(from, to]`: how many, and the last. Counting stops at `cap`; `capped`
 * then says there were at least that many.
 */
export function firingsBetween(
  times: FiringTimes,
  from: number,
  to: number,
  cap: number,
): { count: number; last: number | undefined; capped: boolean } {
  let count = 0;
  let last: number | undefined;
  for (let due = times.next(from); due !== null && due <= to; due = times.next(due)) {
    count++;
    last = due;
    if (count >= cap) return { count, last, capped: true };
  }
  return { count, last, capped: false };
}
