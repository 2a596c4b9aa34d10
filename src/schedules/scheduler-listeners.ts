/*
 * `SchedulerListeners` and the `SchedulerEvents` types: `fire`, `end`, `skip`, `missed`, `error`.
 * Split out so `ScheduleState` can emit events through its host without importing `scheduler.ts`.
 */
import type { RunRecord } from '../core/types.js';
import { checkFunction, invalid } from '../core/validate.js';

/** Why a schedule started a run. */
export type FiringReason = 'scheduled' | 'catch-up' | 'start' | 'manual';

/** What a `Scheduler` tells its listeners; one payload object per event. */
export interface SchedulerEvents {
  /** A firing started a run (recorded, when there is a manager). */
  fire: { schedule: string; run: RunRecord; reason: FiringReason; dueAt: Date | undefined };
  /** A firing's run ended, whatever its status. */
  end: { schedule: string; run: RunRecord };
  /** A firing came due while an earlier run went on, and the overlap policy dropped it. */
  skip: { schedule: string; reason: FiringReason; dueAt: Date | undefined; skipped: number };
  /**
   * `count` firings, due from `since` up to `until`, came due while nothing could run them:
   * downtime found at `add()`, or a clock or event loop that jumped past several. `capped`:
   * there were at least `count`.
   */
  missed: { schedule: string; count: number; since: Date; until: Date; capped: boolean };
  /** A firing could not start (the store failed, the manager was shut down). The schedule goes on. */
  error: { schedule: string; error: unknown };
}

export type SchedulerEventName = keyof SchedulerEvents;
type Listener<E extends SchedulerEventName> = (payload: SchedulerEvents[E]) => void;

const eventNames: readonly SchedulerEventName[] = ['fire', 'end', 'skip', 'missed', 'error'];

/** A scheduler's listeners, by event. */
export class SchedulerListeners {
  readonly #listeners = new Map<SchedulerEventName, Set<Listener<never>>>();

  /** Adds `listener` (once, however often it is added); returns the unsubscribe function. */
  on<E extends SchedulerEventName>(event: E, listener: Listener<E>): () => void {
    if (!eventNames.includes(event)) {
      throw invalid('event', eventNames.map((name) => `'${name}'`).join(', '), event);
    }
    checkFunction('listener', listener);
    let listeners = this.#listeners.get(event);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(event, listeners);
    }
    listeners.add(listener as Listener<never>);
    return () => {
      listeners.delete(listener as Listener<never>);
    };
  }

  /** Calls every listener of `event`; one that throws is logged and the others still run. */
  emit<E extends SchedulerEventName>(event: E, payload: SchedulerEvents[E]): void {
    const listeners = this.#listeners.get(event);
    if (!listeners) return;
    for (const listener of listeners) {
      try {
        (listener as Listener<E>)(payload);
      } catch (error) {
        console.error(`runyard: a scheduler '${event}' listener threw`, error);
      }
    }
  }
}
