/*
 * Argument checks shared by every public function, with errors that name the bad value
 * and, for unknown option keys, the nearest known one.
 */
import { ErrorCodes, RunyardError } from './errors.js';

/** Formats a value for an error message: `-1` (number), `"abc"` (string). */
export function describeValue(value: unknown): string {
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value);
  // JSON would show NaN and Infinity as `null`.
  else if (typeof value === 'number') shown = Object.is(value, -0) ? '-0' : String(value);
  else if (typeof value === 'bigint') shown = `${value}n`;
  else if (typeof value === 'function')
    shown = value.name ? `[Function ${value.name}]` : '[Function]';
  else {
    try {
      shown = JSON.stringify(value) ?? String(value);
    } catch {
      shown = String(value);
    }
  }
  if (shown.length > 60) shown = `${shown.slice(0, 57)}...`;
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${shown}\` (${type})`;
}

/** The one message template for bad input: Expected `field` to be ..., got `value` (type). */
export function invalid(field: string, expected: string, value: unknown): RunyardError {
  return new RunyardError(
    ErrorCodes.INVALID,
    `Expected \`${field}\` to be ${expected}, got ${describeValue(value)}`,
  );
}

/**
 * Rejects keys the object should not have, so a misspelt option (execa's `timeout` for
 * `timeoutMs`) is an error instead of a silent no-op. `field` names the object in the message.
 */
export function checkKnownKeys(field: string, value: unknown, known: readonly string[]): void {
  if (typeof value !== 'object' || value === null) return;
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = nearestName(key, known);
    const path = field === 'options' ? `\`${key}\`` : `\`${field}.${key}\``;
    throw new RunyardError(
      ErrorCodes.INVALID,
      `Unknown option ${path}${near ? `: did you mean \`${near}\`?` : '.'} Known options: ${known.join(', ')}`,
    );
  }
}

/** The known name a mistyped one most likely meant, or `undefined` when none is close. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    // A peer's name without runyard's unit suffix: `timeout` for `timeoutMs`.
    const distance =
      other.startsWith(lower) && lower.length >= 3 ? 0.5 : editDistance(lower, other);
    if (distance < bestDistance) {
      bestDistance = distance;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

export function checkNonNegativeNumber(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !(value >= 0) || value === Number.POSITIVE_INFINITY) {
    throw invalid(field, 'a non-negative finite number', value);
  }
}

export function checkPositiveInteger(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalid(field, 'a positive integer', value);
  }
}

export function checkBoolean(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') throw invalid(field, 'a boolean', value);
}

export function checkFunction(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') throw invalid(field, 'a function', value);
}

/** A string that can reach an argv or a path: no NUL byte, which the OS would cut at. */
export function checkArgString(
  field: string,
  value: unknown,
  options?: { nonEmpty?: boolean },
): void {
  if (typeof value !== 'string') throw invalid(field, 'a string', value);
  if (options?.nonEmpty && value.length === 0) throw invalid(field, 'a non-empty string', value);
  if (value.includes('\0')) throw invalid(field, 'a string without NUL bytes', value);
}

export function checkOptionalString(field: string, value: unknown): void {
  if (value !== undefined) checkArgString(field, value);
}

export function checkAbortSignal(field: string, value: unknown): void {
  if (value === undefined) return;
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as AbortSignal).aborted !== 'boolean' ||
    typeof (value as AbortSignal).addEventListener !== 'function'
  ) {
    throw invalid(field, 'an AbortSignal', value);
  }
}

export function checkPlainObject(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(field, 'an object', value);
  }
}

export function checkFiniteNumber(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw invalid(field, 'a finite number', value);
}

/** A queue bound: a non-negative integer, or `Infinity` for none. */
export function checkCountOrInfinity(field: string, value: unknown): void {
  if (value === undefined || value === Number.POSITIVE_INFINITY) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw invalid(field, 'a non-negative integer or Infinity', value);
  }
}
