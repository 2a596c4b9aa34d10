/*
 * Run queries: the filters `list()` takes, checked, their limits, and the paging cursor.
 */
import type { Pattern, RunStatus } from '../core/types.js';
import { checkArgString, checkKnownKeys, invalid } from '../core/validate.js';
import type { PruneOptions, RunQuery, RunStats } from './run-store.js';
import { isRunId, patterns, runStatuses } from './validate-record.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 1000;

/** Every key of `RunQuery`: typed, so a filter added there must be listed here too. */
const queryKeys = [
  'status',
  'name',
  'text',
  'label',
  'pattern',
  'parentId',
  'cancelRequested',
  'since',
  'until',
  'limit',
  'cursor',
] as const satisfies readonly (keyof RunQuery)[];

const pruneKeys = ['olderThan', 'keepLast'] as const satisfies readonly (keyof PruneOptions)[];

/** A `RunQuery` checked and reduced to what both stores filter on. */
export interface NormalizedQuery {
  /** Undefined: any status. */
  statuses: readonly RunStatus[] | undefined;
  name: string | undefined;
  /** `text`, case-folded with `foldCase()`. */
  text: string | undefined;
  /** `[key, value]` pairs a run must all carry. */
  labels: readonly (readonly [string, string])[];
  pattern: Pattern | undefined;
  parentId: string | undefined;
  cancelRequested: boolean | undefined;
  /** Inclusive, ms since the epoch. */
  sinceMs: number | undefined;
  /** Exclusive, ms since the epoch. */
  untilMs: number | undefined;
  limit: number;
  /** Only ids below this one: the last id of the previous page. */
  beforeId: string | undefined;
}

/** Case folding for `text`, the same in every store. */
export function foldCase(text: string): string {
  return text.toLowerCase();
}

/** The cursor of a page that ended at this id. Opaque to callers. */
export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

const base64url = /^[A-Za-z0-9_-]+$/;

export function decodeCursor(cursor: unknown): string {
  const expected = 'a `nextCursor` returned by `list()`';
  if (typeof cursor !== 'string' || !base64url.test(cursor))
    throw invalid('cursor', expected, cursor);
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  // Decoding is lenient: a cursor that is no run id, or does not encode back to itself, was not
  // made by list().
  if (!isRunId(id) || encodeCursor(id) !== cursor) throw invalid('cursor', expected, cursor);
  return id;
}

/** Milliseconds since the epoch of a Date or a date string, for `since`, `until` and `olderThan`. */
export function toEpochMs(field: string, value: unknown): number {
  const ms =
    value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw invalid(field, 'a valid Date or ISO 8601 string', value);
  return ms;
}

function normalizeStatuses(value: unknown): readonly RunStatus[] | undefined {
  if (value === undefined) return undefined;
  const list: unknown[] = Array.isArray(value) ? value : [value];
  const expected = `a status or a non-empty array of statuses (${runStatuses.join(', ')})`;
  if (list.length === 0) throw invalid('status', expected, value);
  for (const status of list) {
    if (!runStatuses.includes(status as RunStatus)) throw invalid('status', expected, value);
  }
  return [...new Set(list as RunStatus[])];
}

function normalizeLabels(value: unknown): (readonly [string, string])[] {
  if (value === undefined) return [];
  if (typeof value === 'string') {
    const at = value.indexOf('=');
    if (at < 1) throw invalid('label', "a 'key=value' string or an object", value);
    return [[value.slice(0, at), value.slice(at + 1)]];
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid('label', "a 'key=value' string or an object", value);
  }
  const pairs: (readonly [string, string])[] = [];
  for (const [key, text] of Object.entries(value)) {
    if (text === undefined) continue;
    if (typeof text !== 'string') throw invalid(`label.${key}`, 'a string', text);
    pairs.push([key, text]);
  }
  return pairs;
}

/**
 * Checks a query and applies its defaults.
 * @throws RunyardError `ERR_INVALID` naming the bad field.
 */
export function normalizeQuery(query: RunQuery | undefined): NormalizedQuery {
  if (query === undefined) query = {};
  if (typeof query !== 'object' || query === null || Array.isArray(query)) {
    throw invalid('query', 'an object', query);
  }
  checkKnownKeys('query', query, queryKeys);
  if (query.name !== undefined) checkArgString('name', query.name);
  if (query.text !== undefined) checkArgString('text', query.text);
  if (query.parentId !== undefined) checkArgString('parentId', query.parentId);
  if (query.cancelRequested !== undefined && typeof query.cancelRequested !== 'boolean') {
    throw invalid('cancelRequested', 'a boolean', query.cancelRequested);
  }
  if (query.pattern !== undefined && !patterns.includes(query.pattern)) {
    throw invalid('pattern', `one of ${patterns.join(', ')}`, query.pattern);
  }
  const limit = query.limit ?? DEFAULT_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw invalid('limit', `an integer from 1 to ${MAX_LIMIT}`, limit);
  }
  return {
    statuses: normalizeStatuses(query.status),
    name: query.name,
    text: query.text === undefined || query.text === '' ? undefined : foldCase(query.text),
    labels: normalizeLabels(query.label),
    pattern: query.pattern,
    parentId: query.parentId,
    cancelRequested: query.cancelRequested,
    sinceMs: query.since === undefined ? undefined : toEpochMs('since', query.since),
    untilMs: query.until === undefined ? undefined : toEpochMs('until', query.until),
    limit,
    beforeId: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
  };
}

/** What `prune()` deletes: terminal runs created before `cutoffMs`, past the newest `keepLast` of their name. */
export interface NormalizedPrune {
  cutoffMs: number;
  keepLast: number;
}

/**
 * Checks prune options; an age in ms counts back from `now`.
 * @throws RunyardError `ERR_INVALID` when neither `olderThan` nor `keepLast` is given: a prune
 * that deletes every finished run is never a default.
 */
export function normalizePrune(options: PruneOptions | undefined, now: number): NormalizedPrune {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid('options', 'an object with `olderThan` or `keepLast`', options);
  }
  checkKnownKeys('options', options, pruneKeys);
  const { olderThan, keepLast } = options;
  if (olderThan === undefined && keepLast === undefined) {
    throw invalid('olderThan', 'given (or `keepLast`): prune never deletes every run', olderThan);
  }
  if (
    keepLast !== undefined &&
    (typeof keepLast !== 'number' || !Number.isSafeInteger(keepLast) || keepLast < 0)
  ) {
    throw invalid('keepLast', 'a non-negative integer', keepLast);
  }
  let cutoffMs = Number.POSITIVE_INFINITY;
  if (typeof olderThan === 'number') {
    if (!Number.isFinite(olderThan) || olderThan < 0) {
      throw invalid(
        'olderThan',
        'a non-negative age in ms, a Date or an ISO 8601 string',
        olderThan,
      );
    }
    cutoffMs = now - olderThan;
  } else if (olderThan !== undefined) {
    cutoffMs = toEpochMs('olderThan', olderThan);
  }
  return { cutoffMs, keepLast: keepLast ?? 0 };
}

/** Stats with every status at zero. */
export function emptyStats(): RunStats {
  const byStatus = {} as Record<RunStatus, number>;
  for (const status of runStatuses) byStatus[status] = 0;
  // Names are keys: without a prototype, a run named `__proto__` is just a name.
  const byName: RunStats['byName'] = Object.create(null);
  return { total: 0, byStatus, byName };
}

/** Adds `count` runs of this name and status to the stats. */
export function countRuns(stats: RunStats, name: string, status: RunStatus, count: number): void {
  stats.total += count;
  stats.byStatus[status] += count;
  let byStatus = stats.byName[name];
  if (byStatus === undefined) {
    byStatus = {};
    stats.byName[name] = byStatus;
  }
  byStatus[status] = (byStatus[status] ?? 0) + count;
}
