import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newRunId } from '../../src/core/ids.js';
import type { RunRecord, RunStatus } from '../../src/core/types.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runCli } from '../helpers/cli.js';

const DAY = 86_400_000;

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-prune-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

function runyard(args: string[]) {
  return runCli(args, { home });
}

/** Runs in `<home>/runyard.db`, each with a log file, created `ageDays` ago. */
async function seed(runs: [name: string, ageDays: number, status: RunStatus][]) {
  const store = new SqliteStore({ path: join(home, 'runyard.db') });
  await mkdir(join(home, 'logs'), { recursive: true });
  const made: RunRecord[] = [];
  try {
    for (const [name, ageDays, status] of runs) {
      const createdMs = Date.now() - ageDays * DAY;
      const record: RunRecord = {
        id: newRunId(createdMs),
        name,
        pattern: 'fire-and-forget',
        status,
        attempt: 1,
        createdAt: new Date(createdMs).toISOString(),
        output: { lines: 1, bytes: 2, truncated: false },
      };
      await store.create(record);
      await writeFile(join(home, 'logs', `${record.id}.log`), 'x\n');
      made.push(record);
    }
  } finally {
    await store.close();
  }
  return made;
}

async function remaining(): Promise<{ ids: string[]; logs: string[] }> {
  const store = new SqliteStore({ path: join(home, 'runyard.db') });
  try {
    const { runs } = await store.list({ limit: 1000 });
    return {
      ids: runs.map((r) => r.id).sort(),
      logs: (await readdir(join(home, 'logs'))).sort(),
    };
  } finally {
    await store.close();
  }
}

describe('runyard prune', () => {
  it('deletes finished runs older than --older-than, with their log files', async () => {
    const [old1, old2, recent, running] = await seed([
      ['a', 40, 'succeeded'],
      ['b', 35, 'failed'],
      ['a', 2, 'succeeded'],
      ['c', 90, 'running'],
    ]);
    const result = await runyard(['prune', '--older-than', '30d']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const [summary, header, ...rows] = result.stdout.trimEnd().split('\n');
    expect(summary).toBe('Deleted 2 runs and 2 log files.');
    expect(header).toMatch(/^ID\s+NAME\s+STATUS/);
    // It names what it deleted, newest first.
    expect(rows.map((row) => row.split(/\s+/).slice(0, 3))).toEqual([
      [old2!.id, 'b', 'failed'],
      [old1!.id, 'a', 'succeeded'],
    ]);
    const left = await remaining();
    expect(left.ids).toEqual([recent!.id, running!.id].sort());
    expect(left.logs).toEqual([`${recent!.id}.log`, `${running!.id}.log`].sort());
    expect(left.ids).not.toContain(old1!.id);
    expect(left.ids).not.toContain(old2!.id);
  });

  it('--keep-last keeps the newest of each name; --json reports what went', async () => {
    const runs = await seed([
      ['a', 50, 'succeeded'],
      ['a', 45, 'succeeded'],
      ['b', 40, 'cancelled'],
    ]);
    const result = await runyard(['prune', '--older-than', '1d', '--keep-last', '1', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      runs: 1,
      logFiles: 1,
      ids: [runs[0]!.id],
      errors: [],
    });
    expect((await remaining()).ids).toEqual([runs[1]!.id, runs[2]!.id].sort());
  });

  it('defaults to 30 days, and works with --home on an empty home', async () => {
    await seed([
      ['a', 31, 'succeeded'],
      ['a', 29, 'succeeded'],
    ]);
    const result = await runyard(['prune']);
    expect(result.stdout).toMatch(/^Deleted 1 run and 1 log file\.\nID /);
    const other = await mkdtemp(join(tmpdir(), 'runyard-prune-other-'));
    try {
      const empty = await runyard(['prune', '--home', other]);
      expect(empty.code).toBe(0);
      expect(empty.stdout).toBe('Deleted 0 runs and 0 log files.\n');
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('--dry-run lists what it would delete and deletes nothing', async () => {
    const [old, recent] = await seed([
      ['a', 40, 'succeeded'],
      ['a', 2, 'succeeded'],
    ]);
    const before = await remaining();
    const result = await runyard(['prune', '--older-than', '30d', '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Would delete 1 run; nothing was deleted\.\nID /);
    expect(result.stdout).toContain(old!.id);
    expect(result.stdout).not.toContain(recent!.id);
    expect(await remaining()).toEqual(before);
    const json = await runyard(['prune', '--older-than', '30d', '--dry-run', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ runs: 1, ids: [old!.id], dryRun: true });
    expect(await remaining()).toEqual(before);
  });

  it('a duration without a unit is refused, and nothing is deleted', async () => {
    await seed([
      ['a', 40, 'succeeded'],
      ['a', 1, 'succeeded'],
    ]);
    const before = await remaining();
    const result = await runyard(['prune', '--older-than', '30']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      'Expected `--older-than` to be a duration with a unit (ms, s, m, h or d)',
    );
    expect(await remaining()).toEqual(before);
  });

  it('refuses bad options with exit code 2 and the usage', async () => {
    for (const args of [
      ['--older-than', 'soon'],
      ['--keep-last', '-1'],
      ['--keep-last', 'x'],
      ['stray'],
      ['--older-than', '7'],
      ['--olderthan', '7d'],
    ]) {
      const result = await runyard(['prune', ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('Usage: runyard prune');
    }
    const help = await runyard(['prune', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--older-than <duration>');
    expect((await runyard(['--help'])).stdout).toContain('prune [--older-than 30d]');
  });
});
