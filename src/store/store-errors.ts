/*
 * The errors every store throws alike: a run not found, an id or key taken, an owner that
 * changed, a run already terminal or still active.
 */
import { ErrorCodes, isRunyardError, RunyardError } from '../core/errors.js';
import type { RunStatus } from '../core/types.js';

/** The errors every store raises alike, so callers can branch on `code` whatever the store. */

export function notFoundError(id: string): RunyardError {
  return new RunyardError(ErrorCodes.NOT_FOUND, `No run has the id ${JSON.stringify(id)}`);
}

/** A second run with this id, or with an idempotency key another run holds. */
export function conflictError(id: string, taken?: { key: string; holder: string }): RunyardError {
  const message =
    taken === undefined
      ? `A run with the id ${JSON.stringify(id)} already exists`
      : `The idempotency key ${JSON.stringify(taken.key)} belongs to run ${JSON.stringify(taken.holder)}`;
  return new RunyardError(ErrorCodes.CONFLICT, message);
}

/** The run changed hands since the caller read it: another process took it over. */
export function ownerChangedError(id: string): RunyardError {
  return new RunyardError(
    ErrorCodes.CONFLICT,
    `Run ${JSON.stringify(id)} is no longer owned by the process it was read with: another process took it over`,
  );
}

/** An update of a run that has finished: its status and fields never change again. */
export function terminalError(id: string, status: RunStatus): RunyardError {
  return new RunyardError(
    ErrorCodes.CONFLICT,
    `Run ${JSON.stringify(id)} is already ${status}: a finished run never changes`,
  );
}

/** A delete of a run that has not finished. */
export function activeError(id: string, status: RunStatus): RunyardError {
  return new RunyardError(
    ErrorCodes.CONFLICT,
    `Run ${JSON.stringify(id)} is ${status}: only a finished run can be deleted`,
  );
}

/** Any call on a store after `close()`. */
export function closedError(): RunyardError {
  return new RunyardError(ErrorCodes.CLOSED, 'The run store is closed');
}

/**
 * Whether a failed store call may succeed later: a storage failure (`ERR_STORE`: a lock, a full
 * disk) or a foreign store's own error (a lost connection), not runyard's answers about the run
 * (`ERR_CONFLICT`, `ERR_NOT_FOUND`, `ERR_INVALID`, `ERR_CLOSED`) nor a bug (`TypeError`…).
 */
export function isPassingStoreError(error: unknown): boolean {
  if (isRunyardError(error)) return error.code === ErrorCodes.STORE;
  return !(
    error instanceof TypeError ||
    error instanceof RangeError ||
    error instanceof ReferenceError ||
    error instanceof SyntaxError
  );
}
