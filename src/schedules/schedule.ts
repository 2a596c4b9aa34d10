/*
 * `Schedule`: the public face of one schedule, forwarding to its internal `ScheduleState`.
 * Separate so callers get live getters and `toJSON()` without reaching the mutable state.
 */
import type { RunRecord } from '../core/types.js';
import type { ScheduleTrigger } from './schedule-options.js';
import type { ScheduleState } from './schedule-state.js';

/**
 * One named schedule of a `Scheduler`, made by `scheduler.add()`. Its fields are live: they
 * change as the schedule fires.
 */
export class Schedule {
  readonly #state: ScheduleState;

  /** @internal Made by `Scheduler.add()`. */
  constructor(state: ScheduleState) {
    this.#state = state;
  }

  get name(): string {
    return this.#state.name;
  }

  /** Stable, from the name: the `parentId` of every run this schedule makes. */
  get id(): string {
    return this.#state.id;
  }

  /** The interval in ms, for `{ everyMs }` schedules. */
  get everyMs(): number | undefined {
    return 'everyMs' in this.#state.spec ? this.#state.spec.everyMs : undefined;
  }

  /** The cron expression, for `{ cron }` schedules. */
  get cron(): string | undefined {
    return 'cron' in this.#state.spec ? this.#state.spec.cron : undefined;
  }

  /** The time zone a cron expression is read in. */
  get timezone(): string | undefined {
    return 'cron' in this.#state.spec ? this.#state.spec.timezone : undefined;
  }

  /** When the timer fires next (jitter included); `null` while paused, finished or removed. */
  get nextRunAt(): Date | null {
    return this.#state.nextRunAt;
  }

  /** The newest firing's run: as it started, then as it ended. */
  get lastRun(): RunRecord | undefined {
    const run = this.#state.lastRun;
    return run === undefined ? undefined : structuredClone(run);
  }

  /** Firings that came due while nothing could run them (downtime, a clock jump). */
  get missed(): number {
    return this.#state.missed;
  }

  /** Firings the overlap policy dropped because an earlier run still went on. */
  get skipped(): number {
    return this.#state.skipped;
  }

  get paused(): boolean {
    return this.#state.isPaused;
  }

  /** Runs the schedule started by itself (what `maxRuns` counts; `trigger()` runs are not). */
  get runs(): number {
    return this.#state.runs;
  }

  /** Firings that could not start or whose run did not succeed. */
  get failures(): number {
    return this.#state.failures;
  }

  /** Runs of this schedule going on now. */
  get running(): number {
    return this.#state.running;
  }

  /** No scheduled firings until `resume()`; running ones go on, `trigger()` still works. */
  pause(): void {
    this.#state.pause();
  }

  /** Fires again from the next due time after now; firings due while paused are not run. */
  resume(): void {
    this.#state.resume();
  }

  /**
   * Runs the task now, as the overlap policy allows, and resolves with the run once it has
   * started. `ERR_CONFLICT` when the policy drops it (`skip`, or `queue` with one waiting);
   * `ERR_CLOSED` once the schedule is removed or the scheduler stopped.
   */
  trigger(): Promise<RunRecord> {
    return this.#state.trigger();
  }

  /** Removes the schedule; its name is free again. Runs going on are left to end. */
  remove(): void {
    this.#state.remove();
  }

  /** What the server and `runyard schedules` show. */
  toJSON(): {
    name: string;
    id: string;
    trigger: ScheduleTrigger;
    nextRunAt: string | null;
    lastRun: RunRecord | undefined;
    missed: number;
    skipped: number;
    paused: boolean;
    runs: number;
    failures: number;
    running: number;
  } {
    return {
      name: this.name,
      id: this.id,
      trigger: { ...this.#state.spec },
      nextRunAt: this.nextRunAt?.toISOString() ?? null,
      lastRun: this.lastRun,
      missed: this.missed,
      skipped: this.skipped,
      paused: this.paused,
      runs: this.runs,
      failures: this.failures,
      running: this.running,
    };
  }
}
