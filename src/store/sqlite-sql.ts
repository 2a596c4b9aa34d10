/*
 * The SQL of `SqliteStore` and the mapping between rows and `RunRecord`s.
 */
import type { RunOwner, RunRecord } from '../core/types.js';
import type { NormalizedQuery } from './query.js';
import type { RunPatch } from './run-store.js';

/** SQL text and its parameters; the text doubles as the key of the prepared-statement cache. */
export interface Sql {
  text: string;
  params: unknown[];
}

export const ACTIVE_STATUSES_SQL = "('queued', 'running')";
export const TERMINAL_STATUSES_SQL =
  "('succeeded', 'failed', 'cancelled', 'timed_out', 'interrupted')";

/** Name of the SQL function that folds case as `foldCase()` does, Unicode included. */
export const FOLD_FUNCTION = 'runyard_fold';

export const COLUMNS =
  'id, name, pattern, status, parent_id, created_at, idempotency_key, owner_pid, owner_host, data';

/** The column values of a record, in the order of `COLUMNS`. */
export function columnValues(record: RunRecord, data: string): unknown[] {
  return [
    record.id,
    record.name,
    record.pattern,
    record.status,
    record.parentId ?? null,
    Date.parse(record.createdAt),
    record.idempotencyKey ?? null,
    record.owner?.pid ?? null,
    record.owner?.host ?? null,
    data,
  ];
}

/**
 * `SELECT data` for a query, newest first, one row more than the page to tell whether another
 * page follows. Statuses are validated names, written into the text so each set of statuses
 * gets its own plan; everything a caller types is a parameter.
 */
export function listSql(q: NormalizedQuery): Sql {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.beforeId !== undefined) {
    where.push('id < ?');
    params.push(q.beforeId);
  }
  if (q.statuses !== undefined) {
    where.push(`status IN (${q.statuses.map((status) => `'${status}'`).join(', ')})`);
    // Spelled as the partial index states it, which SQLite needs to see to use `runs_active`.
    if (q.statuses.every((status) => status === 'queued' || status === 'running')) {
      where.push(`status IN ${ACTIVE_STATUSES_SQL}`);
    }
  }
  if (q.name !== undefined) {
    where.push('name = ?');
    params.push(q.name);
  }
  if (q.pattern !== undefined) {
    where.push('pattern = ?');
    params.push(q.pattern);
  }
  if (q.parentId !== undefined) {
    where.push('parent_id = ?');
    params.push(q.parentId);
  }
  if (q.cancelRequested !== undefined) {
    where.push(
      `json_extract(data, '$.cancelRequestedAt') IS ${q.cancelRequested ? 'NOT NULL' : 'NULL'}`,
    );
  }
  if (q.sinceMs !== undefined) {
    where.push('created_at >= ?');
    params.push(q.sinceMs);
  }
  if (q.untilMs !== undefined) {
    where.push('created_at < ?');
    params.push(q.untilMs);
  }
  if (q.text !== undefined) {
    // instr() rather than LIKE: no wildcard to escape, and case folded beyond ASCII.
    where.push(`instr(${FOLD_FUNCTION}(name), ?) > 0`);
    params.push(q.text);
  }
  for (const [key, value] of q.labels) {
    where.push('id IN (SELECT run_id FROM run_labels WHERE key = ? AND value = ?)');
    params.push(key, value);
  }
  params.push(q.limit + 1);
  const filter = where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`;
  return { text: `SELECT data FROM runs${filter} ORDER BY id DESC LIMIT ?`, params };
}

/** Columns that mirror a field of the record, and their values for a field's new value. */
const mirroredColumns: Partial<Record<keyof RunRecord, (value: unknown) => [string, unknown][]>> = {
  name: (value) => [['name', value]],
  pattern: (value) => [['pattern', value]],
  status: (value) => [['status', value]],
  parentId: (value) => [['parent_id', value ?? null]],
  idempotencyKey: (value) => [['idempotency_key', value ?? null]],
  owner: (value) => {
    const owner = value as RunRecord['owner'];
    return [
      ['owner_pid', owner?.pid ?? null],
      ['owner_host', owner?.host ?? null],
    ];
  },
};

/**
 * One `UPDATE … RETURNING data` for a patch: the mirrored columns set, the JSON edited in place
 * with `json_set`/`json_remove` (no read-modify-write round trip), and the guard that a run
 * already finished is never touched. No row back means unknown or finished.
 *
 * Field names come from a checked patch and are written into the JSON paths; values are
 * parameters, passed as JSON text. Fields are sorted so one shape of patch is one statement.
 */
export function updateSql(id: string, patch: RunPatch, ifOwner?: RunOwner | null): Sql {
  const fields = Object.keys(patch).sort() as (keyof RunPatch)[];
  const sets: string[] = [];
  const params: unknown[] = [];
  const jsonSets: string[] = [];
  const jsonParams: unknown[] = [];
  const removals: string[] = [];
  for (const field of fields) {
    const value = patch[field];
    for (const [column, columnValue] of mirroredColumns[field]?.(value) ?? []) {
      sets.push(`${column} = ?`);
      params.push(columnValue);
    }
    if (value === undefined) {
      removals.push(`'$.${field}'`);
    } else {
      jsonSets.push(`'$.${field}', json(?)`);
      jsonParams.push(JSON.stringify(value));
    }
  }
  let data = 'data';
  if (jsonSets.length > 0) data = `json_set(${data}, ${jsonSets.join(', ')})`;
  if (removals.length > 0) data = `json_remove(${data}, ${removals.join(', ')})`;
  sets.push(`data = ${data}`);
  params.push(...jsonParams, id);
  // The owner as it was read: a compare-and-set, so a takeover by another process loses.
  let guard = '';
  if (ifOwner !== undefined) {
    guard = ` AND owner_pid IS ? AND owner_host IS ? AND json_extract(data, '$.owner.startTime') IS ?`;
    params.push(ifOwner?.pid ?? null, ifOwner?.host ?? null, ifOwner?.startTime ?? null);
  }
  return {
    text: `UPDATE runs SET ${sets.join(', ')} WHERE id = ? AND status IN ${ACTIVE_STATUSES_SQL}${guard} RETURNING data`,
    params,
  };
}

/**
 * Deletes finished runs created before a time, past the newest `keepLast` finished runs of their
 * name, and returns their ids. Labels go with them (`ON DELETE CASCADE`).
 */
export const PRUNE_SQL = `
DELETE FROM runs WHERE id IN (
  SELECT id FROM (
    SELECT id, created_at, row_number() OVER (PARTITION BY name ORDER BY id DESC) AS newest
    FROM runs WHERE status IN ${TERMINAL_STATUSES_SQL}
  ) WHERE newest > ? AND created_at < ?
) RETURNING id`;
