import { basename } from 'node:path';
import { ErrorCodes, RunyardError } from '../core/errors.js';
import { newRunId } from '../core/ids.js';
import type {
  FunctionTask,
  Pattern,
  ProcessTask,
  RetryPolicy,
  RunOwner,
  RunRecord,
  RunResult,
  RunSpec,
} from '../core/types.js';
import {
  checkArgString,
  checkFiniteNumber,
  checkOptionalString,
  checkPlainObject,
  invalid,
} from '../core/validate.js';
import { validateRetryPolicy } from './retry.js';

/** The records a `TaskManager` writes: a launched run, its restart spec, and its end. */

export interface LaunchOptions {
  /** @default the command's basename, or the function's name */
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Module parameters, kept with the run. */
  readonly params?: Readonly<Record<string, unknown>>;
  readonly retries?: RetryPolicy;
  /** A second launch with the same key returns the first run instead of starting another. */
  readonly idempotencyKey?: string;
  /** Higher runs sooner. @default 0 */
  readonly priority?: number;
  /** The batch or schedule this run belongs to. */
  readonly parentId?: string;
  /** The pattern recorded with the run, for patterns built on the manager. @default 'fire-and-forget' */
  readonly pattern?: Pattern;
}

/** The record of a run about to be launched: queued, owned by `owner`. */
export function queuedRunRecord(
  task: ProcessTask | FunctionTask,
  options: LaunchOptions,
  owner: RunOwner,
): RunRecord {
  const id = newRunId();
  const record: RunRecord = {
    id,
    name:
      options.name ??
      task.name ??
      ('fn' in task ? task.fn.name || 'function' : basename(task.command)),
    pattern: options.pattern ?? 'fire-and-forget',
    status: 'queued',
    attempt: 1,
    waitingFor: 'concurrency',
    createdAt: new Date().toISOString(),
    output: { lines: 0, bytes: 0, truncated: false },
    owner,
  };
  if (options.labels) record.labels = { ...options.labels };
  if (options.params) record.params = structuredClone({ ...options.params });
  if (options.parentId) record.parentId = options.parentId;
  if (options.idempotencyKey !== undefined) record.idempotencyKey = options.idempotencyKey;
  if ('command' in task) {
    record.command = task.command;
    record.args = [...(task.args ?? [])];
    if (task.cwd !== undefined) record.cwd = task.cwd;
  }
  const spec = specOf(task, options);
  if (spec) record.spec = spec;
  return record;
}

export function validateLaunchOptions(options: LaunchOptions): void {
  checkPlainObject('options', options);
  checkOptionalString('name', options.name);
  checkPlainObject('labels', options.labels);
  for (const [key, value] of Object.entries(options.labels ?? {})) {
    if (typeof value !== 'string') throw invalid(`labels.${key}`, 'a string', value);
  }
  checkPlainObject('params', options.params);
  validateRetryPolicy('retries', options.retries);
  if (options.idempotencyKey !== undefined) {
    checkArgString('idempotencyKey', options.idempotencyKey, { nonEmpty: true });
  }
  checkFiniteNumber('priority', options.priority);
  checkOptionalString('parentId', options.parentId);
  if (options.pattern !== undefined && !patterns.includes(options.pattern)) {
    throw invalid('pattern', `one of ${patterns.join(', ')}`, options.pattern);
  }
}

const patterns: readonly Pattern[] = [
  'simple',
  'long-running',
  'concurrent',
  'fire-and-forget',
  'periodic',
  'pooled',
];

/** What a restart needs to run the task again; only process tasks can be restarted. */
function specOf(task: ProcessTask | FunctionTask, options: LaunchOptions): RunSpec | undefined {
  const spec: RunSpec = {};
  if ('command' in task) {
    if (task.env) {
      spec.env = Object.fromEntries(Object.entries(task.env).map(([k, v]) => [k, v ?? null]));
    }
    if (typeof task.input === 'string') spec.input = task.input;
    if (task.shell !== undefined) spec.shell = task.shell;
    if (task.killGraceMs !== undefined) spec.killGraceMs = task.killGraceMs;
  }
  if (task.timeoutMs !== undefined) spec.timeoutMs = task.timeoutMs;
  if (options.retries) spec.retries = { ...options.retries };
  if (options.priority !== undefined) spec.priority = options.priority;
  return Object.keys(spec).length > 0 ? spec : undefined;
}

export function envFromSpec(
  env: Record<string, string | null>,
): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v ?? undefined]));
}

/** The store fields of a finished try. */
export function terminalPatch(result: RunResult): Partial<RunRecord> {
  const patch: Partial<RunRecord> = {
    status: result.status,
    waitingFor: undefined,
    finishedAt: result.finishedAt,
    durationMs: result.durationMs,
    output: result.output,
  };
  if (result.startedAt) patch.startedAt = result.startedAt;
  if (result.pid !== undefined) patch.pid = result.pid;
  if (result.exitCode !== undefined) patch.exitCode = result.exitCode;
  if (result.exitSignal !== undefined) patch.exitSignal = result.exitSignal;
  patch.error = result.error;
  return patch;
}

export function spawnFailure(record: RunRecord, error: unknown): RunResult {
  const now = new Date().toISOString();
  const known = error instanceof RunyardError;
  return {
    ...record,
    status: 'failed',
    waitingFor: undefined,
    finishedAt: now,
    error: {
      code: known ? error.code : ErrorCodes.TASK_FAILED,
      message: error instanceof Error ? error.message : String(error),
    },
    stdout: '',
    stderr: '',
    ok: false,
  };
}
