/*
 * `openStore()`: opens the store a URL or path names (`memory:`, a SQLite file), with the
 * default home folder.
 */
import { join, resolve } from 'node:path';
import { ErrorCodes, RunyardError } from '../core/errors.js';
import { invalid } from '../core/validate.js';
import { MemoryStore } from './memory-store.js';
import type { RunStore } from './run-store.js';
import { SqliteStore } from './sqlite-store.js';
import { runId } from './validate-record.js';

/**
 * runyard's home: the database and the run logs. `RUNYARD_HOME` when set (an empty value counts
 * as unset), else `.runyard` in the current directory. Nothing is created here.
 */
export function defaultHome(): string {
  return resolve(process.env.RUNYARD_HOME || join(process.cwd(), '.runyard'));
}

/** `<home>/runyard.db`. */
export function defaultDatabasePath(home: string = defaultHome()): string {
  return join(home, 'runyard.db');
}

/** `<home>/logs/<runId>.log`. The id is checked, so it can never point outside `logs/`. */
export function logPath(home: string, id: string): string {
  runId('runId', id);
  return join(home, 'logs', `${id}.log`);
}

/** Hides the password of a URL before it goes into a message. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password === '') return url;
    parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * Opens the store a URL names:
 * - `'sqlite:<path>'`: a SQLite file, relative to the current directory (`sqlite:///abs/x.db`
 *   works too); `'sqlite:'` alone is `<home>/runyard.db`. Missing folders are created.
 * - `'memory:'`: a `MemoryStore`, gone with the process.
 * - `'postgres://…'`: not available yet.
 *
 * @throws RunyardError `ERR_INVALID` for any other URL; `ERR_STORE` when the database cannot be used.
 * @example
 * const store = await openStore('sqlite:.runyard/runyard.db');
 */
export async function openStore(url: string): Promise<RunStore> {
  if (typeof url !== 'string') throw invalid('url', "a store URL such as 'sqlite:<path>'", url);
  if (url === 'memory:') return new MemoryStore();
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    return new SqliteStore({ path: path === '' ? defaultDatabasePath() : resolve(path) });
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    throw new RunyardError(
      ErrorCodes.INVALID,
      "PostgreSQL support is not available yet: use 'sqlite:<path>' or 'memory:'",
    );
  }
  throw invalid('url', "a store URL: 'sqlite:<path>', 'memory:' or 'postgres://…'", redact(url));
}
