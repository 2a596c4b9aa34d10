import { ErrorCodes, RunyardError } from '../core/errors.js';

/** What the store was doing when SQLite failed, for the message. */
export type StoreAction = 'opening' | 'reading' | 'writing' | 'closing';

interface ErrorContext {
  path: string;
  busyTimeoutMs: number;
}

function codeOf(error: unknown): string | undefined {
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

function explain(code: string, message: string, context: ErrorContext): string {
  const detail = `${message} (${code})`;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return `the file is corrupt or not a SQLite database: ${detail}. It was left as it is`;
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return `it is locked by another connection, still after ${context.busyTimeoutMs} ms: ${detail}`;
  }
  if (code.startsWith('SQLITE_READONLY')) return `it is read-only: ${detail}`;
  if (code.startsWith('SQLITE_CANTOPEN') || code === 'EISDIR') {
    return `the file cannot be opened (is the path a directory, or its folder missing?): ${detail}`;
  }
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return `the disk is full: ${detail}`;
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
  const reason = explain(codeOf(error) ?? 'UNKNOWN', message, context);
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
