/*
 * Builds run records and results: `queuedRecord()`, `settledResult()` and their error messages.
 * Pure functions apart from `execute-task.ts`, so every pattern reports outcomes the same way.
 */
import { ErrorCodes } from '../core/errors.js';
import type { Pattern, RunError, RunRecord, RunResult, RunStatus } from '../core/types.js';

/** What ended a run, in the terms every kind of task shares. */
export interface Settlement {
  terminatedBy?: 'cancel' | 'timeout' | undefined;
  terminationDetail?: unknown;
  exitCode?: number | null;
  exitSignal?: string | null;
  /** A function task's failure. */
  thrown?: { error: unknown } | undefined;
  value?: unknown;
  pid?: number | undefined;
  stdout: string;
  stderr: string;
  lines: number;
  bytes: number;
  truncated: boolean;
  startedAt: number;
  finishedAt: number;
}

export interface RunIdentity {
  id: string;
  name: string;
  pattern: Pattern;
  command?: string | undefined;
  args?: string[] | undefined;
  cwd?: string | undefined;
  createdAt: number;
  timeoutMs?: number | undefined;
}

export function queuedRecord(identity: RunIdentity): RunRecord {
  const record: RunRecord = {
    id: identity.id,
    name: identity.name,
    pattern: identity.pattern,
    status: 'queued',
    attempt: 1,
    createdAt: isoTime(identity.createdAt),
    output: { lines: 0, bytes: 0, truncated: false },
  };
  if (identity.command !== undefined) {
    record.command = identity.command;
    record.args = identity.args ?? [];
    if (identity.cwd !== undefined) record.cwd = identity.cwd;
  }
  return record;
}

export function settledResult(identity: RunIdentity, settlement: Settlement): RunResult {
  const status = statusOf(settlement);
  // Built field by field, not by spreading a record: this runs once per task, on the hot path.
  const result: RunResult = {
    id: identity.id,
    name: identity.name,
    pattern: identity.pattern,
    status,
    attempt: 1,
    createdAt: isoTime(identity.createdAt),
    startedAt: isoTime(settlement.startedAt),
    finishedAt: isoTime(settlement.finishedAt),
    durationMs: settlement.finishedAt - settlement.startedAt,
    output: { lines: settlement.lines, bytes: settlement.bytes, truncated: settlement.truncated },
    stdout: settlement.stdout,
    stderr: settlement.stderr,
    ok: status === 'succeeded',
  };
  if (identity.command !== undefined) {
    result.command = identity.command;
    result.args = identity.args ?? [];
    if (identity.cwd !== undefined) result.cwd = identity.cwd;
    result.exitCode = settlement.exitCode ?? null;
    result.exitSignal = settlement.exitSignal ?? null;
  }
  if (settlement.pid !== undefined) result.pid = settlement.pid;
  if (settlement.value !== undefined) result.value = settlement.value;
  const error = status === 'succeeded' ? undefined : errorOf(identity, settlement, status);
  if (error) result.error = error;
  return result;
}

/**
 * `new Date(ms).toISOString()`, remembering the last one: the runs of a busy batch start and
 * end within the same millisecond many times over.
 */
const lastIso = { ms: Number.NaN, text: '' };
function isoTime(ms: number): string {
  if (ms !== lastIso.ms) {
    lastIso.ms = ms;
    lastIso.text = new Date(ms).toISOString();
  }
  return lastIso.text;
}

/** A run cancelled before it started: nothing was spawned. */
export function cancelledBeforeStart(identity: RunIdentity, reason: unknown): RunResult {
  const now = Date.now();
  return settledResult(identity, {
    terminatedBy: 'cancel',
    terminationDetail: reason,
    stdout: '',
    stderr: '',
    lines: 0,
    bytes: 0,
    truncated: false,
    startedAt: now,
    finishedAt: now,
  });
}

function statusOf(settlement: Settlement): RunStatus {
  if (settlement.terminatedBy === 'cancel') return 'cancelled';
  if (settlement.terminatedBy === 'timeout') return 'timed_out';
  if (settlement.thrown) return 'failed';
  if (settlement.exitCode === undefined) return 'succeeded';
  return settlement.exitCode === 0 ? 'succeeded' : 'failed';
}

function errorOf(identity: RunIdentity, s: Settlement, status: RunStatus): RunError | undefined {
  const what =
    identity.command === undefined ? `Task \`${identity.name}\`` : `\`${identity.name}\``;
  switch (status) {
    case 'succeeded':
      return undefined;
    case 'cancelled':
      return {
        code: ErrorCodes.CANCELLED,
        message: `${what} was cancelled${describeReason(s.terminationDetail)}`,
      };
    case 'timed_out':
      return {
        code: ErrorCodes.TIMEOUT,
        message: `${what} timed out after ${identity.timeoutMs} ms`,
      };
    default: {
      if (s.thrown) {
        const error = s.thrown.error;
        const message = error instanceof Error ? error.message : String(error);
        return { code: ErrorCodes.TASK_FAILED, message: `${what} failed: ${message}` };
      }
      const how =
        s.exitSignal != null ? `was killed by ${s.exitSignal}` : `exited with code ${s.exitCode}`;
      const excerpt = stderrExcerpt(s.stderr);
      return { code: ErrorCodes.FAILED, message: `${what} ${how}${excerpt ? `: ${excerpt}` : ''}` };
    }
  }
}

function describeReason(reason: unknown): string {
  if (reason === undefined) return '';
  if (reason instanceof Error) {
    // AbortController.abort() without a reason gives a generic AbortError: say nothing then.
    return reason.name === 'AbortError' ? '' : `: ${reason.message}`;
  }
  return `: ${String(reason)}`;
}

const errorWords =
  /\b(error|exception|fatal|panic|failed|failure|denied|cannot|can't|unable|not found|no such)\b/i;

/**
 * A short excerpt of stderr for an error message: among the last 20 non-empty lines, the last
 * three that say something went wrong (a traceback's frames don't; its final `Error: …` line
 * does), else the last three lines.
 */
export function stderrExcerpt(stderr: string, maxChars = 500): string {
  if (stderr === '') return '';
  const recent: string[] = [];
  let end = stderr.length;
  while (end > 0 && recent.length < 20) {
    const start = stderr.lastIndexOf('\n', end - 1);
    const line = stderr.slice(start + 1, end).trim();
    if (line !== '') recent.unshift(line);
    if (start === -1) break;
    end = start;
  }
  const telling = recent.filter((line) => errorWords.test(line));
  let excerpt = (telling.length > 0 ? telling : recent).slice(-3).join(' | ');
  if (excerpt.length > maxChars) excerpt = `${excerpt.slice(0, maxChars - 3)}...`;
  return excerpt;
}
