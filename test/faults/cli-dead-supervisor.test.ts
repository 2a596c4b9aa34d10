// A `runyard launch` supervisor killed with SIGKILL: every command that reads runs settles
// its run (interrupted, leftover tree ended) before it answers, and `logs -f` ends with it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/core/types.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runCli, startCli, waitForTree } from '../helpers/cli.js';
import { fixturesDir, killRecordedProcesses, waitUntilDead } from '../helpers/processes.js';

const node = process.execPath;
const tree = join(fixturesDir, 'cli-tree.js');

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-cli-supervisor-'));
});
afterEach(async () => {
  await killRecordedProcesses();
  await rm(home, { recursive: true, force: true });
});

/** The record as stored, read without a CLI command (which would settle it). */
async function stored(id: string): Promise<RunRecord> {
  const store = new SqliteStore({ path: join(home, 'runyard.db') });
  try {
    return (await store.get(id))!;
  } finally {
    await store.close();
  }
}

/** Launches the tree fixture and waits until it is up and recorded `running`. */
async function launchTree(): Promise<{ id: string; pids: number[]; supervisor: number }> {
  const pidFile = join(home, 'pids');
  const launched = await runCli(['launch', '--', node, tree, pidFile], { home });
  expect(launched.code).toBe(0);
  const id = launched.stdout.trim();
  const pids = await waitForTree(pidFile);
  const deadline = performance.now() + 10_000;
  let record = await stored(id);
  while (record.status !== 'running' && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    record = await stored(id);
  }
  expect(record.status).toBe('running');
  return { id, pids, supervisor: record.owner!.pid };
}

describe('a launch supervisor killed with SIGKILL', () => {
  it('logs -f ends when the owner dies; the run is interrupted and its tree ended', async () => {
    const { id, pids, supervisor } = await launchTree();
    const follower = startCli(['logs', '-f', id], home);
    await follower.waitForLine('ready');
    process.kill(supervisor, 'SIGKILL');
    const { code } = await follower.exited;
    expect(code).toBe(0);
    expect((await stored(id)).status).toBe('interrupted');
    await waitUntilDead(pids);
  });

  it.each([
    ['ls', ['ls']],
    ['show', ['show', '<id>']],
    ['logs', ['logs', '<id>']],
    ['schedules', ['schedules']],
    ['prune', ['prune', '--dry-run']],
    ['cancel', ['cancel', '<id>']],
  ])('%s settles the run first', async (_name, args) => {
    const { id, pids, supervisor } = await launchTree();
    process.kill(supervisor, 'SIGKILL');
    await waitUntilDead([supervisor]);
    expect((await stored(id)).status).toBe('running');
    const result = await runCli(
      args.map((arg) => (arg === '<id>' ? id : arg)),
      { home },
    );
    expect(result.code).toBe(0);
    expect((await stored(id)).status).toBe('interrupted');
    await waitUntilDead(pids);
    if (args[0] === 'ls') expect(result.stdout).toContain('interrupted');
    if (args[0] === 'cancel') expect(result.stdout).toBe(`${id} interrupted\n`);
  });
});
