/*
 * Names the real cause of a SQLite failure: a lock past the busy timeout, a full disk, a
 * read-only or missing folder.
 */
import { dirname } from 'node:path';
import { ErrorCodes, RunyardError } from '../core/errors.js';
import { fileCause } from './file-cause.js';

/** What the store was doing when SQLite failed, for the message. */
export type StoreAction = 'opening' | 'reading' | 'writing' | 'closing';

export interface ErrorContext {
  path: string;
  busyTimeoutMs: number;
  /** Opened with `readonly: true`. */
  readonly: boolean;
}

/** better-sqlite3 checks the folder itself, with a TypeError, before SQLite sees the path. */
const MISSING_FOLDER_MESSAGE = 'Cannot open database because the directory does not exist';

function codeOf(error: unknown): string | undefined {
  if (error instanceof TypeError && error.message === MISSING_FOLDER_MESSAGE) return 'ENOENT';
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True for errors from SQLite or the file system, the ones `storeError()` explains. */
export function isStorageError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = codeOf(error);
  return error.name === 'SqliteError' || (code !== undefined && /^E[A-Z]+$/.test(code));
}

export function isConstraintError(error: unknown): boolean {
  return codeOf(error)?.startsWith('SQLITE_CONSTRAINT') === true;
}

/** Codes that may hide a file-system cause, which `fileCause()` then looks for. */
function mayBeFileProblem(code: string): boolean {
  return /^E[A-Z]+$/.test(code) || /^SQLITE_(CANTOPEN|READONLY|PERM|AUTH|IOERR)/.test(code);
}

function explain(
  code: string,
  message: string,
  action: StoreAction,
  context: ErrorContext,
): string {
  const detail = `${message} (${code})`;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return `the file is corrupt or not a SQLite database: ${detail}. It was left as it is`;
  }
  // Another connection kept the lock past the busy timeout.
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return (
      `the database is locked by another writer: another connection or process held its ` +
      `write lock past the busy timeout of ${context.busyTimeoutMs} ms (\`busyTimeoutMs\`): ${detail}`
    );
  }
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') {
    return `the disk is full: no space is left on the file system holding ${dirname(context.path)}: ${detail}`;
  }
  if (code.startsWith('SQLITE_READONLY') && context.readonly) {
    return `the store was opened read-only (\`readonly: true\`): ${detail}`;
  }
  if (mayBeFileProblem(code) && context.path !== ':memory:') {
    const write = !context.readonly && action !== 'reading';
    const cause = fileCause(context.path, { write });
    if (cause !== undefined) return `${cause}: ${detail}`;
  }
  if (code.startsWith('SQLITE_READONLY')) return `it is read-only: ${detail}`;
  if (code.startsWith('SQLITE_CANTOPEN')) return `the file cannot be opened: ${detail}`;
  if (code.startsWith('SQLITE_IOERR') || code === 'EIO') return `an I/O error: ${detail}`;
  if (code.startsWith('SQLITE_PERM') || code === 'EACCES' || code === 'EPERM') {
    return `permission denied: ${detail}`;
  }
  return detail;
}

/**
 * Turns an error from SQLite or the file system into `ERR_STORE` with a message naming the
 * database and the cause, the original kept as `cause`. Any other error is returned as it is:
 * a `RunyardError` already says what went wrong, and anything else is a bug to see plainly.
 */
export function storeError(action: StoreAction, error: unknown, context: ErrorContext): unknown {
  if (error instanceof RunyardError || !isStorageError(error)) return error;
  const { message } = error as Error;
  const reason = explain(codeOf(error) ?? 'UNKNOWN', message, action, context);
  return new RunyardError(
    ErrorCodes.STORE,
    `${action[0]!.toUpperCase()}${action.slice(1)} the run store at ${context.path} failed: ${reason}`,
    { cause: error },
  );
}

/** `ERR_STORE` for a problem runyard itself finds in the database, such as its schema version. */
export function schemaError(path: string, reason: string): RunyardError {
  return new RunyardError(ErrorCodes.STORE, `The run store at ${path} ${reason}`);
}
