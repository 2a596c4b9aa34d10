/*
 * better-sqlite3 is loaded here and nowhere else: its native part is loaded on the first
 * connection, and a failed build of it must read as what to install, not as a missing file.
 */
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';
import { ErrorCodes, RunyardError } from '../core/errors.js';

const requireHere = createRequire(import.meta.url);

const DRIVER = 'better-sqlite3';

/** Where the driver's entry file is, for a worker thread that opens a connection of its own. */
export function driverPath(): string {
  return requireHere.resolve(DRIVER);
}

/**
 * Opens a connection. Node's module cache makes the driver's load a one-time cost.
 * @throws RunyardError `ERR_STORE` when the driver cannot be loaded; SQLite's own errors as they are.
 */
export function openConnection(path: string, options: Database.Options): Database.Database {
  let Driver: typeof Database;
  try {
    Driver = requireHere(DRIVER) as typeof Database;
  } catch (error) {
    throw driverError(path, error) ?? error;
  }
  try {
    return new Driver(path, options);
  } catch (error) {
    // The native part is loaded by the first connection, so its failure surfaces here.
    throw driverError(path, error) ?? error;
  }
}

function isMissingModule(error: Error & { code?: unknown }, name: string): boolean {
  return (
    (error.code === 'MODULE_NOT_FOUND' || error.code === 'ERR_MODULE_NOT_FOUND') &&
    error.message.includes(`'${name}'`)
  );
}

/**
 * `ERR_STORE` saying how to repair a driver that cannot load, or `undefined` for any other
 * error. The `bindings` package says "Could not locate the bindings file" when the native build
 * never happened; Node says `ERR_DLOPEN_FAILED` when it happened for another Node.js or machine.
 */
export function driverError(path: string, error: unknown): RunyardError | undefined {
  if (!(error instanceof Error)) return undefined;
  const failure = error as Error & { code?: unknown; tries?: unknown };
  const rebuild = `Install the build tools (python3, make and a C++ compiler such as g++), then run \`npm rebuild ${DRIVER}\``;
  let reason: string;
  if (isMissingModule(failure, DRIVER)) {
    reason = `${DRIVER} is not installed. Run \`npm install ${DRIVER}\` (building it needs python3, make and a C++ compiler such as g++)`;
  } else if (
    Array.isArray(failure.tries) ||
    failure.message.startsWith('Could not locate the bindings file')
  ) {
    reason = `the native part of ${DRIVER} was never built (its install step failed or was skipped). ${rebuild}`;
  } else if (failure.code === 'ERR_DLOPEN_FAILED') {
    // Node's own words name the file and, for a version mismatch, both versions.
    const said = failure.message.split('\n', 1)[0];
    reason = `the native part of ${DRIVER} does not load (${said}): it was built for another Node.js version or system, or the build is broken. ${rebuild}`;
  } else {
    return undefined;
  }
  return new RunyardError(ErrorCodes.STORE, `Opening the run store at ${path} failed: ${reason}`, {
    cause: error,
  });
}
