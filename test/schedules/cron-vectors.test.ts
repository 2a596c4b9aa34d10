// A differential test: runyard's next cron firing against croner's and cron-parser's, on
// seeded random expressions, start times and time zones, with every disagreement explained.

import { CronExpressionParser } from 'cron-parser';
import { Cron } from 'croner';
import { describe, expect, it } from 'vitest';
import { CronTimes, ZoneOffsets } from '../../src/schedules/schedule-time.js';
import { readDoc } from '../helpers/docs.js';
import { seededRandom } from '../helpers/random.js';

const SEED = 20261202;
const CASES = 600;
/** Each case asks for this many firings in a row, each from runyard's previous answer. */
const STEPS = 4;
const DAY = 86_400_000;

const random = seededRandom(SEED);
const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
const chance = (p: number) => random() < p;

const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MONTHS = 'JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC'.split(' ');

/** `*`, a step, a value, a range, a stepped range or a list, values drawn from `bias` often. */
function numeric(lo: number, hi: number, bias: readonly number[] = []): string {
  const value = () => (bias.length > 0 && chance(0.5) ? pick(bias) : int(lo, hi));
  const r = random();
  if (r < 0.3) return '*';
  if (r < 0.45) return `*/${int(2, Math.min(30, hi))}`;
  if (r < 0.65) return String(value());
  if (r < 0.75) {
    const from = value();
    return `${from}-${int(from, hi)}`;
  }
  if (r < 0.82) {
    const from = int(lo, hi);
    return `${from}-${int(from, hi)}/${int(1, 5)}`;
  }
  const values = new Set<number>();
  const count = int(2, 3);
  while (values.size < count) values.add(value());
  return [...values].sort((x, y) => x - y).join(',');
}

function dayOfMonth(): string {
  const r = random();
  if (r < 0.4) return '*';
  if (r < 0.5) return '?';
  if (r < 0.58) return 'L';
  return numeric(1, 31, [1, 15, 28, 29, 30, 31]).replace(/^\*$/, '1');
}

function dayOfWeek(): string {
  const r = random();
  if (r < 0.45) return '*';
  if (r < 0.55) return '?';
  if (r < 0.62) return `${chance(0.5) ? pick(DAYS) : int(0, 7)}#${int(1, 5)}`;
  if (r < 0.67) return `${int(0, 6)}L`;
  if (r < 0.75) return pick(DAYS);
  if (r < 0.8) {
    const from = int(1, 5);
    return `${DAYS[from]}-${DAYS[int(from, 6)]}`;
  }
  return numeric(0, 6).replace(/^\*$/, '0');
}

function month(): string {
  const r = random();
  if (r < 0.6) return '*';
  if (r < 0.7) return pick(MONTHS);
  return numeric(1, 12, [2, 3, 10, 11]).replace(/^\*$/, '1');
}

const nicknames = ['@hourly', '@daily', '@weekly', '@monthly', '@yearly'];

/** An expression both peers read: 5 fields, or 6 with seconds first; often in `hours`. */
function expression(hours: readonly number[]): string {
  if (chance(0.03)) return pick(nicknames);
  const fields: string[] = [];
  if (chance(0.25)) fields.push(chance(0.6) ? '0' : numeric(0, 59, [0, 30]));
  fields.push(numeric(0, 59, [0, 15, 30, 45]));
  fields.push(numeric(0, 23, hours));
  fields.push(dayOfMonth(), month(), dayOfWeek());
  return fields.join(' ');
}

/** Expressions that fire in or around the local hour `hour` of a jump, many times. */
function dense(hour: number): string[] {
  const around = `${(hour + 23) % 24},${hour}`;
  return [
    '* * * * *',
    '*/15 * * * *',
    '0,30 * * * *',
    `*/10 ${around} * * *`,
    `30 ${hour} * * *`,
    `45 ${hour} * * *`,
    `0 ${hour} * * *`,
    `*/20 * ${around} * * *`,
  ];
}

/** Daylight saving at 02:00/03:00, at midnight, by 30 minutes, at 02:45, or none. */
const zones = [
  'Europe/Prague',
  'America/New_York',
  'Australia/Lord_Howe',
  'America/Santiago',
  'Europe/London',
  'America/Havana',
  'Asia/Tehran',
  'Pacific/Chatham',
  'Asia/Kolkata',
  'UTC',
];

/** The instants a zone's offset changed at, 2000 to 2036. */
function transitionsOf(zone: ZoneOffsets): number[] {
  const found: number[] = [];
  let offset = zone.at(Date.UTC(2000, 0, 1));
  for (let day = Date.UTC(2000, 0, 2); day <= Date.UTC(2036, 0, 1); day += DAY) {
    const next = zone.at(day);
    if (next !== offset) found.push(zone.transition(day - DAY, day));
    offset = next;
  }
  return found;
}

interface Zone {
  name: string;
  offsets: ZoneOffsets;
  transitions: number[];
}

const zoneTable: Zone[] = zones.map((name) => {
  const offsets = new ZoneOffsets(name);
  return { name, offsets, transitions: transitionsOf(offsets) };
});

/** The offset changes in `(from, to]`, each with the offsets on either side. */
function changesBetween(zone: Zone, from: number, to: number) {
  return zone.transitions
    .filter((t) => t > from && t <= to)
    .map((t) => ({ at: t, before: zone.offsets.at(t - 1000), after: zone.offsets.at(t) }));
}

/** The highest wall-clock time (written as UTC) the zone's clock showed at or before `t`. */
function highestShown(zone: Zone, t: number): number {
  let highest = zone.offsets.local(t);
  for (const change of changesBetween(zone, t - DAY, t)) {
    if (change.after < change.before) highest = Math.max(highest, change.at - 1 + change.before);
  }
  return highest;
}

/** The first instant the zone's clock shows `wall` or a later time (runyard's rule). */
function firstShowing(zone: Zone, wall: number): number {
  const candidates = [wall - zone.offsets.at(wall - DAY), wall - zone.offsets.at(wall + DAY)];
  for (const change of changesBetween(zone, wall - 2 * DAY, wall + 2 * DAY)) {
    candidates.push(change.at, wall - change.before, wall - change.after);
  }
  return Math.min(...candidates.filter((t) => zone.offsets.local(t) >= wall));
}

/** No instant shows `wall`: a jump forward skipped it. */
function isSkipped(zone: Zone, wall: number): boolean {
  return zone.offsets.local(firstShowing(zone, wall)) !== wall;
}

/** Day fields `?` read as `*`, which is what "no specific value" means. */
function withoutQuestionMarks(expr: string): string {
  return expr.replace(/(^|\s)\?(?=\s|$)/g, '$1*');
}

/**
 * The first wall-clock time after `wall` that the expression matches, from cron-parser read in
 * UTC, where no clock jumps (croner's own answer may miss March 1 and 2).
 */
function nextWallMatch(expr: string, wall: number): number | null {
  try {
    return CronExpressionParser.parse(expr, { tz: 'UTC', currentDate: new Date(wall) })
      .next()
      .getTime();
  } catch {
    return null;
  }
}

type Verdict =
  | { kind: 'agree' }
  | { kind: 'dst'; why: 'skipped' | 'repeated' }
  | { kind: 'peer-bug'; why: string }
  | { kind: 'unexplained' };

/**
 * Why runyard's `ours` and a peer's `theirs` differ: a documented daylight-saving choice, or
 * a known bug of the peer. Anything else is unexplained and fails the test.
 */
function classify(
  peer: 'croner' | 'cron-parser',
  expr: string,
  zone: Zone,
  from: number,
  ours: number | null,
  theirs: number | null | Error,
): Verdict {
  if (theirs === ours) return { kind: 'agree' };
  if (theirs instanceof Error) {
    // cron-parser refuses a date no month has (`31 2`, `31 JUN`): runyard never fires it.
    if (/Invalid explicit day of month/.test(theirs.message) && ours === null) {
      return { kind: 'agree' };
    }
    // cron-parser gives up after a fixed number of steps, which a jump back of the clock (or a
    // sparse expression) can exhaust: `6 9 * * *` on Lord Howe's 2010-04-04.
    if (/loop limit exceeded/.test(theirs.message) && ours !== null) {
      return { kind: 'peer-bug', why: 'cron-parser gives up: loop limit exceeded' };
    }
    return { kind: 'unexplained' };
  }
  // croner 10 reads `?` as a day field that matches every day, and so fires every day.
  if (
    peer === 'croner' &&
    /(^|\s)\?(\s|$)/.test(expr) &&
    theirs === cronerNext(everyDay(expr), zone, from)
  ) {
    return { kind: 'peer-bug', why: 'croner reads `?` as every day' };
  }
  // croner, asked from the second pass of a repeated hour, answers from the first pass: an
  // instant that is already past.
  const inRepeat = (t: number) => zone.offsets.local(t) <= highestShown(zone, t - 1);
  if (peer === 'croner' && theirs !== null && theirs <= from && inRepeat(from)) {
    return { kind: 'peer-bug', why: 'croner answers an instant before `from` in a repeated hour' };
  }
  if (ours === null || theirs === null) return { kind: 'unexplained' };
  // croner, searching from mid-February, rolls the 30th or 31st over into March and misses
  // March 1 and 2 (`CronTimes` works around it).
  const oursWall = new Date(zone.offsets.local(ours));
  if (
    peer === 'croner' &&
    theirs > ours &&
    new Date(zone.offsets.local(from)).getUTCMonth() === 1 &&
    oursWall.getUTCMonth() === 2 &&
    oursWall.getUTCDate() <= 2 &&
    new Cron(withoutQuestionMarks(expr), { timezone: 'UTC' }).match(oursWall)
  ) {
    return { kind: 'peer-bug', why: 'croner skips March 1 and 2 after February' };
  }
  // From here on runyard's answer must be the documented one: the first instant showing the
  // next wall-clock match after every time the clock has shown.
  const wall = nextWallMatch(expr, highestShown(zone, from));
  if (wall === null || ours !== firstShowing(zone, wall)) return { kind: 'unexplained' };
  if (isSkipped(zone, wall)) {
    // The peer moved the skipped time by the length of the jump, or dropped it.
    const jump = changesBetween(zone, wall - DAY, wall + DAY).find((c) => c.at === ours);
    const dropped = nextWallMatch(expr, zone.offsets.local(ours) - 1);
    const shifted = jump === undefined ? undefined : wall - jump.before;
    const kept = dropped === null ? undefined : firstShowing(zone, dropped);
    if (jump !== undefined && (theirs === shifted || theirs === kept)) {
      return { kind: 'dst', why: 'skipped' };
    }
  } else if (inRepeat(theirs)) {
    // The peer fires a wall-clock time the clock had already shown: the second pass of a
    // repeated hour (runyard fired or will fire it at its first occurrence).
    return { kind: 'dst', why: 'repeated' };
  }
  // cron-parser takes the whole hour a jump forward starts or ends in as skipped when the
  // jump is not on the hour: Chatham's 02:45 → 03:45 loses 02:00–02:44 and 03:45–03:59,
  // Lord Howe's 02:00 → 02:30 loses 02:30–02:59.
  const hourOf = (t: number) => Math.floor(t / 3_600_000);
  const oursHour = hourOf(zone.offsets.local(ours));
  const offHourJump = changesBetween(zone, ours - 3_600_000, ours + 3_600_000).find(
    (c) =>
      c.after > c.before &&
      (c.at + c.after) % 3_600_000 !== 0 &&
      (hourOf(c.at - 1000 + c.before) === oursHour || hourOf(c.at + c.after) === oursHour),
  );
  if (peer === 'cron-parser' && offHourJump !== undefined && theirs > ours) {
    return {
      kind: 'peer-bug',
      why: 'cron-parser takes the hour of a jump off the hour as skipped',
    };
  }
  return { kind: 'unexplained' };
}

/** The expression with both day fields `*`: every day. */
function everyDay(expr: string): string {
  const fields = expr.trim().split(/\s+/);
  const dayOfMonthAt = fields.length === 5 ? 2 : 3;
  fields[dayOfMonthAt] = '*';
  fields[dayOfMonthAt + 2] = '*';
  return fields.join(' ');
}

function cronerNext(expr: string, zone: Zone, from: number): number | null {
  return new Cron(expr, { timezone: zone.name }).nextRun(new Date(from))?.getTime() ?? null;
}

/** cron-parser's next firing after `from`, or the error it throws. */
function parserTimes(expr: string, zone: Zone): (from: number) => number | Error {
  let parsed: ReturnType<typeof CronExpressionParser.parse>;
  try {
    parsed = CronExpressionParser.parse(expr, { tz: zone.name });
  } catch (error) {
    return () => error as Error;
  }
  return (from) => {
    try {
      parsed.reset(new Date(from));
      return parsed.next().getTime();
    } catch (error) {
      return error as Error;
    }
  };
}

describe('cron firings agree with croner and cron-parser', () => {
  it(`${CASES} expressions × ${STEPS} firings in ${zones.length} zones (seed ${SEED})`, () => {
    const counts = { agree: 0, skipped: 0, repeated: 0, peerBug: 0 };
    const bugs = new Map<string, number>();
    const unexplained: string[] = [];
    let nearJumps = 0;
    for (let i = 0; i < CASES; i++) {
      const zone = pick(zoneTable);
      let from: number | null;
      let expr: string;
      if (zone.transitions.length > 0 && chance(0.7)) {
        // Near a jump, with an expression that often fires in the hours around it; from a
        // day before it to a few hours after, mostly the last hours before it, ms included.
        const jump = pick(zone.transitions);
        const hour = new Date(zone.offsets.local(jump - 1000)).getUTCHours();
        if (chance(0.3)) {
          // Minutes before the jump to within the hour after it, where a repeat would be.
          expr = pick(dense(hour));
          from = jump + int(-300, 3600) * 1000 + int(0, 999);
        } else {
          expr = expression([hour, (hour + 1) % 24, (hour + 23) % 24]);
          const before = chance(0.3) ? 24 * 3600 : 4 * 3600;
          from = jump + int(-before, 2 * 3600) * 1000 + int(0, 999);
        }
        nearJumps++;
      } else {
        from = Date.UTC(int(2000, 2035), 0, 1) + int(0, 365 * 86_400) * 1000;
        expr = expression([0, 1, 2, 3, 23]);
      }
      const times = new CronTimes(expr, zone.name);
      const croner = new Cron(expr, { timezone: zone.name });
      const parser = parserTimes(expr, zone);
      for (let step = 0; step < STEPS && from !== null; step++) {
        const ours = times.next(from);
        const answers = {
          croner: croner.nextRun(new Date(from))?.getTime() ?? null,
          'cron-parser': parser(from),
        };
        for (const [peer, theirs] of Object.entries(answers)) {
          const verdict = classify(peer as keyof typeof answers, expr, zone, from, ours, theirs);
          if (verdict.kind === 'agree') counts.agree++;
          else if (verdict.kind === 'dst') counts[verdict.why]++;
          else if (verdict.kind === 'peer-bug') {
            counts.peerBug++;
            bugs.set(verdict.why, (bugs.get(verdict.why) ?? 0) + 1);
          } else {
            const shown = (t: number | null | Error) =>
              t instanceof Error ? t.message : t === null ? 'null' : new Date(t).toISOString();
            unexplained.push(
              `${peer}: \`${expr}\` in ${zone.name} from ${shown(from)}: runyard ${shown(ours)}, ${peer} ${shown(theirs)}`,
            );
          }
        }
        from = ours;
      }
    }
    expect(unexplained).toEqual([]);
    expect(nearJumps).toBeGreaterThan(CASES / 2);
    const dst = counts.skipped + counts.repeated;
    const total = counts.agree + dst + counts.peerBug;
    expect(total).toBeGreaterThan(CASES * STEPS);
    // docs/schedules.md gives these figures.
    const figure = (n: number) => n.toLocaleString('en-US');
    expect(readDoc('schedules.md')).toContain(
      `${figure(total)} answers (seed ${SEED}): ${figure(counts.agree)} agree, ${dst} differ by a documented daylight-saving choice (${counts.skipped} skipped, ${counts.repeated} repeated times) and ${counts.peerBug} by a peer's bug (${[
        ...bugs,
      ]
        .sort((a, b) => b[1] - a[1])
        .map(([why, n]) => `${n}: ${why}`)
        .join('; ')})`,
    );
  });
});
