/*
 * Writes a `ThreadPool`'s tasks to the run store, without ever failing a task for it.
 */
import { ErrorCodes, type RunyardError } from '../../core/errors.js';
import type { RunError, RunOwner, RunRecord, TerminalStatus } from '../../core/types.js';
import { currentOwner } from '../../process/owner.js';
import type { RunPatch, RunStore } from '../../store/run-store.js';

/** The part of a pooled task that its run record is made from. */
export interface RecordedTask {
  /** The run's id. */
  readonly id: string;
  readonly name: string;
  /** Milliseconds since the Unix epoch. */
  readonly createdAt: number;
  /** The task's store writes, in order. */
  writes: Promise<void>;
  /** Set once a write failed: the later ones are skipped. */
  unrecorded: boolean;
}

/**
 * Writes a pool's tasks to its store: created `running` (or `queued` while it waits for a
 * thread), then updated terminal. Each task's writes run one after the other; a failed write
 * is logged and the task goes on, its record behind.
 */
export class PoolRecorder {
  readonly #store: RunStore;
  /** Recorded on every run, so a recovery elsewhere leaves this live pool's runs alone. */
  readonly #owner: RunOwner = currentOwner();

  constructor(store: RunStore) {
    this.#store = store;
  }

  created(task: RecordedTask, status: 'queued' | 'running'): void {
    const createdAt = new Date(task.createdAt).toISOString();
    const record: RunRecord = {
      id: task.id,
      name: task.name,
      pattern: 'pooled',
      status,
      attempt: 1,
      createdAt,
      output: { lines: 0, bytes: 0, truncated: false },
      owner: this.#owner,
    };
    if (status === 'running') record.startedAt = createdAt;
    this.#write(task, (store) => store.create(record));
  }

  started(task: RecordedTask, at: number): void {
    const patch: RunPatch = { status: 'running', startedAt: new Date(at).toISOString() };
    this.#write(task, (store) => store.update(task.id, patch));
  }

  /** Resolves once the task's writes are done; never rejects. */
  settled(
    task: RecordedTask,
    status: TerminalStatus,
    error: RunError | undefined,
    startedAt: number | undefined,
  ): Promise<void> {
    const finishedAt = Date.now();
    const patch: RunPatch = {
      status,
      finishedAt: new Date(finishedAt).toISOString(),
    };
    if (startedAt !== undefined) {
      // The time the task began on its thread, more exact than when it was handed over.
      patch.startedAt = new Date(startedAt).toISOString();
      patch.durationMs = Math.max(0, finishedAt - startedAt);
    }
    if (error !== undefined) patch.error = error;
    this.#write(task, (store) => store.update(task.id, patch));
    return task.writes;
  }

  #write(task: RecordedTask, write: (store: RunStore) => Promise<unknown>): void {
    const store = this.#store;
    task.writes = task.writes.then(() => {
      if (task.unrecorded) return;
      return write(store).then(
        () => {},
        (error: unknown) => {
          task.unrecorded = true;
          // The task goes on and settles; only its record is behind.
          console.error(`runyard: could not record run ${task.id} in the store`, error);
        },
      );
    });
  }
}

/** A settled task's run status: from its error's code, `succeeded` without one. */
export function statusOf(error: RunyardError | undefined): TerminalStatus {
  if (error === undefined) return 'succeeded';
  if (error.code === ErrorCodes.CANCELLED || error.code === ErrorCodes.CLOSED) return 'cancelled';
  if (error.code === ErrorCodes.TIMEOUT) return 'timed_out';
  return 'failed';
}
