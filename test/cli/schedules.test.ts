import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Executor } from '../../src/executor/executor.js';
import { Scheduler } from '../../src/schedules/scheduler.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { TaskManager } from '../../src/tasks/task-manager.js';
import { runCli } from '../helpers/cli.js';

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-schedules-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

function runyard(args: string[]) {
  return runCli(args, { home });
}

describe('runyard schedules', () => {
  it('lists the schedules that fired, with their last run and failures', async () => {
    expect((await runyard(['schedules'])).stdout).toBe('No schedule has fired yet.\n');
    const store = new SqliteStore({ path: join(home, 'runyard.db') });
    const executor = new Executor({ concurrency: 2, resources: false });
    const manager = new TaskManager({ store, executor, logDir: join(home, 'logs') });
    const scheduler = new Scheduler({ manager });
    try {
      let calls = 0;
      const flaky = scheduler.add(
        'flaky-sync',
        { everyMs: 3_600_000 },
        {
          fn: () => {
            calls++;
            if (calls === 1) throw new Error('upstream down');
          },
        },
        { overlap: 'allow' },
      );
      const nightly = scheduler.add('nightly-report', { cron: '0 3 * * *' }, { fn: () => 'ok' });
      for (const schedule of [flaky, flaky, nightly]) {
        const run = await schedule.trigger();
        await manager.wait(run.id);
      }
    } finally {
      await scheduler.stop({ graceMs: 0 });
      await manager.shutdown({ graceMs: 0 });
      await executor.close();
      await store.close();
    }
    const listed = await runyard(['schedules', '--json']);
    expect(listed.code).toBe(0);
    const schedules = JSON.parse(listed.stdout) as {
      name: string;
      runs: number;
      failures: number;
      lastRun: { status: string; pattern: string };
    }[];
    expect(schedules.map((s) => [s.name, s.runs, s.failures, s.lastRun.status])).toEqual([
      ['flaky-sync', 2, 1, 'succeeded'],
      ['nightly-report', 1, 0, 'succeeded'],
    ]);
    expect(schedules[0]!.lastRun.pattern).toBe('periodic');
    const table = await runyard(['schedules']);
    expect(table.stdout).toMatch(/^SCHEDULE\s+LAST RUN \(UTC\)\s+STATUS\s+FAILED\s+RUN ID\n/);
    expect(table.stdout).toContain('1 of 2');
  });
});
