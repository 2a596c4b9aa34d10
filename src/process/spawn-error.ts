/*
 * Turns a failed spawn into a `RunyardError` that says what was wrong: a missing program,
 * one that is not executable, a missing working directory.
 */
import { statSync } from 'node:fs';
import { ErrorCodes, RunyardError } from '../core/errors.js';

/** Turns the OS's terse spawn failure (`spawn x ENOENT`) into a message that names the cause. */
export function describeSpawnError(
  command: string,
  cwd: string | undefined,
  error: unknown,
): RunyardError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  let cause: string;
  if (cwd !== undefined && !isDirectory(cwd)) {
    cause = `the working directory \`${cwd}\` does not exist or is not a directory`;
  } else if (code === 'ENOENT') {
    cause = 'command not found';
  } else if (code === 'EACCES') {
    cause = 'permission denied (is the file executable?)';
  } else if (code === 'ENOEXEC') {
    cause = 'the file is not a program the system can run';
  } else if (code === 'E2BIG') {
    cause = 'the arguments and environment are too long';
  } else {
    cause = error instanceof Error ? error.message : String(error);
  }
  return new RunyardError(
    ErrorCodes.SPAWN,
    `Could not start \`${command}\`: ${cause}${code ? ` (${code})` : ''}`,
    { cause: error },
  );
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
