import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newRunId } from '../../src/core/ids.js';
import type { RunRecord, RunStatus } from '../../src/core/types.js';
import { currentOwner } from '../../src/process/owner.js';
import {
  addMaintenance,
  maintenanceDefaults,
  maintenanceJobs,
  optimizeStore,
  pruneRuns,
  recoverStaleRuns,
  removeOrphanLogs,
} from '../../src/schedules/maintenance.js';
import { Scheduler } from '../../src/schedules/scheduler.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const DAY = 86_400_000;

let dir: string;
let logDir: string;
let store: SqliteStore;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-maintenance-'));
  logDir = join(dir, 'logs');
  await mkdir(logDir);
  store = new SqliteStore({ path: join(dir, 'runyard.db') });
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A run created `ageDays` ago, with a log file. */
async function seed(
  name: string,
  ageDays: number,
  status: RunStatus,
  extra: Partial<RunRecord> = {},
): Promise<RunRecord> {
  const createdMs = Date.now() - ageDays * DAY;
  const record: RunRecord = {
    id: newRunId(createdMs),
    name,
    pattern: 'fire-and-forget',
    status,
    attempt: 1,
    createdAt: new Date(createdMs).toISOString(),
    output: { lines: 1, bytes: 6, truncated: false },
    ...extra,
  };
  await store.create(record);
  await writeFile(join(logDir, `${record.id}.log`), 'hello\n');
  return record;
}

async function logFiles(): Promise<string[]> {
  return (await readdir(logDir)).sort();
}

/** Makes a file look untouched for `ageMs`. */
async function age(path: string, ageMs: number): Promise<void> {
  const when = new Date(Date.now() - ageMs);
  await utimes(path, when, when);
}

describe('pruneRuns', () => {
  it('deletes exactly the old finished runs past keepLast, and their log files', async () => {
    const oldA = [
      await seed('a', 60, 'succeeded'),
      await seed('a', 50, 'failed'),
      await seed('a', 40, 'cancelled'),
    ];
    const oldB = [await seed('b', 45, 'timed_out'), await seed('b', 35, 'interrupted')];
    const recent = await seed('a', 1, 'succeeded');
    const oldRunning = await seed('c', 90, 'running');
    const oldQueued = await seed('c', 80, 'queued');
    const noLog = await seed('d', 70, 'succeeded');
    await rm(join(logDir, `${noLog.id}.log`));
    await writeFile(join(logDir, 'notes.txt'), 'mine\n');

    const result = await pruneRuns({ store, logDir, olderThanMs: 30 * DAY, keepLast: 1 });

    // keepLast counts finished runs of each name, newest first: `a` keeps `recent`, `b` its newest.
    const deleted = [...oldA, oldB[0]!];
    expect([...result.ids].sort()).toEqual(deleted.map((r) => r.id).sort());
    expect(result).toMatchObject({ runs: 4, logFiles: 4, errors: [] });
    for (const run of deleted) expect(await store.get(run.id)).toBeUndefined();
    for (const run of [oldB[1]!, recent, oldRunning, oldQueued]) {
      expect(await store.get(run.id)).toBeDefined();
    }
    expect(await logFiles()).toEqual(
      [
        `${oldB[1]!.id}.log`,
        `${recent.id}.log`,
        `${oldRunning.id}.log`,
        `${oldQueued.id}.log`,
        'notes.txt',
      ].sort(),
    );
    // `d` had no log file: its run goes, nothing else.
    const second = await pruneRuns({ store, logDir, olderThanMs: 30 * DAY });
    expect(second).toMatchObject({ runs: 2, logFiles: 1 });
  });

  it('goes on past a log file it cannot delete', async () => {
    const run = await seed('a', 40, 'succeeded');
    const other = await seed('b', 40, 'succeeded');
    // A directory where the log file should be: unlink fails with EISDIR/EPERM.
    await rm(join(logDir, `${run.id}.log`));
    await mkdir(join(logDir, `${run.id}.log`));
    const result = await pruneRuns({ store, logDir, olderThanMs: 30 * DAY });
    expect(result.runs).toBe(2);
    expect(result.logFiles).toBe(1);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toContain(run.id);
    expect(await logFiles()).not.toContain(`${other.id}.log`);
  });
});

describe('removeOrphanLogs', () => {
  it('deletes old log files no run owns, and nothing else', async () => {
    const running = await seed('live', 0, 'running');
    const queued = await seed('waiting', 0, 'queued');
    const done = await seed('done', 0, 'succeeded');
    const orphanOld = `${newRunId(Date.now() - 10 * DAY)}.log`;
    const orphanFresh = `${newRunId()}.log`;
    const names = [
      orphanOld,
      orphanFresh,
      'app.log',
      'build.log',
      'notes.txt',
      `${newRunId().toUpperCase()}.log`,
      `${newRunId()}.log.1`,
    ];
    for (const name of names) await writeFile(join(logDir, name), 'x\n');
    // Everything looks old, the fresh orphan excepted: only age and ownership decide.
    for (const name of await logFiles()) {
      if (name !== orphanFresh) await age(join(logDir, name), 2 * 3_600_000);
    }
    await mkdir(join(logDir, `${newRunId()}.log`));

    const result = await removeOrphanLogs({ store, logDir });
    expect(result).toEqual({ logFiles: 1, errors: [] });
    const left = await logFiles();
    expect(left).not.toContain(orphanOld);
    for (const run of [running, queued, done]) expect(left).toContain(`${run.id}.log`);
    for (const name of names.slice(1)) expect(left).toContain(name);
  });

  it('tolerates a missing folder', async () => {
    expect(await removeOrphanLogs({ store, logDir: join(dir, 'nowhere') })).toEqual({
      logFiles: 0,
      errors: [],
    });
  });
});

describe('recoverStaleRuns', () => {
  it('marks runs of dead owners interrupted and leaves the rest alone', async () => {
    const self = currentOwner();
    const dead = { pid: self.pid, host: hostname(), startTime: self.startTime + 12_345 };
    const deadRunning = await seed('a', 0, 'running', { owner: dead });
    const deadQueuedFunction = await seed('b', 0, 'queued', { owner: dead });
    const deadQueuedProgram = await seed('c', 0, 'queued', {
      owner: dead,
      command: '/bin/true',
      args: [],
    });
    const liveRunning = await seed('d', 0, 'running', { owner: self });
    const elsewhere = await seed('e', 0, 'running', {
      owner: { pid: 1, host: 'another-host.example', startTime: 1 },
    });

    const result = await recoverStaleRuns(store);

    expect(result).toEqual({ interrupted: 2, orphansEnded: 0 });
    expect((await store.get(deadRunning.id))?.status).toBe('interrupted');
    expect((await store.get(deadRunning.id))?.error?.code).toBe('ERR_INTERRUPTED');
    expect((await store.get(deadQueuedFunction.id))?.status).toBe('interrupted');
    // Left for a TaskManager's recover() to start again.
    expect((await store.get(deadQueuedProgram.id))?.status).toBe('queued');
    expect((await store.get(liveRunning.id))?.status).toBe('running');
    expect((await store.get(elsewhere.id))?.status).toBe('running');
  });
});

describe('optimizeStore', () => {
  it('runs PRAGMA optimize on a SqliteStore; a MemoryStore has nothing to optimize', async () => {
    await seed('a', 0, 'succeeded');
    expect(await optimizeStore(store)).toBe(true);
    expect(await optimizeStore(new MemoryStore())).toBe(false);
  });
});

describe('addMaintenance', () => {
  it('registers each job as a schedule with a stable name and its default interval', async () => {
    const scheduler = new Scheduler();
    try {
      const schedules = addMaintenance(scheduler, { store, logDir });
      expect(schedules.map((s) => [s.name, s.everyMs])).toEqual([
        [maintenanceJobs.pruneRuns, maintenanceDefaults.everyMs.pruneRuns],
        [maintenanceJobs.pruneLogs, maintenanceDefaults.everyMs.pruneLogs],
        [maintenanceJobs.recoverRuns, maintenanceDefaults.everyMs.recoverRuns],
        [maintenanceJobs.optimizeStore, maintenanceDefaults.everyMs.optimizeStore],
      ]);
      expect(new Set(schedules.map((s) => s.id)).size).toBe(4);
      expect(scheduler.list()).toEqual(schedules);
      // Adding them twice is refused, and changes nothing.
      expect(() => addMaintenance(scheduler, { store, logDir })).toThrow(/`name`/);
      expect(scheduler.list()).toHaveLength(4);
    } finally {
      await scheduler.stop();
    }
  });

  it('each job can be triggered, and does its work', async () => {
    const old = await seed('a', 31, 'succeeded');
    const kept = await seed('a', 29, 'succeeded');
    const orphan = `${newRunId(Date.now() - DAY)}.log`;
    await writeFile(join(logDir, orphan), 'x\n');
    await age(join(logDir, orphan), 2 * 3_600_000);
    const self = currentOwner();
    const stale = await seed('s', 0, 'running', {
      owner: { pid: self.pid, host: hostname(), startTime: self.startTime + 1 },
    });
    const scheduler = new Scheduler();
    try {
      const schedules = addMaintenance(scheduler, {
        store,
        logDir,
        everyMs: { pruneRuns: 60_000 },
      });
      expect(schedules[0]!.everyMs).toBe(60_000);
      const ends = new Map<string, RunRecord>();
      const allEnded = new Promise<void>((resolve) => {
        scheduler.on('end', ({ schedule, run }) => {
          ends.set(schedule, run);
          if (ends.size === schedules.length) resolve();
        });
      });
      for (const schedule of schedules) await schedule.trigger();
      await allEnded;
      for (const run of ends.values()) expect(run.status).toBe('succeeded');
      expect(await store.get(old.id)).toBeUndefined();
      expect(await store.get(kept.id)).toBeDefined();
      expect((await store.get(stale.id))?.status).toBe('interrupted');
      const left = await logFiles();
      expect(left).not.toContain(`${old.id}.log`);
      expect(left).not.toContain(orphan);
      expect(left).toContain(`${kept.id}.log`);
      expect(left).toContain(`${stale.id}.log`);
    } finally {
      await scheduler.stop();
    }
  });

  it('honours retentionDays and keepLast, and skips optimize for a store without it', async () => {
    const memory = new MemoryStore();
    const scheduler = new Scheduler();
    try {
      const schedules = addMaintenance(scheduler, {
        store: memory,
        logDir,
        retentionDays: 7,
        keepLast: 1,
      });
      expect(schedules.map((s) => s.name)).not.toContain(maintenanceJobs.optimizeStore);
      const make = (ageDays: number): RunRecord => {
        const createdMs = Date.now() - ageDays * DAY;
        return {
          id: newRunId(createdMs),
          name: 'job',
          pattern: 'simple',
          status: 'succeeded',
          attempt: 1,
          createdAt: new Date(createdMs).toISOString(),
          output: { lines: 0, bytes: 0, truncated: false },
        };
      };
      const runs = [make(10), make(9), make(8), make(1)];
      for (const run of runs) await memory.create(run);
      const ended = new Promise<RunRecord>((resolve) => {
        scheduler.on('end', ({ run }) => resolve(run));
      });
      await scheduler.get(maintenanceJobs.pruneRuns)!.trigger();
      expect((await ended).status).toBe('succeeded');
      const { runs: left } = await memory.list({ name: 'job' });
      // Older than 7 days and not the newest of its name: the three old ones go.
      expect(left.map((r) => r.id)).toEqual([runs[3]!.id]);
    } finally {
      await scheduler.stop();
      await memory.close();
    }
  });

  it('refuses bad options, naming the field', () => {
    const scheduler = new Scheduler();
    expect(() => addMaintenance(scheduler, { store, logDir: '' })).toThrow(/`logDir`/);
    expect(() => addMaintenance(scheduler, { store, logDir, retentionDays: -1 })).toThrow(
      /`retentionDays`/,
    );
    expect(() => addMaintenance(scheduler, { store, logDir, keepLast: 1.5 })).toThrow(/`keepLast`/);
    expect(() => addMaintenance(scheduler, { store, logDir, everyMs: { pruneRuns: 0 } })).toThrow(
      /`everyMs.pruneRuns`/,
    );
    expect(() =>
      addMaintenance(scheduler, { store, logDir, everyMs: { vacuum: 5 } as never }),
    ).toThrow(/`everyMs.vacuum`/);
    expect(scheduler.list()).toEqual([]);
  });

  it('refuses unknown option keys, suggesting the near name', async () => {
    const scheduler = new Scheduler();
    expect(() => addMaintenance(scheduler, { store, logDir, retentionDay: 3 } as never)).toThrow(
      'Unknown option `retentionDay`: did you mean `retentionDays`?',
    );
    expect(() =>
      addMaintenance(scheduler, { store, logDir, everyMs: { pruneRun: 5 } } as never),
    ).toThrow('Unknown option `everyMs.pruneRun`: did you mean `pruneRuns`?');
    expect(scheduler.list()).toEqual([]);
    await expect(
      pruneRuns({ store, logDir, olderThanMs: 1, keeplast: 2 } as never),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID',
      message: expect.stringContaining('`keepLast`?'),
    });
    await expect(removeOrphanLogs({ store, logDir, minAge: 2 } as never)).rejects.toMatchObject({
      code: 'ERR_INVALID',
      message: expect.stringContaining('`minAgeMs`?'),
    });
  });
});
