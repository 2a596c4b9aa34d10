/*
 * `ScheduleState`: one schedule's plan, counters and overlap policy, behind the public `Schedule`.
 * Separate from `scheduler.ts`, which owns the shared timer; this file decides each firing.
 */
import { ErrorCodes, RunyardError } from '../core/errors.js';
import type { FunctionTask, ProcessTask, RunRecord } from '../core/types.js';
import type { TaskManager } from '../tasks/task-manager.js';
import { type Firing, startFiring } from './firing.js';
import { findHistory } from './history.js';
import {
  type ResolvedScheduleOptions,
  type ScheduleTrigger,
  schedulerDefaults,
} from './schedule-options.js';
import {
  type CronTimes,
  firingsBetween,
  intervalRunsBetween,
  nextIntervalRun,
} from './schedule-time.js';
import type { FiringReason, SchedulerListeners } from './scheduler-listeners.js';

/** What a schedule needs from its scheduler. */
export interface ScheduleHost {
  readonly manager: TaskManager | undefined;
  readonly listeners: SchedulerListeners;
  now(): number;
  /** The schedule's next firing time changed. */
  rearm(): void;
  /** The schedule was removed: forget its name, keep waiting for its runs. */
  retire(state: ScheduleState): void;
}

/** A request to start a run: from the timer, at start, after downtime, or `trigger()`. */
interface FiringRequest {
  readonly reason: FiringReason;
  readonly due: number | undefined;
  readonly resolve?: (record: RunRecord) => void;
  readonly reject?: (error: unknown) => void;
}

interface RunningFiring {
  readonly firing: Firing;
  readonly done: Promise<void>;
}

/** One schedule's state and behaviour; `Schedule` is its public face. */
export class ScheduleState {
  readonly name: string;
  readonly id: string;
  readonly spec: ScheduleTrigger;
  readonly options: ResolvedScheduleOptions;
  readonly #host: ScheduleHost;
  readonly #task: ProcessTask | FunctionTask;
  readonly #cron: CronTimes | undefined;
  readonly #everyMs: number | undefined;
  #anchor: number;
  /** The grid time of the next firing; the timer wakes at `fireAt` (jitter added). */
  #nextDue: number | undefined;
  fireAt: number | undefined;
  isPaused = false;
  #isRestoring = false;
  #isClosed = false;
  /** `maxRuns` reached, or a cron expression with no later firing. */
  #isFinished = false;
  lastRun: RunRecord | undefined;
  #lastRunId: string | undefined;
  missed = 0;
  skipped = 0;
  runs = 0;
  failures = 0;
  readonly #running = new Set<RunningFiring>();
  #waiting: FiringRequest | undefined;

  constructor(init: {
    name: string;
    id: string;
    trigger: ScheduleTrigger;
    cron: CronTimes | undefined;
    task: ProcessTask | FunctionTask;
    options: ResolvedScheduleOptions;
    host: ScheduleHost;
  }) {
    this.name = init.name;
    this.id = init.id;
    this.spec = init.trigger;
    this.#cron = init.cron;
    this.#everyMs = 'everyMs' in init.trigger ? init.trigger.everyMs : undefined;
    this.#task =
      init.options.timeoutMs === undefined
        ? init.task
        : { ...init.task, timeoutMs: init.options.timeoutMs };
    this.options = init.options;
    this.#host = init.host;
    const now = init.host.now();
    this.#anchor = now;
    this.#plan(now);
  }

  /** Fires at start, and looks for downtime in the store when there is a manager. */
  begin(): void {
    if (this.#host.manager) {
      this.#isRestoring = true;
      void this.#restore(this.#host.manager);
    } else if (this.options.runOnStart) {
      // After `add()` has returned the schedule, not inside it.
      queueMicrotask(() => this.#request({ reason: 'start', due: undefined }));
    }
  }

  /** The timer may fire this schedule: not paused, finished, closed or restoring. */
  get isArmed(): boolean {
    return !this.isPaused && !this.#isRestoring && !this.#isFinished && !this.#isClosed;
  }

  /** While the store is searched for downtime, the plan made at `add()` shows. */
  get nextRunAt(): Date | null {
    const isWaiting = !this.isPaused && !this.#isFinished && !this.#isClosed;
    return isWaiting && this.fireAt !== undefined ? new Date(this.fireAt) : null;
  }

  get running(): number {
    return this.#running.size;
  }

  /** The timer woke at or after `fireAt`. */
  onDue(now: number): void {
    const due = this.#nextDue;
    if (due === undefined) return;
    // Due times the clock has also passed (a blocked event loop, a suspended machine) are
    // missed: one run stands in for them, for the latest.
    const passed = this.#duesBetween(due, now - this.options.jitterMs);
    const latest = passed.last ?? due;
    if (passed.count > 0) this.#reportMissed(passed.count, due, latest, passed.capped);
    this.#plan(passed.capped ? now : latest);
    this.#request({ reason: 'scheduled', due: latest });
  }

  /** The clock went back: plan from the new time rather than wait for the old one. */
  replan(now: number): void {
    this.#plan(now);
  }

  pause(): void {
    this.isPaused = true;
    this.#host.rearm();
  }

  resume(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    this.#plan(this.#host.now());
    this.#host.rearm();
  }

  trigger(): Promise<RunRecord> {
    return new Promise((resolve, reject) => {
      this.#request({ reason: 'manual', due: undefined, resolve, reject });
    });
  }

  remove(): void {
    if (this.#isClosed) return;
    this.close();
    this.#host.retire(this);
  }

  /** No more firings: a waiting one is refused with `ERR_CLOSED`; running ones go on. */
  close(): void {
    this.#isClosed = true;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.reject?.(
      new RunyardError(ErrorCodes.CLOSED, `The schedule \`${this.name}\` was stopped or removed`),
    );
  }

  /** Settles when every run this schedule started has ended. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) {
      await Promise.allSettled([...this.#running].map((running) => running.done));
    }
  }

  cancelRunning(reason: string): void {
    for (const running of this.#running) running.firing.cancel(reason);
  }

  #nextAfter(t: number): number | null {
    if (this.#cron) return this.#cron.next(t);
    return nextIntervalRun(this.#anchor, this.#everyMs!, t);
  }

  /** Due times in `(after, upTo]`. */
  #duesBetween(after: number, upTo: number) {
    if (this.#cron)
      return firingsBetween(this.#cron, after, upTo, schedulerDefaults.missedCountCap);
    return intervalRunsBetween(this.#anchor, this.#everyMs!, after, upTo);
  }

  /** Sets the next firing after `from`. */
  #plan(from: number): void {
    const next = this.#isFinished ? null : this.#nextAfter(from);
    if (next === null) {
      this.#isFinished = true;
      this.#nextDue = undefined;
      this.fireAt = undefined;
      return;
    }
    this.#nextDue = next;
    const jitter =
      this.options.jitterMs > 0 ? Math.floor(Math.random() * this.options.jitterMs) : 0;
    this.fireAt = next + jitter;
  }

  #reportMissed(count: number, since: number, until: number, capped: boolean): void {
    this.missed += count;
    this.#host.listeners.emit('missed', {
      schedule: this.name,
      count,
      since: new Date(since),
      until: new Date(until),
      capped,
    });
  }

  async #restore(manager: TaskManager): Promise<void> {
    let catchUpDue: number | undefined;
    try {
      const history = await findHistory(manager, this.id);
      if (this.#isClosed) return;
      if (history.last && this.#lastRunId === undefined) this.lastRun = history.last;
      const now = this.#host.now();
      if (history.lastDue !== undefined) {
        if (this.#everyMs !== undefined) this.#anchor = history.lastDue;
        const passed = this.#duesBetween(history.lastDue, now);
        if (passed.count > 0) {
          const first = this.#nextAfter(history.lastDue) ?? history.lastDue;
          this.#reportMissed(passed.count, first, now, passed.capped);
          if (this.options.catchUp === 'one') catchUpDue = passed.last;
        }
        this.#plan(now);
      }
      // Without history the plan made at `add()` stands: a firing that came due during the
      // look runs now.
    } catch (error) {
      if (!this.#isClosed) this.#host.listeners.emit('error', { schedule: this.name, error });
    } finally {
      this.#isRestoring = false;
    }
    if (this.#isClosed) return;
    this.#host.rearm();
    if (catchUpDue !== undefined) this.#request({ reason: 'catch-up', due: catchUpDue });
    else if (this.options.runOnStart) this.#request({ reason: 'start', due: undefined });
  }

  /** Starts, queues or drops a firing as the overlap policy says. */
  #request(request: FiringRequest): void {
    if (this.#isClosed) {
      request.reject?.(
        new RunyardError(ErrorCodes.CLOSED, `The schedule \`${this.name}\` was stopped or removed`),
      );
      return;
    }
    if (request.reason !== 'manual' && this.runs >= this.options.maxRuns) return;
    if (this.#running.size === 0 && this.#waiting === undefined) {
      this.#start(request);
      return;
    }
    switch (this.options.overlap) {
      case 'allow':
        this.#start(request);
        return;
      case 'skip':
        this.#skip(request);
        return;
      case 'queue':
        if (this.#waiting) this.#skip(request);
        else this.#waiting = request;
        return;
      case 'cancel-previous':
        if (this.#waiting) this.#skip(this.#waiting);
        this.#waiting = request;
        this.cancelRunning(
          `a newer firing of \`${this.name}\` replaced it (overlap: cancel-previous)`,
        );
        return;
    }
  }

  #skip(request: FiringRequest): void {
    this.skipped++;
    const dueAt = request.due === undefined ? undefined : new Date(request.due);
    this.#host.listeners.emit('skip', {
      schedule: this.name,
      reason: request.reason,
      dueAt,
      skipped: this.skipped,
    });
    request.reject?.(
      new RunyardError(
        ErrorCodes.CONFLICT,
        `The schedule \`${this.name}\` is still running its previous firing (overlap: ${this.options.overlap})`,
      ),
    );
  }

  #start(request: FiringRequest): void {
    if (request.reason !== 'manual') {
      this.runs++;
      if (this.runs >= this.options.maxRuns) {
        this.#isFinished = true;
        this.#plan(0);
        this.#host.rearm();
      }
    }
    const labels: Record<string, string> = {
      ...this.options.labels,
      schedule: this.name,
      firing: request.reason,
    };
    // Only the timer's firings carry a due time: a restart counts missed firings from it.
    if (
      request.due !== undefined &&
      (request.reason === 'scheduled' || request.reason === 'catch-up')
    ) {
      labels.due = new Date(request.due).toISOString();
    }
    const firing = startFiring({
      manager: this.#host.manager,
      task: this.#task,
      name: this.#task.name ?? this.name,
      parentId: this.id,
      retries: this.options.retries,
      labels,
    });
    const done = this.#follow(firing, request);
    const running: RunningFiring = { firing, done };
    this.#running.add(running);
    void done.finally(() => {
      this.#running.delete(running);
      this.#afterRun();
    });
  }

  async #follow(firing: Firing, request: FiringRequest): Promise<void> {
    let record: RunRecord;
    try {
      record = await firing.started;
    } catch (error) {
      this.failures++;
      request.reject?.(error);
      this.#host.listeners.emit('error', { schedule: this.name, error });
      return;
    }
    this.#lastRunId = record.id;
    this.lastRun = record;
    request.resolve?.(structuredClone(record));
    this.#host.listeners.emit('fire', {
      schedule: this.name,
      run: record,
      reason: request.reason,
      dueAt: request.due === undefined ? undefined : new Date(request.due),
    });
    let ended: RunRecord;
    try {
      ended = await firing.done;
    } catch (error) {
      this.failures++;
      this.#host.listeners.emit('error', { schedule: this.name, error });
      return;
    }
    if (ended.status !== 'succeeded') this.failures++;
    if (this.#lastRunId === ended.id) this.lastRun = ended;
    this.#host.listeners.emit('end', { schedule: this.name, run: ended });
  }

  #afterRun(): void {
    if (this.#running.size > 0 || this.#waiting === undefined) return;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    this.#start(waiting);
  }
}
