/** The shapes every layer shares: runs, their output lines, and the tasks that make them. */

export type RunStatus =
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'cancelled'
  | 'timed_out'
  | 'interrupted';

export type TerminalStatus = Exclude<RunStatus, 'queued' | 'running'>;

export const terminalStatuses: readonly TerminalStatus[] = [
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'interrupted',
];

export function isTerminalStatus(status: RunStatus): status is TerminalStatus {
  return status !== 'queued' && status !== 'running';
}

export type Pattern =
  | 'simple'
  | 'long-running'
  | 'concurrent'
  | 'fire-and-forget'
  | 'periodic'
  | 'pooled';

export type WaitingFor = 'concurrency' | 'resources' | 'retry-backoff' | 'overlap';

export interface RunError {
  code: string;
  message: string;
}

export interface OutputTotals {
  /** Lines printed on stdout and stderr together (system lines are not counted). */
  lines: number;
  /** Bytes printed on stdout and stderr together. */
  bytes: number;
  /**
   * True when something was lost: the captured text or the in-memory tail had to drop its
   * oldest part, or the run's log file could not be written.
   */
  truncated: boolean;
}

export interface RunRecord {
  /** Time-ordered unique id (UUIDv7). */
  id: string;
  /** Module name, or the command's basename. */
  name: string;
  pattern: Pattern;
  status: RunStatus;
  command?: string;
  args?: string[];
  cwd?: string;
  params?: Record<string, unknown>;
  labels?: Record<string, string>;
  /** The batch or schedule that made it. */
  parentId?: string;
  /** 1-based. */
  attempt: number;
  /** While queued: why it has not started. */
  waitingFor?: WaitingFor;
  pid?: number;
  exitCode?: number | null;
  /** The POSIX signal that ended the process, such as `SIGTERM`. */
  exitSignal?: string | null;
  error?: RunError;
  /** ISO 8601. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  output: OutputTotals;
  /** The process that runs it, so a later start can tell a dead owner from a live one. */
  owner?: RunOwner;
  /** The child's start time (clock ticks since boot, from /proc), so a reused pid is never killed. */
  childStartTime?: number;
  /** A second launch with the same key returns this run. */
  idempotencyKey?: string;
  /** Set when another process asked for a cancel; the owner ends the run. */
  cancelRequestedAt?: string;
  /** What starting a queued process run again, after a restart, needs beyond command and args. */
  spec?: RunSpec;
}

export interface RunSpec {
  /** `null` removes a variable from the inherited environment. */
  env?: Record<string, string | null>;
  extendEnv?: boolean;
  input?: string;
  shell?: boolean;
  timeoutMs?: number;
  killGraceMs?: number;
  retries?: RetryPolicy;
  priority?: number;
}

export interface RunOwner {
  pid: number;
  host: string;
  /** The owner's own start time, clock ticks since boot: a reused pid is not the owner. */
  startTime: number;
}

export type OutputStream = 'stdout' | 'stderr' | 'system';

export interface OutputLine {
  /** Position in the run's output, from 1, one sequence across all streams. */
  seq: number;
  stream: OutputStream;
  text: string;
  /** Milliseconds since the Unix epoch when the line was read. */
  time: number;
}

export interface RunResult extends RunRecord {
  /** Captured stdout without its final newline; the tail when `output.truncated`. */
  stdout: string;
  /** Captured stderr without its final newline; the tail when `output.truncated`. */
  stderr: string;
  /** True when `status` is `succeeded`. */
  ok: boolean;
  /** What a function task returned. */
  value?: unknown;
}

export interface TaskContext {
  runId: string;
  /** Aborted on cancel, timeout and shutdown: stop soon after. */
  signal: AbortSignal;
  /** Adds a line to the run's output, as a program's stdout would. */
  log(line: string): void;
}

export interface ProcessTask {
  command: string;
  args?: string[];
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string | Uint8Array;
  shell?: boolean;
  name?: string;
  timeoutMs?: number;
  killGraceMs?: number;
}

export interface FunctionTask {
  fn: (ctx: TaskContext) => unknown;
  name?: string;
  timeoutMs?: number;
}

export interface PoolTask {
  pool: string;
  payload: unknown;
  name?: string;
  timeoutMs?: number;
}

export type TaskSpec = ProcessTask | FunctionTask | PoolTask;

export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  /** Delay before the second try; doubles each time, with jitter. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export function isProcessTask(task: TaskSpec): task is ProcessTask {
  return typeof (task as ProcessTask).command === 'string';
}

export function isFunctionTask(task: TaskSpec): task is FunctionTask {
  return typeof (task as FunctionTask).fn === 'function';
}

export function isPoolTask(task: TaskSpec): task is PoolTask {
  return typeof (task as PoolTask).pool === 'string';
}
