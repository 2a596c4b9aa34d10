/*
 * `startFiring()`: runs one schedule firing, through the `TaskManager` or in-process with retries.
 * Separate from `schedule-state.ts`: how a run is started stays apart from when a schedule fires.
 */
import { ErrorCodes, RunyardError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import { sleepUnlessAborted } from '../core/sleep.js';
import type {
  FunctionTask,
  ProcessTask,
  RetryPolicy,
  RunRecord,
  RunResult,
} from '../core/types.js';
import { executeTask } from '../run/execute-task.js';
import { retryDelay } from '../tasks/retry.js';
import type { TaskManager } from '../tasks/task-manager.js';

/** What one firing needs to run its task. */
export interface FiringSpec {
  readonly manager: TaskManager | undefined;
  readonly task: ProcessTask | FunctionTask;
  /** The runs' name. */
  readonly name: string;
  readonly parentId: string;
  readonly retries: RetryPolicy | undefined;
  readonly labels: Readonly<Record<string, string>>;
}

/** One firing's run, from its start to its end. */
export interface Firing {
  /** Resolves with the run once it is recorded and on its way; rejects when it could not start. */
  readonly started: Promise<RunRecord>;
  /** Resolves with the run's final record; rejects only when it could not start. */
  readonly done: Promise<RunRecord>;
  /** Ends the run (status `cancelled`); harmless once it ended. */
  cancel(reason: string): void;
}

/** Bytes of stdout/stderr a run without a manager keeps, as the manager does. */
const CAPTURE_BYTES = 64 * 1024;

/**
 * Starts a firing: through the manager (a recorded run, its retries and log file), or in this
 * process with `executeTask` and the same retry policy.
 */
export function startFiring(spec: FiringSpec): Firing {
  return spec.manager ? managedFiring(spec, spec.manager) : directFiring(spec);
}

function managedFiring(spec: FiringSpec, manager: TaskManager): Firing {
  let cancelReason: string | undefined;
  let runId: string | undefined;
  const started = manager.launch(spec.task, {
    name: spec.name,
    parentId: spec.parentId,
    pattern: 'periodic',
    labels: spec.labels,
    ...(spec.retries && { retries: spec.retries }),
  });
  const done = started.then((record) => {
    runId = record.id;
    if (cancelReason !== undefined) void manager.cancel(record.id, cancelReason).catch(() => {});
    return manager.wait(record.id);
  });
  // A launch that failed is reported through `started`; `done` shares its rejection.
  done.catch(() => {});
  return {
    started,
    done,
    cancel(reason) {
      cancelReason ??= reason;
      if (runId !== undefined) void manager.cancel(runId, reason).catch(() => {});
    },
  };
}

function directFiring(spec: FiringSpec): Firing {
  const controller = new AbortController();
  const id = newRunId();
  const createdAt = new Date().toISOString();
  const record: RunRecord = {
    id,
    name: spec.name,
    pattern: 'periodic',
    status: 'running',
    attempt: 1,
    parentId: spec.parentId,
    labels: { ...spec.labels },
    createdAt,
    startedAt: createdAt,
    output: { lines: 0, bytes: 0, truncated: false },
  };
  if ('command' in spec.task) {
    record.command = spec.task.command;
    record.args = [...(spec.task.args ?? [])];
    if (spec.task.cwd !== undefined) record.cwd = spec.task.cwd;
  }
  const done = (async (): Promise<RunRecord> => {
    for (let attempt = 1; ; attempt++) {
      const active = executeTask(spec.task, {
        id,
        name: spec.name,
        pattern: 'periodic',
        captureBytes: CAPTURE_BYTES,
        signal: controller.signal,
      });
      if (active.pid !== undefined) record.pid = active.pid;
      let ended: RunRecord;
      try {
        ended = finished(record, await active.result, attempt);
      } catch (error) {
        ended = couldNotStart(record, error, attempt);
      }
      const canRetry =
        (ended.status === 'failed' || ended.status === 'timed_out') &&
        spec.retries !== undefined &&
        attempt < spec.retries.attempts &&
        !controller.signal.aborted;
      if (!canRetry) return ended;
      if (!(await sleepUnlessAborted(retryDelay(spec.retries!, attempt), controller.signal))) {
        return {
          ...ended,
          status: 'cancelled',
          error: {
            code: ErrorCodes.CANCELLED,
            message: `\`${spec.name}\` was cancelled while it waited to retry`,
          },
        };
      }
    }
  })();
  return {
    started: Promise.resolve(structuredClone(record)),
    done,
    cancel(reason) {
      controller.abort(reason);
    },
  };
}

/** The run's record from a finished try: the result without its captured text. */
function finished(base: RunRecord, result: RunResult, attempt: number): RunRecord {
  const { stdout: _stdout, stderr: _stderr, ok: _ok, value: _value, ...rest } = result;
  return { ...rest, parentId: base.parentId, labels: base.labels, attempt } as RunRecord;
}

function couldNotStart(base: RunRecord, error: unknown, attempt: number): RunRecord {
  const finishedAt = new Date().toISOString();
  return {
    ...base,
    status: 'failed',
    attempt,
    finishedAt,
    durationMs: Date.parse(finishedAt) - Date.parse(base.createdAt),
    error: {
      code: error instanceof RunyardError ? error.code : ErrorCodes.TASK_FAILED,
      message: error instanceof Error ? error.message : String(error),
    },
  };
}
