/*
 * `RunRecorder`: writes an executor's jobs and batches to its `RunStore`, repairing refused ones.
 * Kept apart from `executor.ts` so store ordering, retries and backoff stay out of scheduling.
 */
import { ErrorCodes, isRunyardError } from '../core/errors.js';
import { sleepUnlessAborted } from '../core/sleep.js';
import { isTerminalStatus, type RunOwner, type RunRecord, type RunResult } from '../core/types.js';
import { currentOwner, processStartTime } from '../process/owner.js';
import { queuedRecord } from '../run/run-result.js';
import type { RunPatch, RunStore } from '../store/run-store.js';
import { isPassingStoreError } from '../store/store-errors.js';
import type { Batch } from './batch.js';
import { identityOf, type Job, QUEUED } from './job.js';

/**
 * Writes an executor's tasks and batches to its store. Each job's writes run one after the
 * other; a failed write is logged, and the run goes on and settles with its record behind.
 * A run whose record fell behind is brought to its final state once it settled, retried with
 * backoff while the store refuses it (a lock held past the busy timeout, a full disk): a
 * terminal status is never lost while the process lives and the store is open.
 */
export class RunRecorder {
  readonly #store: RunStore;
  /** Recorded on every run, so a recovery elsewhere can tell this live process from a dead one. */
  readonly #owner: RunOwner = currentOwner();
  /** Aborted by `close()`: repairs make one last round and stop. */
  readonly #closing = new AbortController();
  /** Final records of runs whose record fell behind, oldest first. */
  readonly #repairs: RunRecord[] = [];
  #repairing: Promise<void> | undefined;

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
    const writes = job.writes!;
    void writes.then(() => {
      if (!job.unrecorded) return;
      const final = { ...recordOf(job, this.#owner), ...patch } as RunRecord;
      this.#repair(definedFields(final));
    });
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
    batch.record = record;
    batch.writes = this.#store.create(record).catch((error) => reportStoreError(batch.id, error));
  }

  /** Settles the batch's record once its jobs' writes are done; never rejects. */
  batchSettled(batch: Batch<Job>, aborted: boolean): Promise<unknown> {
    const patch = batchPatch(batch, aborted);
    return Promise.all(batch.jobs.map((job) => job.writes))
      .then(() => this.#store.update(batch.id, patch))
      .catch((error) => {
        reportStoreError(batch.id, error);
        this.#repair(definedFields({ ...batch.record!, ...patch } as RunRecord));
      });
  }

  /** Stops retrying repairs after one last round; resolves once they are done. */
  async close(): Promise<void> {
    this.#closing.abort();
    await this.#repairing;
  }

  #repair(final: RunRecord): void {
    this.#repairs.push(final);
    this.#repairing ??= this.#runRepairs().finally(() => {
      this.#repairing = undefined;
    });
  }

  /**
   * Repairs in rounds, oldest first, with backoff between rounds; a round stops at the first
   * refusal, so a store that blocks while it waits for a lock costs one wait a round, however
   * many records are behind.
   */
  async #runRepairs(): Promise<void> {
    const signal = this.#closing.signal;
    for (
      let backoff = firstRepairBackoffMs;
      ;
      backoff = Math.min(backoff * 2, maxRepairBackoffMs)
    ) {
      const isLast = signal.aborted;
      let refusal: { error: unknown } | undefined;
      while (this.#repairs.length > 0) {
        refusal = await this.#bringTo(this.#repairs[0]!);
        // To the back when refused: one record the store always refuses blocks nothing.
        const first = this.#repairs.shift()!;
        if (refusal) {
          this.#repairs.push(first);
          break;
        }
      }
      if (!refusal) return;
      if (isLast) {
        for (const final of this.#repairs.splice(0)) reportStoreError(final.id, refusal.error);
        return;
      }
      // Jitter, so processes that failed together do not all come back at once.
      await sleepUnlessAborted(backoff * (0.75 + Math.random() / 2), signal);
    }
  }

  /**
   * One try to bring a run's stored record to `final`: created if it is missing, updated while
   * it is active, left as it is once terminal. `{ error }` when the store refuses for a reason
   * that may pass.
   */
  async #bringTo(final: RunRecord): Promise<{ error: unknown } | undefined> {
    const store = this.#store;
    const id = final.id;
    const patch: RunPatch & { id?: string; createdAt?: string } = { ...final };
    delete patch.id;
    delete patch.createdAt;
    for (;;) {
      try {
        const current = await store.get(id);
        if (current === undefined) await store.create(final);
        else if (!isTerminalStatus(current.status)) await store.update(id, patch);
        return undefined;
      } catch (error) {
        // Someone else wrote it meanwhile: the next look decides.
        if (isRunyardError(error, 'ERR_CONFLICT')) continue;
        if (isPassingStoreError(error)) return { error };
        reportStoreError(id, error);
        return undefined;
      }
    }
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

/** The first wait before a refused repair is tried again; it doubles up to `maxRepairBackoffMs`. */
const firstRepairBackoffMs = 50;
const maxRepairBackoffMs = 5000;

/** The record without the fields a patch set to `undefined` (removed). */
function definedFields(record: RunRecord): RunRecord {
  const copy = { ...record } as Record<string, unknown>;
  for (const key of Object.keys(copy)) if (copy[key] === undefined) delete copy[key];
  return copy as unknown as RunRecord;
}

function reportStoreError(id: string | undefined, error: unknown): void {
  // The run goes on and settles; only its record is behind.
  console.error(`runyard: could not record run ${id ?? ''} in the store`, error);
}
