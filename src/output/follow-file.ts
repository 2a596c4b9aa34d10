import type { OutputLine } from '../core/types.js';
import { formatLogLine, scanLogFile } from './log-file.js';

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
export async function* followLogFile(
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
      for await (const batch of scanLogFile(path, {
        from: 1,
        start: offset,
        signal: options.signal,
      })) {
        for (const line of batch) {
          offset += Buffer.byteLength(formatLogLine(line));
          if (line.seq < next) continue;
          next = line.seq + 1;
          yield line;
        }
      }
    } catch (error) {
      // Not written yet: the run is still queued.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (finished || options.signal?.aborted) return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
