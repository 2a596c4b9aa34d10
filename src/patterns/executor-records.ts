import { ErrorCodes } from '../core/errors.js';
import type { RunOwner, RunRecord, RunResult } from '../core/types.js';
import { currentOwner, processStartTime } from '../process/owner.js';
import type { RunPatch, RunStore } from '../store/run-store.js';
import type { Batch } from './batch.js';
import { identityOf, type Job, QUEUED } from './executor-job.js';
import { queuedRecord } from './run-result.js';

/**
 * Writes an executor's tasks and batches to its store. Each job's writes run one after the
 * other; a failed write is logged, and the run goes on and settles with its record behind.
 */
export class RunRecorder {
  readonly #store: RunStore;
  /** Recorded on every run, so a recovery elsewhere can tell this live process from a dead one. */
  readonly #owner: RunOwner = currentOwner();

  constructor(store: RunStore) {
    this.#store = store;
  }

  created(job: Job): void {
    // The record is made when the write runs: a job no longer queued by then has no `waitingFor`.
    this.#write(job, (store) => store.create(recordOf(job, this.#owner)));
  }

  waitingForResources(job: Job): void {
    this.#write(job, (store) => store.update(job.id!, { waitingFor: 'resources' }));
  }

  started(job: Job, pid: number | undefined): void {
    const patch: RunPatch = {
      status: 'running',
      startedAt: new Date().toISOString(),
      waitingFor: undefined,
    };
    if (pid !== undefined) {
      patch.pid = pid;
      const childStartTime = processStartTime(pid);
      if (childStartTime !== undefined) patch.childStartTime = childStartTime;
    }
    this.#write(job, (store) => store.update(job.id!, patch));
  }

  settled(job: Job, result: RunResult): void {
    const patch = terminalPatch(result);
    this.#write(job, (store) => store.update(job.id!, patch));
  }

  /** Creates the batch's own record, `running` from the start; its jobs' writes wait for it. */
  batchCreated(batch: Batch, name: string, createdAt: string): void {
    const record: RunRecord = {
      id: batch.id,
      name,
      pattern: 'concurrent',
      status: 'running',
      attempt: 1,
      createdAt,
      startedAt: createdAt,
      output: { lines: 0, bytes: 0, truncated: false },
      owner: this.#owner,
    };
    batch.writes = this.#store.create(record).catch((error) => reportStoreError(batch.id, error));
  }

  /** Settles the batch's record once its jobs' writes are done; never rejects. */
  batchSettled(batch: Batch, aborted: boolean): Promise<unknown> {
    const patch = batchPatch(batch, aborted);
    return Promise.all(batch.jobs.map((job) => job.writes))
      .then(() => this.#store.update(batch.id, patch))
      .catch((error) => reportStoreError(batch.id, error));
  }

  /** Chains a store write after the job's earlier ones; the first failure stops the rest. */
  #write(job: Job, write: (store: RunStore) => Promise<unknown>): void {
    const store = this.#store;
    job.writes = (job.writes ?? Promise.resolve()).then(() => {
      if (job.unrecorded) return;
      return write(store).catch((error: unknown) => {
        job.unrecorded = true;
        reportStoreError(job.id, error);
      });
    });
  }
}

function recordOf(job: Job, owner: RunOwner): RunRecord {
  const record = queuedRecord(identityOf(job));
  record.owner = owner;
  if (job.parentId !== undefined) record.parentId = job.parentId;
  const labels = job.options?.labels;
  if (labels !== undefined) record.labels = { ...labels };
  if (job.state === QUEUED) record.waitingFor = job.waitingFor;
  return record;
}

/** A settled run's record fields: the result without what only the caller gets. */
function terminalPatch(result: RunResult): RunPatch {
  const patch: Partial<RunResult> = { ...result, waitingFor: undefined };
  delete patch.id;
  delete patch.createdAt;
  delete patch.stdout;
  delete patch.stderr;
  delete patch.value;
  delete patch.ok;
  return patch;
}

/** A settled batch's record fields: its jobs' output summed, and why it did not succeed. */
function batchPatch(batch: Batch, aborted: boolean): RunPatch {
  const output = { lines: 0, bytes: 0, truncated: false };
  for (const result of batch.results) {
    output.lines += result.output.lines;
    output.bytes += result.output.bytes;
    output.truncated ||= result.output.truncated;
  }
  const finishedAt = Date.now();
  const patch: RunPatch = {
    status: batch.succeeded === batch.total ? 'succeeded' : aborted ? 'cancelled' : 'failed',
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: finishedAt - batch.createdAt,
    output,
  };
  if (batch.succeeded < batch.total) {
    patch.error = {
      code: aborted ? ErrorCodes.CANCELLED : ErrorCodes.FAILED,
      message: `${batch.total - batch.succeeded} of ${batch.total} tasks did not succeed (${batch.failed} failed, ${batch.cancelled} cancelled)`,
    };
  }
  return patch;
}

function reportStoreError(id: string | undefined, error: unknown): void {
  // The run goes on and settles; only its record is behind.
  console.error(`runyard: could not record run ${id ?? ''} in the store`, error);
}
