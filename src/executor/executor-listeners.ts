/*
 * `ExecutorListeners`: the `start` and `end` listeners of an `Executor`, and how they are called.
 * Split from `executor.ts` so event wiring and its error handling stay out of the scheduling code.
 */
import type { RunResult } from '../core/types.js';
import { checkFunction, invalid } from '../core/validate.js';

export interface ExecutorEvents {
  /** A task left the queue and started. */
  start: { id: string; name: string; pid: number | undefined; parentId: string | undefined };
  /** A task settled, whether it ran or not. */
  end: { result: RunResult };
}

type Listener<E extends keyof ExecutorEvents> = (payload: ExecutorEvents[E]) => void;

/** An executor's listeners, by event. */
export class ExecutorListeners {
  readonly #listeners = {
    start: new Set<Listener<'start'>>(),
    end: new Set<Listener<'end'>>(),
  };
  #count = 0;

  /** Listeners of every event: with none, the executor does not even build a payload. */
  get count(): number {
    return this.#count;
  }

  /** Adds `listener` (once, however often it is added); returns the unsubscribe function. */
  on<E extends keyof ExecutorEvents>(event: E, listener: Listener<E>): () => void {
    if (!Object.hasOwn(this.#listeners, event)) throw invalid('event', "'start' or 'end'", event);
    const listeners = this.#listeners[event] as Set<Listener<E>>;
    checkFunction('listener', listener);
    if (!listeners.has(listener)) {
      listeners.add(listener);
      this.#count++;
    }
    return () => {
      if (listeners.delete(listener)) this.#count--;
    };
  }

  /** Calls every listener of `event`; one that throws is logged and the others still run. */
  emit<E extends keyof ExecutorEvents>(event: E, payload: ExecutorEvents[E]): void {
    for (const listener of this.#listeners[event] as Set<Listener<E>>) {
      try {
        listener(payload);
      } catch (error) {
        console.error(`runyard: an executor '${event}' listener threw`, error);
      }
    }
  }
}
