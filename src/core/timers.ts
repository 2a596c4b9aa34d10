/**
 * Timers for any duration. Node clamps a delay of 2³¹ ms (~24.8 days) or more to 1 ms, which
 * turns a 30-day timeout into an instant one; these chain shorter timers up to the deadline.
 */

/** The longest delay Node's timers take as given. */
export const maxTimerDelayMs = 2 ** 31 - 1;

/** A timer that may outlast Node's limit; `unref()` and `clear()` apply to the whole chain. */
export interface LongTimer {
  clear(): void;
  unref(): LongTimer;
  ref(): LongTimer;
}

/**
 * Calls `callback` once, `ms` from now, whatever `ms` is (`Infinity` never fires). The
 * deadline is kept on the monotonic clock, so a changed wall clock moves nothing.
 */
export function setLongTimeout(callback: () => void, ms: number): LongTimer {
  const deadline = performance.now() + Math.max(0, ms);
  let timer: NodeJS.Timeout | undefined;
  let isRefed = true;
  const arm = (delay: number) => {
    if (delay === Number.POSITIVE_INFINITY) return;
    timer = setTimeout(onTimer, Math.min(delay, maxTimerDelayMs));
    if (!isRefed) timer.unref();
  };
  const onTimer = () => {
    const left = deadline - performance.now();
    // A chained step can end a little early: re-arm for what is left.
    if (left > 1) arm(left);
    else {
      timer = undefined;
      callback();
    }
  };
  arm(Math.max(0, ms));
  const handle: LongTimer = {
    clear() {
      clearTimeout(timer);
      timer = undefined;
    },
    unref() {
      isRefed = false;
      timer?.unref();
      return handle;
    },
    ref() {
      isRefed = true;
      timer?.ref();
      return handle;
    },
  };
  return handle;
}

/** Waits `ms`, any length. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setLongTimeout(resolve, ms));
}
