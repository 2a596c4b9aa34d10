/*
 * `selectPattern()`: the rules that pick a pattern for a task `execute()` is given.
 */
import { ErrorCodes, RunyardError } from '../core/errors.js';
import type { Pattern, TaskSpec } from '../core/types.js';
import {
  checkBoolean,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkOptionalString,
  checkPlainObject,
  describeValue,
  invalid,
} from '../core/validate.js';

/** What `yard.execute()` is told about a task; every hint is optional. */
export interface ExecuteHints {
  /** Use this pattern rather than the selection rules. */
  readonly pattern?: Pattern;
  /** The caller wants to follow the output live: long-running. @default false */
  readonly streaming?: boolean;
  /** `false`: the result is not needed now, only a tracked run: fire-and-forget. @default true */
  readonly wait?: boolean;
  /** Fire every this many ms: periodic. */
  readonly everyMs?: number;
  /** Fire on this cron expression: periodic. */
  readonly cron?: string;
  /** Time zone of `cron` (IANA name). @default the process's local time zone */
  readonly timezone?: string;
  /** The run's (or the schedule's, or the batch's) name. @default the task's name */
  readonly name?: string;
  /** How long the task is expected to take; over 60 s it is long-running. */
  readonly expectedDurationMs?: number;
}

/** The patterns `execute()` knows, in the order the selection rules try them. */
export const patterns: readonly Pattern[] = [
  'periodic',
  'long-running',
  'concurrent',
  'fire-and-forget',
  'pooled',
  'simple',
];

/** Over this expected duration a task is long-running. */
export const longRunningAfterMs = 60_000;

/** A chosen pattern and, in plain words, the rule that chose it. */
export interface PatternChoice {
  readonly pattern: Pattern;
  readonly reason: string;
}

/**
 * The selection rules, first match wins: recurring → periodic; streaming or an expected
 * duration over 60 s → long-running; more than one task → concurrent; result not needed →
 * fire-and-forget; a `{ pool }` task → pooled; otherwise simple. Pure: no I/O, no clock.
 */
export function choosePattern(
  task: TaskSpec | readonly TaskSpec[],
  hints: ExecuteHints = {},
): PatternChoice {
  if (hints.everyMs !== undefined || hints.cron !== undefined) {
    return { pattern: 'periodic', reason: 'it recurs (`everyMs` or `cron`)' };
  }
  if (!Array.isArray(task)) {
    if (hints.streaming === true) {
      return { pattern: 'long-running', reason: 'its output is followed live (`streaming`)' };
    }
    if (hints.expectedDurationMs !== undefined && hints.expectedDurationMs > longRunningAfterMs) {
      return { pattern: 'long-running', reason: 'it is expected to take more than 60 s' };
    }
  }
  if (Array.isArray(task)) {
    return { pattern: 'concurrent', reason: 'several tasks run at once under a limit' };
  }
  if (hints.wait === false) {
    return { pattern: 'fire-and-forget', reason: 'its result is not waited for (`wait: false`)' };
  }
  if (isPoolSpec(task)) {
    return { pattern: 'pooled', reason: 'it names a pool (`{ pool }`)' };
  }
  return { pattern: 'simple', reason: 'one task, waited for, with nothing else asked' };
}

/**
 * The pattern `execute()` uses: `hints.pattern` when given, else `choosePattern()`. Throws
 * `ERR_INVALID` naming the hint when a hint cannot be honoured by that pattern, never guessing.
 */
export function selectPattern(
  task: TaskSpec | readonly TaskSpec[],
  hints: ExecuteHints = {},
): Pattern {
  checkHints(hints);
  // An array can only run as a batch: a hint asking for more is refused by name below.
  const pattern =
    hints.pattern ?? (Array.isArray(task) ? 'concurrent' : choosePattern(task, hints).pattern);
  checkAgainst(pattern, task, hints);
  return pattern;
}

const hintKeys = [
  'pattern',
  'streaming',
  'wait',
  'everyMs',
  'cron',
  'timezone',
  'name',
  'expectedDurationMs',
];

function checkHints(hints: ExecuteHints): void {
  checkPlainObject('hints', hints);
  checkKnownKeys('hints', hints, hintKeys);
  if (hints.pattern !== undefined && !patterns.includes(hints.pattern)) {
    throw invalid('pattern', `one of ${patterns.map((p) => `'${p}'`).join(', ')}`, hints.pattern);
  }
  checkBoolean('streaming', hints.streaming);
  checkBoolean('wait', hints.wait);
  if (
    hints.everyMs !== undefined &&
    (typeof hints.everyMs !== 'number' || !Number.isFinite(hints.everyMs) || hints.everyMs <= 0)
  ) {
    throw invalid('everyMs', 'a positive number of milliseconds', hints.everyMs);
  }
  if (hints.cron !== undefined && (typeof hints.cron !== 'string' || hints.cron.trim() === '')) {
    throw invalid('cron', 'a cron expression', hints.cron);
  }
  if (hints.everyMs !== undefined && hints.cron !== undefined) {
    throw invalid('cron', 'absent when `everyMs` is given (one trigger)', hints.cron);
  }
  checkOptionalString('timezone', hints.timezone);
  if (hints.timezone !== undefined && hints.cron === undefined) {
    throw invalid('timezone', 'absent without `cron`', hints.timezone);
  }
  checkOptionalString('name', hints.name);
  checkNonNegativeNumber('expectedDurationMs', hints.expectedDurationMs);
}

/** Each hint against the pattern that will run the task. */
function checkAgainst(
  pattern: Pattern,
  task: TaskSpec | readonly TaskSpec[],
  hints: ExecuteHints,
): void {
  const isBatch = Array.isArray(task);
  if (pattern !== 'periodic') {
    if (hints.everyMs !== undefined) throw contradiction('everyMs', hints.everyMs, pattern);
    if (hints.cron !== undefined) throw contradiction('cron', hints.cron, pattern);
  } else if (hints.everyMs === undefined && hints.cron === undefined) {
    throw invalid('everyMs', "a number of ms (or `cron` given) with pattern 'periodic'", undefined);
  }
  if (isBatch && pattern !== 'concurrent') {
    throw new RunyardError(
      ErrorCodes.INVALID,
      `Expected \`pattern\` to be 'concurrent' for an array of tasks, got ${describeValue(pattern)}`,
    );
  }
  if (!isBatch && pattern === 'pooled' && !isPoolSpec(task)) {
    const kind =
      typeof (task as { command?: unknown }).command === 'string' ? 'command' : 'function';
    throw new RunyardError(
      ErrorCodes.INVALID,
      `Expected \`pattern\` to be a pattern a ${kind} task can run ('pooled' needs a \`{ pool, payload }\` task), got \`"pooled"\` (string)`,
    );
  }
  if (hints.streaming === true && pattern !== 'long-running' && pattern !== 'periodic') {
    throw contradiction('streaming', true, pattern);
  }
  if (hints.wait === false && pattern !== 'fire-and-forget' && pattern !== 'periodic') {
    throw contradiction('wait', false, pattern);
  }
  if (hints.wait === true && pattern === 'fire-and-forget') {
    throw contradiction('wait', true, pattern);
  }
}

function contradiction(field: string, value: unknown, pattern: Pattern): RunyardError {
  return new RunyardError(
    ErrorCodes.INVALID,
    `Expected \`${field}\` to be absent with pattern '${pattern}', got ${describeValue(value)}`,
  );
}

function isPoolSpec(task: unknown): boolean {
  return (
    typeof task === 'object' &&
    task !== null &&
    typeof (task as { pool?: unknown }).pool === 'string'
  );
}
