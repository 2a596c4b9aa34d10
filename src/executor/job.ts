/*
 * `Job`: one executor task from acceptance to result, with `launch()` and the not-started results.
 * Separate from `executor.ts` so a task's own state, start and results stand apart from the queue.
 */
import { basename, join } from 'node:path';
import { newRunId } from '../core/ids.js';
import type { FunctionTask, ProcessTask, RunResult, RunStatus } from '../core/types.js';
import { OutputLog } from '../output/output-log.js';
import { type ActiveRun, closingOutput, executeTask } from '../run/execute-task.js';
import { queuedRecord, type RunIdentity } from '../run/run-result.js';
import type { AdmissionItem } from './admission.js';
import type { Batch } from './batch.js';
import type { SubmitOptions } from './executor-options.js';
import type { QueueItem } from './priority-queue.js';

export const QUEUED = 0;
export const RUNNING = 1;
export const DONE = 2;
const noop = () => {};

/** One task from acceptance to its result. */
export class Job implements QueueItem, AdmissionItem {
  seq = 0;
  queueIndex = -1;
  state = QUEUED;
  waitingFor: 'concurrency' | 'resources' = 'concurrency';
  deadline = 0;
  active: ActiveRun | undefined = undefined;
  /** Listens to the caller's `signal` while the job is queued. */
  onAbort: (() => void) | undefined = undefined;
  /** Store writes, in order; undefined without a store. */
  writes: Promise<unknown> | undefined = undefined;
  /** A store write failed: the later ones are skipped. */
  unrecorded = false;
  resolve: ((result: RunResult) => void) | undefined = undefined;
  reject: ((error: unknown) => void) | undefined = undefined;

  constructor(
    readonly task: ProcessTask | FunctionTask,
    readonly priority: number,
    readonly createdAt: number,
    public id: string | undefined,
    readonly options: SubmitOptions | undefined,
    readonly parentId: string | undefined,
    readonly batch: Batch<Job> | undefined,
    /** The task's place in its batch's input. */
    readonly index: number,
  ) {}

  /** Stops listening to the caller's signal: the job started (the run listens now) or settled. */
  removeAbortListener(): void {
    if (this.onAbort === undefined) return;
    this.options!.signal!.removeEventListener('abort', this.onAbort);
    this.onAbort = undefined;
  }
}

/** A job for `submit()`. */
export function submittedJob(
  task: ProcessTask | FunctionTask,
  id: string | undefined,
  options: SubmitOptions | undefined,
): Job {
  const priority = options?.priority ?? 0;
  return new Job(task, priority, Date.now(), id, options, options?.parentId, undefined, 0);
}

/** The job for task `index` of a `runAll()` batch. */
export function batchJob(
  task: ProcessTask | FunctionTask,
  id: string | undefined,
  batch: Batch<Job>,
  index: number,
  priority: number,
): Job {
  return new Job(task, priority, batch.createdAt, id, undefined, batch.id, batch, index);
}

/**
 * Starts the job's task, its lines also written to `<logDir>/<id>.log` with a `logDir`, and
 * sets `job.active`. Resolves with the result once it is final (the log closed); rejects when
 * the task could not start.
 */
export function launch(
  job: Job,
  logDir: string | undefined,
  captureBytes: number,
): Promise<RunResult> {
  const output =
    logDir === undefined
      ? undefined
      : new OutputLog({ file: join(logDir, `${job.id}.log`), tailLines: 0 });
  let active: ActiveRun;
  try {
    active = executeTask(job.task, {
      pattern: 'concurrent',
      captureBytes,
      id: job.id,
      signal: job.options?.signal,
      name: job.options?.name,
      output,
    });
  } catch (error) {
    // Not expected; if it happens the job still settles, through the same path.
    const failed = Promise.reject(error);
    failed.catch(noop);
    active = { id: job.id ?? newRunId(), pid: undefined, result: failed, cancel: () => failed };
  }
  job.active = active;
  job.id = active.id;
  return output ? closingOutput(active, output) : active.result;
}

export function nameOf(job: Job): string {
  const task = job.task;
  return (
    task.name ??
    job.options?.name ??
    ('command' in task ? basename(task.command) : task.fn.name || 'function')
  );
}

/** What a run's record and result are made from; gives the job an id if it has none yet. */
export function identityOf(job: Job): RunIdentity {
  job.id ??= newRunId();
  const task = job.task;
  const identity: RunIdentity = {
    id: job.id,
    name: nameOf(job),
    pattern: 'concurrent',
    createdAt: job.createdAt,
  };
  if ('command' in task) {
    identity.command = task.command;
    identity.args = [...(task.args ?? [])];
    identity.cwd = task.cwd;
  }
  return identity;
}

/**
 * A result for a job that never ran: no `startedAt`, no pid, no output. With `prefixName`,
 * `message` follows the task's name (`was cancelled before it started`).
 */
export function notStartedResult(
  job: Job,
  status: RunStatus,
  code: string,
  message: string,
  prefixName: boolean,
): RunResult {
  const identity = identityOf(job);
  // Fields are set on the record rather than spread into a new literal: `{ ...record, more }`
  // takes a slow path in V8 (Node 20: ~6 µs an object, against ~0.03 µs for this).
  const result = queuedRecord(identity) as RunResult;
  result.status = status;
  result.finishedAt = new Date().toISOString();
  result.stdout = '';
  result.stderr = '';
  result.ok = false;
  if (identity.command !== undefined) {
    result.exitCode = null;
    result.exitSignal = null;
  }
  const name =
    identity.command === undefined ? `Task \`${identity.name}\`` : `\`${identity.name}\``;
  result.error = { code, message: prefixName ? `${name} ${message}` : message };
  return result;
}

export function cancelledBefore(reason: unknown): string {
  const text = 'was cancelled before it started';
  if (reason === undefined) return text;
  if (reason instanceof Error) {
    // AbortController.abort() without a reason gives a generic AbortError: say nothing then.
    return reason.name === 'AbortError' ? text : `${text}: ${reason.message}`;
  }
  return `${text}: ${String(reason)}`;
}
