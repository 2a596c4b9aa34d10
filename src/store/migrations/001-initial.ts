/*
 * The first schema: the runs table and its indexes.
 */
import type { Migration } from '../migrate.js';

/**
 * Runs and their labels. The columns hold what `list()`, `prune()` and `stats()` filter on;
 * `data` holds the whole record as JSON, so a field added to the record needs no migration.
 *
 * - `id` is a UUIDv7: its text sorts by creation, so `ORDER BY id DESC` is newest first and a
 *   page cursor is simply the last id seen.
 * - `created_at` is `createdAt` in ms since the epoch: ISO strings with different zones or
 *   precisions do not compare as text.
 * - `runs_active` indexes only queued and running runs, by id: the ones recovery and the
 *   dashboard ask for, and the only ones whose status can still change. A status change then
 *   touches one page of a small index, where an index of (status, id) over the whole history
 *   would move an entry between two pages on every change. Finished runs of one status are
 *   found by walking the ids newest first, which a page of results stops early.
 * - The idempotency key is unique where present; runs without one add nothing to that index.
 */
export const initial: Migration = {
  version: 1,
  name: 'initial',
  up: `
CREATE TABLE runs (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  pattern TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN
    ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out', 'interrupted')),
  parent_id TEXT,
  created_at INTEGER NOT NULL,
  idempotency_key TEXT,
  owner_pid INTEGER,
  owner_host TEXT,
  data TEXT NOT NULL
);
CREATE INDEX runs_name ON runs (name, id);
CREATE INDEX runs_active ON runs (id) WHERE status IN ('queued', 'running');
CREATE INDEX runs_created_at ON runs (created_at);
CREATE INDEX runs_parent ON runs (parent_id, id) WHERE parent_id IS NOT NULL;
CREATE UNIQUE INDEX runs_idempotency_key ON runs (idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE run_labels (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
) WITHOUT ROWID;
CREATE INDEX run_labels_key_value ON run_labels (key, value, run_id);
`,
};
