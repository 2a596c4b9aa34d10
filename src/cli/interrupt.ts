// Stop signals and a closed output, routed to the command that runs work. Loaded by `main`
// for every command, so it imports nothing heavy: killing trees is in kill-tree.ts.
import { constants } from 'node:os';

/**
 * The signals that mean "stop" to a command that runs programs: a terminal's Ctrl-C
 * (SIGINT), Ctrl-\ (SIGQUIT) and hang-up when it closes or an ssh link drops (SIGHUP), a kill
 * or a container stop (SIGTERM), and SIGUSR2, which process managers send.
 */
export const stopSignals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const;

export interface StopRequest {
  /** The signal, or `SIGPIPE` when stdout or stderr was closed. */
  readonly cause: (typeof stopSignals)[number] | 'SIGPIPE';
  /** 128 + the signal's number, as a shell reports a process a signal ended. */
  readonly exitCode: number;
}

export interface StopHandlers {
  /** The first stop: end the work gracefully (SIGTERM to the trees, SIGKILL after the grace). */
  graceful(stop: StopRequest): void;
  /** A second signal: end the work at once, but still settle and record it. */
  forceful(stop: StopRequest): void;
}

/** How long a forceful stop may take before the command exits anyway. */
const forcefulBoundMs = 10_000;

/**
 * Routes stop signals and a closed output to the command that runs work, one at a time. The
 * first stop wins: its exit code is the command's, however many follow. Without a handler
 * the signals keep Node's default (the process ends) and a closed output exits with 141.
 */
export class Stops {
  #handlers: StopHandlers | undefined;
  #first: StopRequest | undefined;
  #forced = false;
  readonly #onSignal = (signal: NodeJS.Signals) => this.#request(signal as StopRequest['cause']);

  /** The first stop asked for while a handler listened, if any. */
  get first(): StopRequest | undefined {
    return this.#first;
  }

  /** Listens until the returned function is called. */
  listen(handlers: StopHandlers): () => void {
    this.#handlers = handlers;
    for (const signal of stopSignals) process.on(signal, this.#onSignal);
    return () => {
      this.#handlers = undefined;
      for (const signal of stopSignals) process.off(signal, this.#onSignal);
    };
  }

  /** stdout or stderr failed (EPIPE: the reader went away, as in `runyard run -- yes | head -1`). */
  outputClosed(): void {
    if (!this.#handlers) process.exit(this.#first?.exitCode ?? signalExitCode('SIGPIPE'));
    // A closed pipe is not a second Ctrl-C: every later write fails the same way.
    if (this.#first === undefined) this.#request('SIGPIPE');
  }

  #request(cause: StopRequest['cause']): void {
    const handlers = this.#handlers;
    if (!handlers) return;
    if (this.#first === undefined) {
      this.#first = { cause, exitCode: signalExitCode(cause) };
      if (cause !== 'SIGPIPE') {
        process.stderr.write(`\nrunyard: ${cause}: stopping (a second one ends it at once)\n`);
      }
      handlers.graceful(this.#first);
      return;
    }
    if (cause === 'SIGPIPE' || this.#forced) return;
    this.#forced = true;
    process.stderr.write(`runyard: ${cause}: ending it now\n`);
    handlers.forceful(this.#first);
    const exitCode = this.#first.exitCode;
    // The work settles within killGraceMs' SIGKILL bound; never hang on it past this.
    setTimeout(() => process.exit(exitCode), forcefulBoundMs).unref();
  }
}

/** 128 + the signal's number, as a shell reports a process that a signal ended. */
export function signalExitCode(signal: string): number {
  return 128 + ((constants.signals as Record<string, number | undefined>)[signal] ?? 0);
}
