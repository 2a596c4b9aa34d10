/**
 * better-sqlite3 whose native part failed to build: opening a store says what to install and
 * how to rebuild, as ERR_STORE. A copy of the built store beside a copy of the driver without
 * its build is a real failed install; the real driver is never touched.
 */
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killRecordedProcesses, spawnFixture } from '../helpers/processes.js';

const root = join(import.meta.dirname, '..', '..');

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-store-driver-'));
});

afterEach(async () => {
  await killRecordedProcesses();
  await rm(dir, { recursive: true, force: true });
});

type Install = 'unbuilt' | 'broken build' | 'missing';

/** runyard's built store and core, with better-sqlite3 installed as `install` says. */
function installCopy(install: Install): string {
  expect(existsSync(join(root, 'dist', 'store')), 'build first').toBe(true);
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const part of ['core', 'store']) {
    cpSync(join(root, 'dist', part), join(dir, 'dist', part), { recursive: true });
  }
  if (install !== 'missing') {
    const driver = join(dir, 'node_modules', 'better-sqlite3');
    for (const part of ['package.json', 'lib']) {
      cpSync(join(root, 'node_modules', 'better-sqlite3', part), join(driver, part), {
        recursive: true,
      });
    }
    for (const dependency of ['bindings', 'file-uri-to-path']) {
      cpSync(join(root, 'node_modules', dependency), join(dir, 'node_modules', dependency), {
        recursive: true,
      });
    }
    if (install === 'broken build') {
      mkdirSync(join(driver, 'build', 'Release'), { recursive: true });
      writeFileSync(join(driver, 'build', 'Release', 'better_sqlite3.node'), 'not a library\n');
    }
  }
  return join(dir, 'dist', 'store', 'index.js');
}

async function openWith(install: Install) {
  const path = join(dir, 'db', 'runyard.db');
  const child = spawnFixture('store-write-once.mjs', [installCopy(install), path]);
  expect((await child.exited).code).toBe(1);
  const { error } = JSON.parse(child.lines[0]!) as {
    error: { code: string; message: string; cause: string };
  };
  expect(error.code).toBe('ERR_STORE');
  expect(error.message).toContain(path);
  expect(error.message).not.toMatch(/^Could not locate/);
  return error;
}

describe('a driver that cannot load', () => {
  it('says what to install when the native part was never built', async () => {
    const error = await openWith('unbuilt');
    expect(error.cause).toMatch(/^Could not locate the bindings file/);
    expect(error.message).toContain('the native part of better-sqlite3 was never built');
    expect(error.message).toContain('python3, make and a C++ compiler');
    expect(error.message).toContain('`npm rebuild better-sqlite3`');
  });

  it('says how to rebuild when the native part does not load', async () => {
    const error = await openWith('broken build');
    expect(error.message).toContain('the native part of better-sqlite3 does not load');
    expect(error.message).toContain('better_sqlite3.node');
    expect(error.message).toContain('`npm rebuild better-sqlite3`');
  });

  it('says to install it when it is missing', async () => {
    const error = await openWith('missing');
    expect(error.message).toContain('better-sqlite3 is not installed');
    expect(error.message).toContain('`npm install better-sqlite3`');
  });
});
