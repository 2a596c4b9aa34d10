/*
 * `Batch`: the counts, progress reports and input-ordered results of one `Executor.runAll()` call.
 * Separate from `job.ts` and `executor.ts` so batch bookkeeping does not depend on job internals.
 */
import type { RunRecord, RunResult } from '../core/types.js';
import type { BatchProgress, RunAllOptions } from './executor-options.js';

/**
 * The jobs of one `runAll()` call: their counts, and their results in input order. Generic in
 * its job type so that this file and the job's need not import each other.
 */
export class Batch<J = unknown> {
  done = 0;
  running = 0;
  queued: number;
  succeeded = 0;
  failed = 0;
  cancelled = 0;
  cancelling = false;
  readonly results: RunResult[];
  readonly jobs: J[] = [];
  readonly promise: Promise<RunResult[]>;
  resolve!: (results: RunResult[]) => void;
  onAbort: (() => void) | undefined;
  /** The batch record's creation, which its jobs' writes follow; undefined without a store. */
  writes: Promise<unknown> | undefined;
  /** The batch's own record as created; undefined without a store. */
  record: RunRecord | undefined;

  constructor(
    readonly id: string,
    readonly total: number,
    readonly createdAt: number,
    readonly options: RunAllOptions | undefined,
  ) {
    this.queued = total;
    this.results = new Array<RunResult>(total);
    this.promise = new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  /** Counts a job that left the queue and started. */
  started(): void {
    this.queued--;
    this.running++;
  }

  /** Counts a job's result and keeps it at the job's place in the input. */
  settled(index: number, result: RunResult, wasRunning: boolean): void {
    if (wasRunning) this.running--;
    else this.queued--;
    this.done++;
    const status = result.status;
    if (status === 'succeeded') this.succeeded++;
    else if (status === 'cancelled') this.cancelled++;
    else this.failed++;
    this.results[index] = result;
  }

  /** Calls `onProgress`, if given; one that throws is logged and the batch goes on. */
  reportProgress(lastResult: RunResult | undefined): void {
    if (!this.options?.onProgress) return;
    const progress: BatchProgress = {
      total: this.total,
      done: this.done,
      running: this.running,
      queued: this.queued,
      succeeded: this.succeeded,
      failed: this.failed,
      cancelled: this.cancelled,
    };
    if (lastResult !== undefined) progress.lastResult = lastResult;
    try {
      this.options.onProgress(progress);
    } catch (error) {
      console.error('runyard: onProgress threw', error);
    }
  }
}
