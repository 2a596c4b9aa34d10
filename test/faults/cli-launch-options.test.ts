// `runyard launch` with bad options: exit 2 at once, and leave no supervisor process and no
// record behind (the supervisor used to be spawned before the options were checked).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runCli } from '../helpers/cli.js';
import { fixturesDir } from '../helpers/processes.js';

const forever = join(fixturesDir, 'forever.js');

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-cli-launch-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

/** Pids of live processes whose command line names `home`: a supervisor would. */
function processesOf(home: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(home)) found.push(Number(entry));
    } catch {}
  }
  return found;
}

async function recordCount(): Promise<number> {
  const path = join(home, 'runyard.db');
  if (!existsSync(path)) return 0;
  const store = new SqliteStore({ path });
  try {
    return (await store.list({ limit: 1000 })).runs.length;
  } finally {
    await store.close();
  }
}

describe.skipIf(process.platform !== 'linux')('runyard launch with bad options', () => {
  it.each([
    [['--label', 'bad'], 'Expected `--label` as key=value'],
    [['--retries', '0'], 'Expected `--retries` to be a positive integer'],
    [['--timeout', '30'], 'Expected `--timeout` to be a duration with a unit'],
    [['--store', 'memory:'], 'Expected `--store` to be a store other processes can open'],
    [['--store', 'mysql://x'], 'Expected `url` to be a store URL'],
    [['--lable', 'a=b'], 'Unknown option `--lable`: did you mean `--label`?'],
  ])(
    '%j exits 2 at once, with no process and no record left',
    async (flags, message) => {
      const result = await runCli(
        ['launch', '--home', home, ...flags, '--', process.execPath, forever],
        {
          home,
        },
      );
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr).toContain('Usage: runyard launch');
      expect(processesOf(home)).toEqual([]);
      expect(await recordCount()).toBe(0);
    },
    20_000,
  );
});
