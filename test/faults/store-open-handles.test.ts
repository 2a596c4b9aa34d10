/**
 * An open store does not hold the event loop: a script that writes and forgets `close()`
 * exits by itself, and what it wrote is there (the WAL is durable without a checkpoint).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/index.js';
import { killRecordedProcesses, spawnFixture } from '../helpers/processes.js';

const builtStore = join(import.meta.dirname, '..', '..', 'dist', 'store', 'index.js');

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-store-handles-'));
});

afterEach(async () => {
  await killRecordedProcesses();
  await rm(dir, { recursive: true, force: true });
});

describe('a store left open', () => {
  it('lets the process exit by itself, its writes kept', async () => {
    expect(existsSync(builtStore), 'build first: npx tsc -p tsconfig.build.json').toBe(true);
    const path = join(dir, 'runyard.db');
    const child = spawnFixture('store-write-once.mjs', [builtStore, path]);
    let bound: NodeJS.Timeout | undefined;
    const hung = new Promise<'hung'>((resolve) => {
      bound = setTimeout(() => resolve('hung'), 20_000);
    });
    const outcome = await Promise.race([child.exited, hung]);
    clearTimeout(bound);
    expect(outcome, 'the process was still running 20 s after its last write').not.toBe('hung');
    expect(outcome).toEqual({ code: 0, signal: null });
    const { id } = JSON.parse(child.lines[0]!) as { id: string };

    await using store = new SqliteStore({ path });
    expect(await store.get(id)).toMatchObject({ id, name: 'write-once', status: 'succeeded' });
  });
});
