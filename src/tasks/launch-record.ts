/**
 * The records a `TaskManager` writes and keeps: a launched run, its restart spec, its end, and
 * what it remembers of finished runs.
 */
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
  checkKnownKeys,
  checkOptionalString,
  checkPlainObject,
  invalid,
} from '../core/validate.js';
import { type RecordWriter, validateRetryPolicy } from './retry.js';

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

/** The keys of `LaunchOptions`. */
const launchOptionKeys = [
  'name',
  'labels',
  'params',
  'retries',
  'idempotencyKey',
  'priority',
  'parentId',
  'pattern',
] as const;

export function validateLaunchOptions(options: LaunchOptions): void {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, launchOptionKeys);
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

function envFromSpec(env: Record<string, string | null>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v ?? undefined]));
}

/** The task of a queued process run recorded elsewhere, to run it again here. */
export function taskFromSpec(record: RunRecord): ProcessTask {
  const spec = record.spec ?? {};
  return {
    command: record.command!,
    args: record.args ?? [],
    ...(record.cwd !== undefined && { cwd: record.cwd }),
    ...(spec.env && { env: envFromSpec(spec.env) }),
    ...(spec.input !== undefined && { input: spec.input }),
    ...(spec.shell !== undefined && { shell: spec.shell }),
    ...(spec.timeoutMs !== undefined && { timeoutMs: spec.timeoutMs }),
    ...(spec.killGraceMs !== undefined && { killGraceMs: spec.killGraceMs }),
  };
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

/** A run's record as `TaskManager.wait()` gives it. */
export interface TaskRecord extends RunRecord {
  /**
   * What a function task returned. Only on records of runs launched by this manager (its
   * last 1000 finished runs), never stored: a record read from the store has none.
   */
  value?: unknown;
}

/** How many finished runs' return values `wait()` can still give. */
const keptValues = 1000;

/**
 * What a task manager keeps of the runs it finished: the writers of ends the store has not
 * taken yet (so this process answers with them meanwhile), and function runs' return values.
 */
export class FinishedRuns {
  readonly #unwritten = new Map<string, RecordWriter>();
  /** Oldest first. */
  readonly #values = new Map<string, unknown>();

  /** The writer of a finished run whose changes the store has not taken. */
  unwritten(id: string): RecordWriter | undefined {
    return this.#unwritten.get(id);
  }

  /** Keeps a finished run's writer while it has changes to write. */
  keepUntilWritten(writer: RecordWriter): void {
    if (!writer.hasPending) return;
    const id = writer.record.id;
    this.#unwritten.set(id, writer);
    void writer.drained().then(() => this.#unwritten.delete(id));
  }

  keepValue(id: string, value: unknown): void {
    if (value === undefined) return;
    this.#values.set(id, value);
    if (this.#values.size > keptValues) this.#values.delete(this.#values.keys().next().value!);
  }

  /** The record with the run's return value, when one is kept. */
  withValue(record: RunRecord): TaskRecord {
    const value = this.#values.get(record.id);
    return value === undefined ? record : { ...record, value };
  }
}
