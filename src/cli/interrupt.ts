import { exitCodes } from './usage.js';

/**
 * The first Ctrl-C (or SIGTERM) asks for a graceful stop; a second one exits at once, and the
 * exit hook SIGKILLs the process groups still running. Returns a function that stops listening.
 */
export function onInterrupt(graceful: () => void): () => void {
  let count = 0;
  const handler = () => {
    count++;
    if (count === 1) {
      process.stderr.write('\nrunyard: stopping (press Ctrl-C again to kill at once)\n');
      graceful();
    } else {
      process.exit(exitCodes.interrupted);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
