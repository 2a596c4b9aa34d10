/**
 * Every error runyard throws or rejects with is a `RunyardError` carrying one of these
 * stable codes. Callers branch on `code`, never on the message.
 */
export const ErrorCodes = {
  /** Bad options or arguments: the message names the field, what was expected and what came. */
  INVALID: 'ERR_INVALID',
  /** The program could not be started: not found, not executable, missing cwd. */
  SPAWN: 'ERR_SPAWN',
  /** The run exited non-zero or was killed by a signal it was not sent by runyard. */
  FAILED: 'ERR_FAILED',
  /** The run was cancelled through its AbortSignal or `cancel()`. */
  CANCELLED: 'ERR_CANCELLED',
  /** The run passed its `timeoutMs`. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** A function task threw or rejected, or a pooled handler raised. */
  TASK_FAILED: 'ERR_TASK_FAILED',
  /** The run's owner died while it ran. */
  INTERRUPTED: 'ERR_INTERRUPTED',
  /** A queue is full (`maxQueue`). */
  QUEUE_FULL: 'ERR_QUEUE_FULL',
  /** Admission waited longer than `admissionTimeoutMs` for CPU or memory. */
  RESOURCES: 'ERR_RESOURCES',
  /** No run, schedule or pool with that id or name. */
  NOT_FOUND: 'ERR_NOT_FOUND',
  /** The object was closed before or while the work was handed to it. */
  CLOSED: 'ERR_CLOSED',
  /** A pool worker died while it held the task. */
  WORKER_CRASHED: 'ERR_WORKER_CRASHED',
  /** A terminal run was asked to change, or a record with that id already exists. */
  CONFLICT: 'ERR_CONFLICT',
  /**
   * The run store cannot be used or written, and the message says why: corrupt, locked past
   * the busy timeout, disk full, read-only, permission denied, a newer schema, or a driver
   * that was not built. A write that fails with it wrote nothing.
   */
  STORE: 'ERR_STORE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class RunyardError extends Error {
  override readonly name = 'RunyardError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isRunyardError(error: unknown, code?: ErrorCode): error is RunyardError {
  return error instanceof RunyardError && (code === undefined || error.code === code);
}
