/*
 * Scheduler and schedule option types, defaults and checks, plus `scheduleId()` and triggers.
 * Kept apart so `scheduler.ts` and `schedule-state.ts` receive resolved, validated options.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { RetryPolicy } from '../core/types.js';
import {
  checkBoolean,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPlainObject,
  checkPositiveInteger,
  invalid,
} from '../core/validate.js';
import { validateRetryPolicy } from '../tasks/retry.js';
import type { TaskManager } from '../tasks/task-manager.js';

/** When a schedule fires: every `everyMs`, or on a cron expression in a time zone. */
export type ScheduleTrigger =
  | { readonly everyMs: number }
  | {
      /**
       * 5 to 7 fields, as croner reads them; `?` in a day field is "no specific value",
       * `#` is `<weekday>#<1-5>` in the day-of-week field (docs/schedules.md, Cron syntax).
       */
      readonly cron: string;
      /** IANA name, such as `Europe/London`. @default the process's local time zone */
      readonly timezone?: string;
    };

/** What a schedule does when a firing comes due while an earlier run still goes on. */
export type OverlapPolicy = 'skip' | 'queue' | 'allow' | 'cancel-previous';

export interface SchedulerOptions {
  /**
   * Records every firing as a run in its store (`pattern: 'periodic'`, `parentId` = the
   * schedule's id), with retries, log files and crash recovery, and lets a restarted scheduler
   * find the last firing of each schedule. Without one, tasks run in this process and only
   * `lastRun` remembers them.
   */
  readonly manager?: TaskManager;
  /** Where schedules read the time. Tests pass their own. @default systemClock */
  readonly clock?: Clock;
  /**
   * The longest the timer sleeps before it reads the clock again, so a clock that jumps (a
   * suspended laptop, an NTP step, a test clock) is noticed within this long. Any length
   * works, 2³¹ ms and more included.
   * @default 30_000
   */
  readonly maxSleepMs?: number;
  /**
   * Keep the process alive while schedules wait for their next firing. Off, the timer is
   * `unref()`'d: a process with nothing else to do exits.
   * @default false
   */
  readonly keepAlive?: boolean;
}

export interface ScheduleOptions {
  /** @default 'skip' */
  readonly overlap?: OverlapPolicy;
  /**
   * After downtime (found through the manager's store when the schedule is added): `'one'`
   * runs the missed firings once, `'none'` runs none. Either way they count in `missed`.
   * @default 'one'
   */
  readonly catchUp?: 'none' | 'one';
  /** Each scheduled firing waits a random 0 to `jitterMs` ms more; due times do not move. @default 0 */
  readonly jitterMs?: number;
  /** Fire once as soon as the schedule is added. @default false */
  readonly runOnStart?: boolean;
  /** Retries of a failed or timed-out firing, with backoff. */
  readonly retries?: RetryPolicy;
  /** The schedule stops firing by itself after this many runs (`trigger()` runs not counted). */
  readonly maxRuns?: number;
  /** Each run ends as `timed_out` after this long. @default the task's own `timeoutMs`, else none */
  readonly timeoutMs?: number;
  /** Labels recorded with every run, beside the scheduler's own (`schedule`, `firing`, `due`). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** The documented defaults, for docs tests. */
export const schedulerDefaults = {
  maxSleepMs: 30_000,
  keepAlive: false,
  stopGraceMs: 5000,
  overlap: 'skip',
  catchUp: 'one',
  jitterMs: 0,
  runOnStart: false,
  /** Missed firings of a cron schedule are counted up to this many per gap. */
  missedCountCap: 10_000,
} as const;

const overlapPolicies: readonly OverlapPolicy[] = ['skip', 'queue', 'allow', 'cancel-previous'];

const schedulerKeys: readonly (keyof SchedulerOptions)[] = [
  'manager',
  'clock',
  'maxSleepMs',
  'keepAlive',
];
const scheduleKeys: readonly (keyof ScheduleOptions)[] = [
  'overlap',
  'catchUp',
  'jitterMs',
  'runOnStart',
  'retries',
  'maxRuns',
  'timeoutMs',
  'labels',
];
const retryKeys: readonly (keyof RetryPolicy)[] = ['attempts', 'backoffMs', 'maxBackoffMs'];
const triggerKeys = ['everyMs', 'cron', 'timezone'] as const;

/** Options with their defaults applied. */
export interface ResolvedScheduleOptions {
  overlap: OverlapPolicy;
  catchUp: 'none' | 'one';
  jitterMs: number;
  runOnStart: boolean;
  retries: RetryPolicy | undefined;
  maxRuns: number;
  timeoutMs: number | undefined;
  labels: Readonly<Record<string, string>>;
}

export function validateSchedulerOptions(options: SchedulerOptions): void {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, schedulerKeys);
  if (options.clock !== undefined && typeof options.clock?.now !== 'function') {
    throw invalid('clock', 'an object with a `now()` method', options.clock);
  }
  if (options.manager !== undefined && typeof options.manager?.launch !== 'function') {
    throw invalid('manager', 'a TaskManager', options.manager);
  }
  if (options.maxSleepMs !== undefined) {
    checkNonNegativeNumber('maxSleepMs', options.maxSleepMs);
    if (options.maxSleepMs < 1) throw invalid('maxSleepMs', 'at least 1', options.maxSleepMs);
  }
  checkBoolean('keepAlive', options.keepAlive);
}

/** @throws RunyardError `ERR_INVALID` naming the bad option. */
export function resolveScheduleOptions(options: ScheduleOptions): ResolvedScheduleOptions {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, scheduleKeys);
  if (options.overlap !== undefined && !overlapPolicies.includes(options.overlap)) {
    throw invalid(
      'overlap',
      `one of ${overlapPolicies.map((p) => `'${p}'`).join(', ')}`,
      options.overlap,
    );
  }
  if (options.catchUp !== undefined && options.catchUp !== 'none' && options.catchUp !== 'one') {
    throw invalid('catchUp', "'none' or 'one'", options.catchUp);
  }
  checkNonNegativeNumber('jitterMs', options.jitterMs);
  checkBoolean('runOnStart', options.runOnStart);
  checkKnownKeys('retries', options.retries, retryKeys);
  validateRetryPolicy('retries', options.retries);
  checkPositiveInteger('maxRuns', options.maxRuns);
  checkNonNegativeNumber('timeoutMs', options.timeoutMs);
  checkPlainObject('labels', options.labels);
  for (const [key, value] of Object.entries(options.labels ?? {})) {
    if (typeof value !== 'string') throw invalid(`labels.${key}`, 'a string', value);
  }
  return {
    overlap: options.overlap ?? schedulerDefaults.overlap,
    catchUp: options.catchUp ?? schedulerDefaults.catchUp,
    jitterMs: options.jitterMs ?? schedulerDefaults.jitterMs,
    runOnStart: options.runOnStart ?? schedulerDefaults.runOnStart,
    retries: options.retries === undefined ? undefined : { ...options.retries },
    maxRuns: options.maxRuns ?? Number.POSITIVE_INFINITY,
    timeoutMs: options.timeoutMs,
    labels: { ...options.labels },
  };
}

/** A schedule's name: shown in lists and recorded as the name of its runs. */
export function checkScheduleName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.trim() === '' || /[\0-\x1f\x7f]/.test(name)) {
    throw invalid('name', 'a non-empty string without control characters', name);
  }
}

/**
 * A stable id for a schedule, derived from its name, that passes the run store's id rules
 * (letters, digits, `_`, `-`, `.`; at most 128): `schedule.<name>`, with other characters
 * replaced and a short hash added when the name had to change, so two names never share one.
 */
export function scheduleId(name: string): string {
  const safe = name.replace(/[^\w.-]/g, '-');
  if (safe === name && name.length <= 100) return `schedule.${name}`;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  return `schedule.${safe.slice(0, 100)}.${hash}`;
}

/** Checks a trigger's shape; the cron expression and time zone are checked by `CronTimes`. */
export function checkTrigger(trigger: unknown): asserts trigger is ScheduleTrigger {
  checkPlainObject('trigger', trigger);
  if (trigger === undefined) throw invalid('trigger', '`{ everyMs }` or `{ cron }`', trigger);
  checkKnownKeys('trigger', trigger, triggerKeys);
  const t = trigger as Record<string, unknown>;
  const hasEvery = t.everyMs !== undefined;
  const hasCron = t.cron !== undefined;
  if (hasEvery === hasCron) {
    throw invalid('trigger', 'either `{ everyMs }` or `{ cron, timezone? }`', trigger);
  }
  if (hasEvery) {
    if (typeof t.everyMs !== 'number' || !Number.isFinite(t.everyMs) || t.everyMs < 1) {
      throw invalid('everyMs', 'a positive number of milliseconds (at least 1)', t.everyMs);
    }
    if (t.timezone !== undefined) {
      throw invalid(
        'timezone',
        'absent with `everyMs`: intervals do not depend on a zone',
        t.timezone,
      );
    }
  }
}
