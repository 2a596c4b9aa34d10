/*
 * Writes a `ProcessPool`'s tasks to the run store, without ever failing a task for it.
 */
import { ErrorCodes, type RunyardError } from '../../core/errors.js';
import { newRunId } from '../../core/ids.js';
import type { RunOwner, RunRecord, RunStatus } from '../../core/types.js';
import { currentOwner } from '../../process/owner.js';
import type { RunPatch, RunStore } from '../../store/run-store.js';

/** What the recorder keeps on a task; only tasks of a pool with a store carry it. */
export interface TaskRecord {
  readonly runId: string;
  readonly createdAt: number;
  startedAt?: number;
  lines: number;
  bytes: number;
  /** The task's writes, one after the other. */
  writes?: Promise<void>;
  /** A write failed: the rest are skipped (the run goes on regardless). */
  isUnrecorded?: boolean;
}

/**
 * Writes a pool's tasks to its store as runs with `pattern: 'pooled'`: queued when accepted,
 * running when a worker takes them, then terminal. Each task's writes run one after the
 * other; a failed write is logged and the task settles all the same.
 */
export class PoolRecorder {
  readonly #store: RunStore;
  readonly #name: string;
  readonly #pending = new Set<Promise<void>>();
  /** Recorded on every run, so a recovery elsewhere leaves this live pool's runs alone. */
  readonly #owner: RunOwner = currentOwner();

  constructor(store: RunStore, name: string) {
    this.#store = store;
    this.#name = name;
  }

  queued(): TaskRecord {
    const createdAt = Date.now();
    const record: TaskRecord = { runId: newRunId(createdAt), createdAt, lines: 0, bytes: 0 };
    const run: RunRecord = {
      id: record.runId,
      name: this.#name,
      pattern: 'pooled',
      status: 'queued',
      attempt: 1,
      createdAt: new Date(createdAt).toISOString(),
      output: { lines: 0, bytes: 0, truncated: false },
      owner: this.#owner,
    };
    this.#write(record, (store) => store.create(run));
    return record;
  }

  started(record: TaskRecord, pid: number | undefined): void {
    record.startedAt = Date.now();
    const patch: RunPatch = {
      status: 'running',
      startedAt: new Date(record.startedAt).toISOString(),
    };
    if (pid !== undefined) patch.pid = pid;
    this.#write(record, (store) => store.update(record.runId, patch));
  }

  log(record: TaskRecord, text: string): void {
    record.lines++;
    record.bytes += Buffer.byteLength(text) + 1;
  }

  settled(record: TaskRecord, error: RunyardError | undefined): void {
    const finishedAt = Date.now();
    const patch: RunPatch = {
      status: statusOf(error),
      finishedAt: new Date(finishedAt).toISOString(),
      output: { lines: record.lines, bytes: record.bytes, truncated: false },
    };
    if (record.startedAt !== undefined) patch.durationMs = finishedAt - record.startedAt;
    if (error !== undefined) patch.error = { code: error.code, message: error.message };
    this.#write(record, (store) => store.update(record.runId, patch));
  }

  /** Resolves once every write started so far has settled; never rejects. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all(this.#pending);
  }

  #write(record: TaskRecord, write: (store: RunStore) => Promise<unknown>): void {
    const store = this.#store;
    const done = (record.writes ?? Promise.resolve()).then(async () => {
      if (record.isUnrecorded) return;
      try {
        await write(store);
      } catch (error) {
        record.isUnrecorded = true;
        // The task goes on and settles; only its record is behind.
        console.error(`runyard: could not record pooled run ${record.runId} in the store`, error);
      }
    });
    record.writes = done;
    this.#pending.add(done);
    void done.then(() => this.#pending.delete(done));
  }
}

function statusOf(error: RunyardError | undefined): RunStatus {
  if (error === undefined) return 'succeeded';
  if (error.code === ErrorCodes.TIMEOUT) return 'timed_out';
  if (error.code === ErrorCodes.CANCELLED || error.code === ErrorCodes.CLOSED) return 'cancelled';
  return 'failed';
}
