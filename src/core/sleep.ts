/** A wait that an AbortSignal cuts short, for retry backoffs and polls of any length. */
import { setLongTimeout } from './timers.js';

/** Waits `ms`; resolves `false` instead when `signal` aborts first. Leaves no timer behind. */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      timer.clear();
      resolve(false);
    };
    const timer = setLongTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
