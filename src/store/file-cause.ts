/*
 * What the file system says about a database path SQLite could not use. SQLite reports one
 * SQLITE_CANTOPEN for a missing folder, a denied permission and a read-only mount alike; these
 * checks, run only once something failed, find out which it was.
 */
import { accessSync, constants, type Stats, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function statOf(path: string): Stats | string {
  try {
    return statSync(path);
  } catch (error) {
    return errnoOf(error) ?? 'EIO';
  }
}

/** The errno `access()` gives for this mode, or `undefined` when access is granted. */
function denied(path: string, mode: number): string | undefined {
  try {
    accessSync(path, mode);
    return undefined;
  } catch (error) {
    return errnoOf(error) ?? 'EACCES';
  }
}

function who(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'this process' : `this process (uid ${uid})`;
}

/** Why `path` cannot be written, if access() says so: a read-only mount, or permissions. */
function writeDenial(path: string, isFolder: boolean): string | undefined {
  const errno = denied(path, constants.W_OK);
  if (errno === undefined) return undefined;
  if (errno === 'EROFS') return `the file system holding ${path} is mounted read-only (EROFS)`;
  if (errno !== 'EACCES' && errno !== 'EPERM') return undefined;
  return isFolder
    ? `permission denied (${errno}): ${who()} may not create files in ${path}`
    : `permission denied (${errno}): ${path} is read-only to ${who()}`;
}

export interface FileCauseOptions {
  /** The store writes: the file, its WAL and its folder must be writable. */
  write: boolean;
}

/**
 * The first thing found that keeps SQLite from using `path`: a missing or non-folder parent,
 * a folder in its place, a denied permission, a read-only file system. `undefined` when the
 * file system sees nothing wrong, and the error must be SQLite's own.
 */
export function fileCause(path: string, options: FileCauseOptions): string | undefined {
  const folder = dirname(path);
  // The nearest ancestor that exists: a missing folder would have to be made in it.
  let existing = folder;
  let found = statOf(existing);
  while ((found === 'ENOENT' || found === 'ENOTDIR') && dirname(existing) !== existing) {
    existing = dirname(existing);
    found = statOf(existing);
  }
  if (typeof found === 'string') {
    if (found === 'EACCES') {
      return `permission denied (EACCES): ${who()} may not look into the folders above ${existing}`;
    }
    return undefined;
  }
  if (!found.isDirectory()) return `${existing} is a file, not a folder`;
  if (existing !== folder) {
    // Only a store that writes makes its folder; the checks say why it could not.
    return (
      (options.write ? writeDenial(existing, true) : undefined) ??
      `its folder ${folder} does not exist`
    );
  }
  if (denied(folder, constants.X_OK) === 'EACCES') {
    return `permission denied (EACCES): ${who()} may not look into ${folder}`;
  }
  const file = statOf(path);
  if (typeof file !== 'string' && file.isDirectory()) {
    return `${path} is a folder, not a database file`;
  }
  if (file === 'ENOENT' && !options.write) {
    return 'the file does not exist (a read-only store never creates it)';
  }
  if (typeof file !== 'string' && denied(path, constants.R_OK) === 'EACCES') {
    return `permission denied (EACCES): ${path} is not readable by ${who()}`;
  }
  if (options.write) {
    for (const companion of [path, `${path}-wal`, `${path}-shm`]) {
      if (typeof statOf(companion) === 'string') continue;
      const denial = writeDenial(companion, false);
      if (denial !== undefined) return denial;
    }
  }
  // SQLite makes `-wal` and `-shm` beside a WAL database, even to read it.
  const folderDenial = writeDenial(folder, true);
  if (folderDenial !== undefined) {
    const name = basename(path);
    return `${folderDenial} (SQLite creates ${name}-wal and ${name}-shm beside a WAL database)`;
  }
  return undefined;
}
