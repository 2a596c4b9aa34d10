import { ErrorCodes, RunyardError } from './errors.js';

/** Formats a value for an error message: `-1` (number), `"abc"` (string). */
export function describeValue(value: unknown): string {
  let shown: string;
  if (typeof value === 'string') shown = JSON.stringify(value);
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
