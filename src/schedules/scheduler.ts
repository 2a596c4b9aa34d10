/*
 * `Scheduler`, pattern 5: named interval or cron schedules, all served by one shared timer.
 * It owns the timer and the schedules; each one's firing logic is in `schedule-state.ts`.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { ErrorCodes, RunyardError } from '../core/errors.js';
import { type LongTimer, setLongTimeout } from '../core/timers.js';
import type { FunctionTask, ProcessTask, TaskSpec } from '../core/types.js';
import {
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPlainObject,
  invalid,
} from '../core/validate.js';
import { normalizeTask } from '../run/task-options.js';
import type { TaskManager } from '../tasks/task-manager.js';
import { Schedule } from './schedule.js';
import {
  checkScheduleName,
  checkTrigger,
  resolveScheduleOptions,
  type ScheduleOptions,
  type SchedulerOptions,
  type ScheduleTrigger,
  scheduleId,
  schedulerDefaults,
  validateSchedulerOptions,
} from './schedule-options.js';
import { ScheduleState } from './schedule-state.js';
import { CronTimes } from './schedule-time.js';
import {
  type SchedulerEventName,
  type SchedulerEvents,
  SchedulerListeners,
} from './scheduler-listeners.js';

export { Schedule } from './schedule.js';
export {
  type OverlapPolicy,
  type ScheduleOptions,
  type SchedulerOptions,
  type ScheduleTrigger,
  schedulerDefaults,
} from './schedule-options.js';
export type { FiringReason, SchedulerEventName, SchedulerEvents } from './scheduler-listeners.js';

/** A clock step back larger than this makes every schedule plan again from the new time. */
const CLOCK_STEP_BACK_MS = 1000;
/** The timer wakes this long before a firing; the rest is polled. */
const FINE_MS = 1;
/** Polling for one firing gives up after this long (real time): a clock that stands still. */
const MAX_POLL_MS = 5;

/**
 * Pattern 5, periodic tasks: named schedules that fire a task every `everyMs` or on a cron
 * expression. With a `TaskManager`, every firing is a run in its store (`pattern: 'periodic'`,
 * `parentId` = the schedule's `id`), so history, output and failures show like any run's, and
 * a restarted scheduler finds firings missed while it was down.
 *
 * One timer serves every schedule. It sleeps until the earliest firing, never longer than
 * `maxSleepMs`, and reads the clock again each time it wakes; firings are computed from the
 * clock (the n-th interval firing is due at start + n × `everyMs`), never by chaining timers,
 * so they do not drift. The timer is `unref()`'d unless `keepAlive` is set.
 *
 * @example
 * const scheduler = new Scheduler({ manager });
 * scheduler.add('nightly-report', { cron: '0 30 2 * * *', timezone: 'Europe/London' },
 *   { command: 'python3', args: ['report.py'] }, { retries: { attempts: 3 } });
 * scheduler.add('heartbeat', { everyMs: 60_000 }, { fn: () => ping() });
 * // at shutdown
 * await scheduler.stop({ graceMs: 5000 });
 */
export class Scheduler {
  readonly #manager: TaskManager | undefined;
  readonly #clock: Clock;
  readonly #maxSleepMs: number;
  readonly #keepAlive: boolean;
  readonly #schedules = new Map<string, { schedule: Schedule; state: ScheduleState }>();
  /** Removed schedules whose runs still go on: `stop()` waits for them too. */
  readonly #retired = new Set<ScheduleState>();
  readonly #listeners = new SchedulerListeners();
  readonly #ids = new Set<string>();
  /** A long timer: `maxSleepMs` may exceed the 2³¹ ms that Node's own timers take. */
  #timer: LongTimer | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  /** Polls the last millisecond before a firing. */
  #poll: NodeJS.Immediate | undefined;
  #pollingSince: number | undefined;
  #lastNow: number;
  #stopping: Promise<void> | undefined;

  constructor(options: SchedulerOptions = {}) {
    validateSchedulerOptions(options);
    this.#manager = options.manager;
    this.#clock = options.clock ?? systemClock;
    this.#maxSleepMs = options.maxSleepMs ?? schedulerDefaults.maxSleepMs;
    this.#keepAlive = options.keepAlive ?? schedulerDefaults.keepAlive;
    this.#lastNow = this.#clock.now();
  }

  /**
   * Adds a schedule and returns it; it fires from now on. With a manager, it first looks in
   * the store for its last firing: firings missed since then are counted in `missed`, and with
   * `catchUp: 'one'` run once.
   *
   * @throws RunyardError `ERR_INVALID` naming the field: a duplicate `name`, a zero or negative
   * `everyMs`, an invalid `cron`, an unknown `timezone`, a bad task or option. `ERR_CLOSED`
   * once the scheduler is stopped.
   */
  add(
    name: string,
    trigger: ScheduleTrigger,
    task: TaskSpec,
    options: ScheduleOptions = {},
  ): Schedule {
    if (this.#stopping) throw new RunyardError(ErrorCodes.CLOSED, 'The scheduler is stopped');
    checkScheduleName(name);
    if (this.#schedules.has(name)) {
      throw invalid('name', 'a name no other schedule of this scheduler has', name);
    }
    const id = scheduleId(name);
    if (this.#ids.has(id)) {
      throw invalid('name', `a name whose id (\`${id}\`) no other schedule has`, name);
    }
    checkTrigger(trigger);
    const { cron: expression, timezone } = trigger as { cron?: string; timezone?: string };
    const cron = expression !== undefined ? new CronTimes(expression, timezone) : undefined;
    if (cron && cron.next(this.#clock.now()) === null) {
      throw invalid('cron', 'a cron expression that fires at some later time', cron.expression);
    }
    const normalized = normalizeScheduledTask(task);
    const resolved = resolveScheduleOptions(options);
    const state = new ScheduleState({
      name,
      id,
      trigger: cron
        ? { cron: cron.expression, timezone: cron.timezone }
        : { everyMs: (trigger as { everyMs: number }).everyMs },
      cron,
      task: normalized,
      options: resolved,
      host: {
        manager: this.#manager,
        listeners: this.#listeners,
        now: () => this.#clock.now(),
        rearm: () => this.#arm(),
        retire: (retired) => this.#retire(retired),
      },
    });
    const schedule = new Schedule(state);
    this.#schedules.set(name, { schedule, state });
    this.#ids.add(id);
    state.begin();
    this.#arm();
    return schedule;
  }

  /** The schedule with this name. */
  get(name: string): Schedule | undefined {
    return this.#schedules.get(name)?.schedule;
  }

  /** Every schedule, in the order they were added. */
  list(): Schedule[] {
    return [...this.#schedules.values()].map((entry) => entry.schedule);
  }

  /**
   * Listens to `fire`, `end`, `skip`, `missed` or `error`; returns the function that stops
   * listening. A listener that throws is logged; it never stops a schedule.
   */
  on<E extends SchedulerEventName>(
    event: E,
    listener: (payload: SchedulerEvents[E]) => void,
  ): () => void {
    return this.#listeners.on(event, listener);
  }

  /**
   * Stops every schedule: no more firings, a firing waiting behind a running one is refused
   * with `ERR_CLOSED`, running firings get `graceMs` to end, then are cancelled. Resolves when
   * nothing is left running; a second call returns the same promise. The manager, if any, is
   * not shut down: it belongs to the caller.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, ['graceMs']);
    checkNonNegativeNumber('graceMs', options.graceMs);
    this.#stopping ??= this.#stop(options.graceMs ?? schedulerDefaults.stopGraceMs);
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #stop(graceMs: number): Promise<void> {
    this.#clearTimers();
    const states = [...this.#schedules.values()].map((entry) => entry.state);
    states.push(...this.#retired);
    for (const state of states) state.close();
    const all = Promise.allSettled(states.map((state) => state.settled()));
    let graceTimer: LongTimer | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      graceTimer = setLongTimeout(() => resolve('grace-over'), graceMs);
    });
    if ((await Promise.race([all, graceOver])) === 'grace-over') {
      for (const state of states) state.cancelRunning('the scheduler stopped');
    }
    graceTimer?.clear();
    await all;
  }

  #retire(state: ScheduleState): void {
    this.#schedules.delete(state.name);
    this.#ids.delete(state.id);
    if (state.running > 0) {
      this.#retired.add(state);
      void state.settled().then(() => this.#retired.delete(state));
    }
    this.#arm();
  }

  /**
   * Sleeps until the earliest firing, at most `maxSleepMs`. Timers have millisecond
   * granularity and wake up to a millisecond late (or early, by the event loop's cached time),
   * so the timer aims `FINE_MS` short and the last stretch is polled on `setImmediate`: a
   * firing starts a fraction of a millisecond after its due time, for about a millisecond of
   * CPU per firing instant (schedules due at the same instant share one poll).
   */
  #arm(): void {
    if (this.#stopping) return;
    let earliest = Number.POSITIVE_INFINITY;
    for (const { state } of this.#schedules.values()) {
      if (state.isArmed && state.fireAt !== undefined && state.fireAt < earliest) {
        earliest = state.fireAt;
      }
    }
    if (earliest === Number.POSITIVE_INFINITY) {
      this.#clearTimers();
      return;
    }
    const now = this.#clock.now();
    if (earliest - now <= FINE_MS) {
      const polling = performance.now();
      this.#pollingSince ??= polling;
      // A clock that does not move (a test's) is not polled for long: back to timers. The
      // poll is not unref()'d: an unref()'d immediate waits for the next event to run.
      if (polling - this.#pollingSince <= MAX_POLL_MS) {
        this.#poll ??= setImmediate(() => {
          this.#poll = undefined;
          this.#wake();
        });
        return;
      }
    } else {
      this.#pollingSince = undefined;
    }
    const wakeAt = now + Math.min(Math.max(earliest - now - FINE_MS, 1), this.#maxSleepMs);
    // A timer that wakes sooner anyway can stay.
    if (this.#timer !== undefined && this.#timerAt <= wakeAt) return;
    this.#timer?.clear();
    this.#timerAt = wakeAt;
    this.#timer = setLongTimeout(() => this.#wake(), wakeAt - now);
    if (!this.#keepAlive) this.#timer.unref();
  }

  #clearTimers(): void {
    this.#timer?.clear();
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    clearImmediate(this.#poll);
    this.#poll = undefined;
    this.#pollingSince = undefined;
  }

  #wake(): void {
    this.#timer?.clear();
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    const steppedBack = now < this.#lastNow - CLOCK_STEP_BACK_MS;
    this.#lastNow = now;
    // A firing's task can add or remove schedules: walk a copy.
    for (const { state } of [...this.#schedules.values()]) {
      if (steppedBack) state.replan(now);
      if (state.isArmed && state.fireAt !== undefined && state.fireAt <= now) state.onDue(now);
    }
    this.#arm();
  }
}

function normalizeScheduledTask(task: TaskSpec): ProcessTask | FunctionTask {
  if (typeof task === 'object' && task !== null && 'pool' in task) {
    throw invalid(
      'task',
      '`{ command }` or `{ fn }`: pool tasks are scheduled through Runyard',
      task,
    );
  }
  const [normalized] = normalizeTask(task as ProcessTask | FunctionTask, undefined, undefined);
  return normalized;
}
