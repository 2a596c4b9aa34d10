/**
 * A database path SQLite cannot use: the ERR_STORE message names what really happened (a
 * read-only mount, a denied permission, a missing folder, a file in a folder's place) and the
 * path, instead of one guess for every SQLITE_CANTOPEN.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunyardError } from '../../src/core/errors.js';
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/index.js';
import { fixturesDir } from '../helpers/processes.js';
import { mountTmpfs, tmpfsUnavailable } from '../store/mounts.js';
import { makeRun } from '../store/records.js';

const builtStore = join(import.meta.dirname, '..', '..', 'dist', 'store', 'index.js');
const unavailable = tmpfsUnavailable();
if (unavailable !== undefined) console.warn(`Skipping the read-only mount test: ${unavailable}`);

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-store-files-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function openError(options: SqliteStoreOptions): RunyardError {
  let store: SqliteStore | undefined;
  try {
    store = new SqliteStore(options);
  } catch (error) {
    return error as RunyardError;
  }
  void store.close();
  throw new Error(`Expected opening ${options.path} to fail`);
}

function expectCause(error: { code: string; message: string }, path: string, cause: string): void {
  expect(error.code).toBe('ERR_STORE');
  expect(error.message).toContain(path);
  expect(error.message).toContain(cause);
  expect(error.message).not.toMatch(/is the path a directory/);
}

describe.skipIf(unavailable !== undefined)('a read-only file system', () => {
  it('is named as such, whether the store writes, only reads, or is new', async () => {
    await using disk = await mountTmpfs(1024 * 1024);
    const path = join(disk.dir, 'runyard.db');
    const store = new SqliteStore({ path });
    await store.create(makeRun());
    await store.close();
    disk.remountReadOnly();
    const readOnlyMount = 'is mounted read-only (EROFS)';
    expectCause(openError({ path }), path, `the file system holding ${path} ${readOnlyMount}`);
    expectCause(openError({ path, readonly: true }), path, readOnlyMount);
    const fresh = join(disk.dir, 'new.db');
    expectCause(openError({ path: fresh }), fresh, readOnlyMount);
    const nested = join(disk.dir, 'sub', 'new.db');
    expectCause(openError({ path: nested }), nested, readOnlyMount);
  });
});

/** The error of a store opened and written in a child process, killed if it takes 20 s. */
async function errorInChild(
  path: string,
  uid?: number,
): Promise<{ code: string; message: string }> {
  try {
    await promisify(execFile)(
      process.execPath,
      [join(fixturesDir, 'store-write-once.mjs'), builtStore, path],
      { timeout: 20_000, ...(uid !== undefined && { uid, gid: uid }) },
    );
  } catch (failure) {
    const { stdout, signal } = failure as { stdout: string; signal: string | null };
    if (signal !== null) throw new Error(`The store at ${path} was still opening after 20 s`);
    return (JSON.parse(stdout) as { error: RunyardError }).error;
  }
  throw new Error(`Expected the store at ${path} to fail`);
}

describe('a path this process may not use', () => {
  /** Root passes every permission check, so the store then runs as nobody. */
  const isRoot = process.getuid?.() === 0;
  const uid = isRoot ? 65534 : process.getuid?.();
  const errorAsAnotherUser = (path: string) => errorInChild(path, isRoot ? uid : undefined);

  it('says permission denied, naming the folder or file and what was refused', async () => {
    chmodSync(dir, 0o755);
    const closed = join(dir, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    const frozen = join(dir, 'frozen');
    mkdirSync(frozen, { mode: 0o555 });
    const shared = join(dir, 'shared');
    mkdirSync(shared, { mode: 0o777 });
    chmodSync(shared, 0o777);
    const sharedDb = join(shared, 'runyard.db');
    const owner = new SqliteStore({ path: sharedDb });
    await owner.create(makeRun());
    await owner.close();
    chmodSync(sharedDb, 0o444);

    const inClosed = join(closed, 'runyard.db');
    expectCause(
      await errorAsAnotherUser(inClosed),
      inClosed,
      `permission denied (EACCES): this process (uid ${uid}) may not look into ${closed}`,
    );
    const inFrozen = join(frozen, 'runyard.db');
    const frozenError = await errorAsAnotherUser(inFrozen);
    expectCause(frozenError, inFrozen, 'permission denied (EACCES)');
    expect(frozenError.message).toContain(`may not create files in ${frozen}`);
    const readOnlyFile = await errorAsAnotherUser(sharedDb);
    expectCause(readOnlyFile, sharedDb, 'permission denied (EACCES)');
    expect(readOnlyFile.message).toContain(`${sharedDb} is read-only to this process`);
  });
});

describe('a path that leads nowhere', () => {
  it('names the missing folder of a read-only store', () => {
    const path = join(dir, 'missing', 'runyard.db');
    expectCause(
      openError({ path, readonly: true }),
      path,
      `its folder ${join(dir, 'missing')} does not exist`,
    );
  });

  it.skipIf(process.platform !== 'linux')(
    'fails promptly where a file system refuses a folder (/proc)',
    async () => {
      const path = join('/proc', `runyard-${process.pid}`, 'runyard.db');
      expectCause(await errorInChild(path), path, `its folder ${dirname(path)} does not exist`);
    },
  );

  it('names the file that stands where a folder should be', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a folder\n');
    for (const path of [join(file, 'runyard.db'), join(file, 'deeper', 'runyard.db')]) {
      expectCause(openError({ path }), path, `${file} is a file, not a folder`);
    }
  });
});
