/*
 * Checks a `RunRecord` and a patch before a store writes them, so that bad data is
 * refused at the call that made it.
 */
import type { Pattern, RunRecord, RunStatus, WaitingFor } from '../core/types.js';
import { terminalStatuses } from '../core/types.js';
import {
  checkArgString,
  checkKnownKeys,
  checkNonNegativeNumber,
  invalid,
} from '../core/validate.js';
import type { RunPatch, UpdateOptions } from './run-store.js';

/** Every status, active ones first. */
export const runStatuses: readonly RunStatus[] = ['queued', 'running', ...terminalStatuses];

export const patterns: readonly Pattern[] = [
  'simple',
  'long-running',
  'concurrent',
  'fire-and-forget',
  'periodic',
  'pooled',
];

const waitingForValues: readonly WaitingFor[] = [
  'concurrency',
  'resources',
  'retry-backoff',
  'overlap',
];

/** ISO 8601 with a time and a zone, as `Date.prototype.toISOString()` writes it. */
const isoDateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Nesting deeper than this in `params` is refused rather than risk the stack. */
const MAX_DEPTH = 64;

type FieldCheck = (field: string, value: unknown) => void;

function listed(values: readonly string[]): string {
  return `one of ${values.map((value) => `'${value}'`).join(', ')}`;
}

function oneOf(values: readonly string[]): FieldCheck {
  const expected = listed(values);
  return (field, value) => {
    if (typeof value !== 'string' || !values.includes(value)) throw invalid(field, expected, value);
  };
}

function nonEmptyString(field: string, value: unknown): void {
  checkArgString(field, value, { nonEmpty: true });
}

/** Letters, digits, `_`, `-` and `.`, not first: safe in a URL, a file name and any sort order. */
const runIdPattern = /^[A-Za-z0-9][\w.-]{0,127}$/;

export function isRunId(value: unknown): value is string {
  return typeof value === 'string' && runIdPattern.test(value);
}

export function runId(field: string, value: unknown): void {
  if (!isRunId(value)) {
    throw invalid(
      field,
      'an id of 1 to 128 letters, digits, `_`, `-` and `.` (not first), such as a UUIDv7',
      value,
    );
  }
}

function plainString(field: string, value: unknown): void {
  checkArgString(field, value);
}

function integer(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalid(field, 'an integer', value);
  }
}

function positiveInteger(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(field, 'a positive integer', value);
  }
}

function nonNegativeInteger(field: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, 'a non-negative integer', value);
  }
}

function nonNegativeNumber(field: string, value: unknown): void {
  if (value === undefined) throw invalid(field, 'a non-negative finite number', value);
  checkNonNegativeNumber(field, value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function object(field: string, value: unknown): asserts value is Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(field, 'an object', value);
}

function isoDate(field: string, value: unknown): void {
  if (typeof value !== 'string' || !isoDateTime.test(value) || Number.isNaN(Date.parse(value))) {
    throw invalid(
      field,
      'an ISO 8601 date and time with a zone, such as `toISOString()` gives',
      value,
    );
  }
}

function stringArray(field: string, value: unknown): void {
  if (!Array.isArray(value)) throw invalid(field, 'an array of strings', value);
  for (let i = 0; i < value.length; i++) checkArgString(`${field}[${i}]`, value[i]);
}

function labels(field: string, value: unknown): void {
  object(field, value);
  for (const [key, text] of Object.entries(value)) {
    if (key === '' || key.includes('=')) {
      throw invalid(`${field} key`, 'a non-empty string without `=`', key);
    }
    if (typeof text !== 'string') throw invalid(`${field}.${key}`, 'a string', text);
  }
}

/** A value that survives JSON unchanged: no `undefined`, functions, Dates, NaN or cycles. */
function jsonValue(field: string, value: unknown, ancestors: unknown[]): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(field, 'a finite number', value);
    return;
  }
  const isArray = Array.isArray(value);
  if (!isArray && !isPlainObject(value)) {
    throw invalid(
      field,
      'a JSON value (null, boolean, number, string, array or plain object)',
      value,
    );
  }
  if (ancestors.includes(value) || ancestors.length >= MAX_DEPTH) {
    throw invalid(
      field,
      `a JSON value without cycles, nested at most ${MAX_DEPTH} deep`,
      '[Circular]',
    );
  }
  ancestors.push(value);
  if (isArray) {
    for (let i = 0; i < value.length; i++) jsonValue(`${field}[${i}]`, value[i], ancestors);
  } else {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (item !== undefined) jsonValue(`${field}.${key}`, item, ancestors);
    }
  }
  ancestors.pop();
}

function params(field: string, value: unknown): void {
  object(field, value);
  jsonValue(field, value, []);
}

function runError(field: string, value: unknown): void {
  object(field, value);
  plainString(`${field}.code`, value.code);
  plainString(`${field}.message`, value.message);
  for (const key of Object.keys(value)) {
    if (key !== 'code' && key !== 'message') throw unknownField(`${field}.${key}`, value[key]);
  }
}

function outputTotals(field: string, value: unknown): void {
  object(field, value);
  nonNegativeInteger(`${field}.lines`, value.lines);
  nonNegativeInteger(`${field}.bytes`, value.bytes);
  if (typeof value.truncated !== 'boolean') {
    throw invalid(`${field}.truncated`, 'a boolean', value.truncated);
  }
  for (const key of Object.keys(value)) {
    if (key !== 'lines' && key !== 'bytes' && key !== 'truncated') {
      throw unknownField(`${field}.${key}`, value[key]);
    }
  }
}

function owner(field: string, value: unknown): void {
  object(field, value);
  positiveInteger(`${field}.pid`, value.pid);
  plainString(`${field}.host`, value.host);
  nonNegativeNumber(`${field}.startTime`, value.startTime);
  for (const key of Object.keys(value)) {
    if (key !== 'pid' && key !== 'host' && key !== 'startTime') {
      throw unknownField(`${field}.${key}`, value[key]);
    }
  }
}

function orNull(check: FieldCheck): FieldCheck {
  return (field, value) => {
    if (value !== null) check(field, value);
  };
}

function unknownField(field: string, value: unknown) {
  return invalid(field, 'absent: it is not a field of a run record', value);
}

/**
 * One check per field of a run record. Typed by `keyof RunRecord`, so a field added to the
 * record does not compile until it is checked here too.
 */
const fieldChecks: Readonly<Record<keyof RunRecord, FieldCheck>> = {
  id: runId,
  name: nonEmptyString,
  pattern: oneOf(patterns),
  status: oneOf(runStatuses),
  command: nonEmptyString,
  args: stringArray,
  cwd: plainString,
  params,
  labels,
  parentId: nonEmptyString,
  attempt: positiveInteger,
  waitingFor: oneOf(waitingForValues),
  pid: positiveInteger,
  exitCode: orNull(integer),
  exitSignal: orNull(plainString),
  error: runError,
  createdAt: isoDate,
  startedAt: isoDate,
  finishedAt: isoDate,
  durationMs: nonNegativeNumber,
  output: outputTotals,
  owner,
  childStartTime: nonNegativeNumber,
  idempotencyKey: nonEmptyString,
  cancelRequestedAt: isoDate,
  // How to start the run again belongs to the patterns; the store only needs it to be JSON.
  spec: params,
};

const requiredFields: readonly (keyof RunRecord)[] = [
  'id',
  'name',
  'pattern',
  'status',
  'attempt',
  'createdAt',
  'output',
];

/** Fields a patch may not touch. */
const fixedFields: ReadonlySet<string> = new Set(['id', 'createdAt']);

function isField(key: string): key is keyof RunRecord {
  return Object.hasOwn(fieldChecks, key);
}

/**
 * Checks a whole record before it is stored. A field set to `undefined` counts as absent.
 * @throws RunyardError `ERR_INVALID` naming the first bad field.
 */
export function checkRunRecord(record: unknown): asserts record is RunRecord {
  object('record', record);
  for (const [key, value] of Object.entries(record)) {
    if (!isField(key)) throw unknownField(key, value);
    if (value !== undefined) fieldChecks[key](key, value);
  }
  for (const field of requiredFields) {
    if (record[field] === undefined) fieldChecks[field](field, undefined);
  }
}

/**
 * Checks a patch. A field set to `undefined` is removed from the run, which only optional
 * fields allow; `id` and `createdAt` never change.
 * @throws RunyardError `ERR_INVALID` naming the first bad field.
 */
export function checkRunPatch(patch: unknown): asserts patch is RunPatch {
  object('patch', patch);
  for (const [key, value] of Object.entries(patch)) {
    if (!isField(key)) throw unknownField(key, value);
    if (fixedFields.has(key)) throw invalid(key, 'left out of a patch: it never changes', value);
    if (value !== undefined || requiredFields.includes(key)) fieldChecks[key](key, value);
  }
}

/** Checks `update()`'s options: only `ifOwner`, an owner or `null`. */
export function checkUpdateOptions(options: unknown): asserts options is UpdateOptions | undefined {
  if (options === undefined) return;
  object('options', options);
  checkKnownKeys('options', options, ['ifOwner']);
  if (options.ifOwner !== undefined && options.ifOwner !== null) owner('ifOwner', options.ifOwner);
}

/** Whether a record's owner is the one `ifOwner` names (`null`: no owner). */
export function isOwnedBy(record: RunRecord, ifOwner: UpdateOptions['ifOwner']): boolean {
  if (ifOwner === undefined) return true;
  const current = record.owner;
  if (ifOwner === null || current === undefined) return ifOwner === null && current === undefined;
  return (
    current.pid === ifOwner.pid &&
    current.host === ifOwner.host &&
    current.startTime === ifOwner.startTime
  );
}

/** The record with the patch applied: a field set to `undefined` goes, the others replace. */
export function applyPatch(record: RunRecord, patch: RunPatch): RunRecord {
  const next: Record<string, unknown> = { ...record };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  return next as unknown as RunRecord;
}
