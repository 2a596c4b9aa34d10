/**
 * What a killed task manager leaves behind is ended before anything else happens: a first
 * copy started just before the crash is never joined by a second one, and daemons that left
 * the tree die even when the run's direct child is long gone.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newRunId } from '../../src/core/ids.js';
import type { RunRecord } from '../../src/core/types.js';
import { Executor } from '../../src/executor/executor.js';
import { isProcessAlive } from '../../src/process/process-table.js';
import { recoverStaleRuns } from '../../src/schedules/maintenance.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { TaskManager } from '../../src/tasks/task-manager.js';
import {
  fixturesDir,
  killRecordedProcesses,
  recordPid,
  spawnFixture,
  waitUntilDead,
} from '../helpers/processes.js';

let dir: string;
const cleanup: (() => Promise<unknown>)[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-tasks-orphans-'));
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await killRecordedProcesses();
  await rm(dir, { recursive: true, force: true });
});

const node = process.execPath;
const fixture = (name: string) => join(fixturesDir, name);

interface Spec {
  tasks: { command: string; args: string[] }[];
  stallRunning?: boolean;
  waitForEscapees?: boolean;
}

/** Starts a runner on the store at `path`; resolves with its report, or once it died. */
async function startRunner(path: string, spec: Spec) {
  const runner = spawnFixture('tasks-runner.mjs', [path, join(dir, 'logs'), JSON.stringify(spec)]);
  const report = await Promise.race([
    runner
      .waitForLine((line) => line.startsWith('{'), 20_000)
      .then((line) => JSON.parse(line) as { ids: string[]; pids: number[] }),
    runner.exited.then(() => undefined),
  ]);
  for (const pid of report?.pids ?? []) recordPid(pid);
  return { runner, report };
}

/** A manager in this process on the same store, as the next start would make. */
function nextManager(path: string) {
  const store = new SqliteStore({ path });
  const executor = new Executor({ concurrency: 2, resources: false });
  const manager = new TaskManager({ store, executor, logDir: join(dir, 'logs'), pollMs: 50 });
  cleanup.push(async () => {
    await manager.shutdown({ graceMs: 0 });
    await executor.close();
    await store.close();
  });
  return { store, manager };
}

async function untilDead(pid: number): Promise<void> {
  await waitUntilDead([pid], 20_000);
}

it('a crash between the spawn and `running` never lets recover() start a second copy beside the first', async () => {
  const path = join(dir, 'runyard.db');
  const journal = join(dir, 'journal');
  const { runner } = await startRunner(path, {
    tasks: [{ command: node, args: [fixture('tasks-kill-runner.js'), '$RUNNER_PID', journal] }],
    stallRunning: true,
  });
  expect((await runner.exited).signal).toBe('SIGKILL');
  const first = Number((await readFile(journal, 'utf8')).match(/^start (\d+)$/m)![1]);
  recordPid(first);
  expect(isProcessAlive(first)).toBe(true);

  const { store, manager } = nextManager(path);
  const [queued] = (await store.list({ status: 'queued' })).runs;
  expect(queued?.pid).toBeUndefined();
  expect(await manager.recover()).toMatchObject({ requeued: 1, orphansEnded: 1 });
  expect(isProcessAlive(first)).toBe(false);
  const done = await manager.wait(queued!.id);
  expect(done).toMatchObject({ status: 'succeeded', owner: { pid: process.pid } });
  const lines = (await readFile(journal, 'utf8')).trim().split('\n');
  const second = done.pid;
  expect(lines).toEqual([`start ${first}`, `end ${first}`, `start ${second}`, `end ${second}`]);
});

describe.each([
  ['recover()', (manager: TaskManager, _store: SqliteStore, _id: string) => manager.recover()],
  ['cancel()', (manager: TaskManager, _store: SqliteStore, id: string) => manager.cancel(id)],
  ['recoverStaleRuns()', (_manager: TaskManager, store: SqliteStore) => recoverStaleRuns(store)],
])('%s of a dead owner whose child died with it', (_name, settle) => {
  it('ends the daemon the child left', async () => {
    const path = join(dir, 'runyard.db');
    const { runner, report } = await startRunner(path, {
      tasks: [{ command: node, args: [fixture('tasks-escapee-ticker.js')] }],
      waitForEscapees: true,
    });
    const [id] = report!.ids;
    const [escapee] = report!.pids;
    const { store, manager } = nextManager(path);
    const running = (await store.get(id!)) as RunRecord;
    expect(running.status).toBe('running');
    runner.child.kill('SIGKILL');
    await runner.exited;
    // The ticker dies of its broken pipe; the daemon it started lives on.
    await untilDead(running.pid!);
    expect(isProcessAlive(escapee!)).toBe(true);

    await settle(manager, store, id!);
    expect(isProcessAlive(escapee!)).toBe(false);
    const settled = await store.get(id!);
    expect(['interrupted', 'cancelled']).toContain(settled?.status);
  });
});

it('ends the orphans of several runs at once, not one grace period after another', async () => {
  const path = join(dir, 'runyard.db');
  const task = { command: node, args: [fixture('tasks-escapee-ticker.js'), '--ignore-term'] };
  const { runner, report } = await startRunner(path, {
    tasks: [task, task, task],
    waitForEscapees: true,
  });
  runner.child.kill('SIGKILL');
  await runner.exited;
  const { manager } = nextManager(path);
  const started = performance.now();
  expect(await manager.recover()).toMatchObject({ interrupted: 3, orphansEnded: 3 });
  // Each escapee ignores SIGTERM and waits out the 2 s grace: three in turn would take 6 s.
  expect(performance.now() - started).toBeLessThan(5000);
  expect(report!.pids.filter(isProcessAlive)).toEqual([]);
});

it('two recover() calls at once take a queued run over once', async () => {
  const path = join(dir, 'runyard.db');
  const journal = join(dir, 'journal');
  const { store, manager } = nextManager(path);
  const gone = spawnFixture('exit-with.js', ['0']);
  await gone.exited;
  const id = newRunId();
  await store.create({
    id,
    name: 'report',
    pattern: 'fire-and-forget',
    status: 'queued',
    attempt: 1,
    createdAt: new Date().toISOString(),
    output: { lines: 0, bytes: 0, truncated: false },
    command: node,
    args: [fixture('tasks-kill-runner.js'), '0', journal],
    owner: { pid: gone.pid, host: hostname(), startTime: 1 },
  });
  const summaries = await Promise.all([manager.recover(), manager.recover()]);
  expect(summaries.map((summary) => summary.requeued)).toEqual([1, 0]);
  expect(await manager.wait(id)).toMatchObject({ status: 'succeeded' });
  expect((await readFile(journal, 'utf8')).match(/^start /gm)).toHaveLength(1);
});

it('two processes recovering at once take a queued run over once, and end nothing of the winner', async () => {
  const path = join(dir, 'runyard.db');
  const journal = join(dir, 'journal');
  const go = join(dir, 'go');
  const { store } = nextManager(path);
  const gone = spawnFixture('exit-with.js', ['0']);
  await gone.exited;
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const id = newRunId();
    ids.push(id);
    await store.create({
      id,
      name: `report-${i}`,
      pattern: 'fire-and-forget',
      status: 'queued',
      attempt: 1,
      createdAt: new Date().toISOString(),
      output: { lines: 0, bytes: 0, truncated: false },
      command: node,
      args: [fixture('tasks-kill-runner.js'), '0', journal],
      owner: { pid: gone.pid, host: hostname(), startTime: 1 },
    });
  }
  const recoverers = [0, 1].map(() =>
    spawnFixture('tasks-recover-once.mjs', [path, join(dir, 'logs'), go]),
  );
  await writeFile(go, '');
  const summaries = await Promise.all(
    recoverers.map(async (child) => {
      const line = await child.waitForLine((text) => text.startsWith('{'), 30_000);
      await child.exited;
      return JSON.parse(line) as { requeued: number; interrupted: number };
    }),
  );
  expect(summaries[0]!.requeued + summaries[1]!.requeued).toBe(ids.length);
  expect(summaries.every((summary) => summary.interrupted === 0)).toBe(true);
  for (const id of ids) expect((await store.get(id))?.status).toBe('succeeded');
  const lines = (await readFile(journal, 'utf8')).trim().split('\n');
  expect(lines.filter((line) => line.startsWith('start '))).toHaveLength(ids.length);
  expect(lines.filter((line) => line.startsWith('end '))).toHaveLength(ids.length);
});
