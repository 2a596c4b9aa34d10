/*
 * `followLogFile()`: follows a log file on disk from another process, like `tail -f`,
 * for runs whose `OutputLog` lives elsewhere.
 */
import { sleepUnlessAborted } from '../core/sleep.js';
import { sleep } from '../core/timers.js';
import type { OutputLine } from '../core/types.js';
import {
  checkAbortSignal,
  checkArgString,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPlainObject,
  invalid,
} from '../core/validate.js';
import { checkNonNegativeInteger, scanFileBatches } from './log-file.js';

export interface FollowLogFileOptions {
  /** First seq. @default 1 */
  from?: number;
  /** Asked whenever the end of the file is reached: true ends the iteration after a last read. */
  isFinished: () => boolean | Promise<boolean>;
  /** How long to wait at the end of the file before reading again. @default 200 */
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Follows a log file another process writes (`tail -f` for a run this process does not own):
 * yields its lines from `from`, then new ones as they are written, until `isFinished()` says
 * the run ended and the rest has been read. Reads resume at the byte offset where the last
 * one stopped, so a long file is not scanned again.
 */
export function followLogFile(
  path: string,
  options: FollowLogFileOptions,
): AsyncGenerator<OutputLine> {
  // Checked here, not in the generator, so a bad call throws at once instead of at first read.
  checkArgString('path', path, { nonEmpty: true });
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'an object with `isFinished`', options);
  }
  checkPlainObject('options', options);
  checkKnownKeys('options', options, ['from', 'isFinished', 'pollMs', 'signal']);
  checkNonNegativeInteger('from', options.from);
  if (typeof options.isFinished !== 'function') {
    throw invalid('isFinished', 'a function', options.isFinished);
  }
  checkNonNegativeNumber('pollMs', options.pollMs);
  checkAbortSignal('signal', options.signal);
  return followLines(path, options);
}

async function* followLines(
  path: string,
  options: FollowLogFileOptions,
): AsyncGenerator<OutputLine> {
  const pollMs = options.pollMs ?? 200;
  let next = options.from ?? 1;
  let offset = 0;
  for (;;) {
    // Read the finish flag before the file, so lines written just before the end are not missed.
    const finished = await options.isFinished();
    try {
      for await (const step of scanFileBatches(path, {
        from: next,
        start: offset,
        signal: options.signal,
      })) {
        offset = step.offset;
        for (const batch of step.batches) {
          for (const line of batch.lines()) {
            if (line.seq < next) continue;
            next = line.seq + 1;
            yield line;
          }
        }
      }
    } catch (error) {
      // Not written yet: the run is still queued.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (finished || options.signal?.aborted) return;
    // A poll of any length (Node cuts a delay of 2^31 ms or more to 1 ms); a signal cuts it short.
    if (options.signal) await sleepUnlessAborted(pollMs, options.signal);
    else await sleep(pollMs);
  }
}
