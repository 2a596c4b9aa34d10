// The signals a terminal or a process manager sends to `runyard run` and `runyard batch`: each
// one ends the whole child tree (an escapee in its own session included), settles every
// record, and exits 128 + the signal's number without a stack trace.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/core/types.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { hasStackTrace, startCli, waitForTree } from '../helpers/cli.js';
import { fixturesDir, killRecordedProcesses, waitUntilDead } from '../helpers/processes.js';

const node = process.execPath;
const tree = join(fixturesDir, 'cli-tree.js');
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const;

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-cli-signals-'));
});
afterEach(async () => {
  await killRecordedProcesses();
  await rm(home, { recursive: true, force: true });
});

/** Every record, read from the database itself: no CLI command that could settle runs. */
async function records(): Promise<RunRecord[]> {
  const store = new SqliteStore({ path: join(home, 'runyard.db') });
  try {
    return (await store.list({ limit: 1000 })).runs;
  } finally {
    await store.close();
  }
}

describe('runyard run under a stop signal', () => {
  it.each(signals)('%s ends the whole tree and exits 128 + n', async (signal) => {
    const pidFile = join(home, 'pids');
    const cli = startCli(['run', '--', node, tree, pidFile], home);
    const pids = await waitForTree(pidFile);
    expect(pids.length).toBe(6);
    cli.child.kill(signal);
    const { code } = await cli.exited;
    expect(code).toBe(128 + constants.signals[signal]);
    await waitUntilDead(pids);
    expect(hasStackTrace(cli.stderr())).toBe(false);
  });

  it('a second Ctrl-C kills a tree that ignores SIGTERM at once, with the same exit code', async () => {
    const pidFile = join(home, 'pids');
    const cli = startCli(
      ['run', '--kill-grace', '1h', '--', node, tree, pidFile, '--ignore-term'],
      home,
    );
    const pids = await waitForTree(pidFile);
    cli.child.kill('SIGINT');
    await waitForStderr(cli, 'stopping');
    cli.child.kill('SIGINT');
    const { code } = await cli.exited;
    expect(code).toBe(130);
    await waitUntilDead(pids);
    expect(hasStackTrace(cli.stderr())).toBe(false);
  });
});

describe('runyard batch under a stop signal', () => {
  async function startBatch(extra: string[], lines: string[]) {
    const file = join(home, 'commands.txt');
    await writeFile(file, `${lines.join('\n')}\n`);
    return startCli(['batch', '-j', '2', ...extra, file], home);
  }

  it.each(signals)(
    '%s ends every tree, records them cancelled and exits 128 + n',
    async (signal) => {
      const files = [join(home, 'a'), join(home, 'b')];
      const cli = await startBatch(
        [],
        [
          ...files.map((file) => `${node} ${tree} ${file}`),
          `${node} ${tree} ${join(home, 'never')}`,
        ],
      );
      // -j 2: the third line waits in the queue for a slot that never frees.
      const pids = (await Promise.all(files.map((file) => waitForTree(file)))).flat();
      cli.child.kill(signal);
      const { code } = await cli.exited;
      expect(code).toBe(128 + constants.signals[signal]);
      await waitUntilDead(pids);
      expect(hasStackTrace(cli.stderr())).toBe(false);
      const runs = await records();
      expect(runs).toHaveLength(4);
      expect(runs.filter((r) => r.status === 'running' || r.status === 'queued')).toEqual([]);
      expect(runs.map((r) => r.status)).toEqual(Array(4).fill('cancelled'));
    },
  );

  it('a double Ctrl-C kills at once and still records every run cancelled', async () => {
    const files = [join(home, 'a'), join(home, 'b')];
    const cli = await startBatch(
      ['--kill-grace', '1h'],
      [
        ...files.map((file) => `${node} ${tree} ${file} --ignore-term`),
        `${node} ${tree} ${join(home, 'c')}`,
      ],
    );
    const pids = (await Promise.all(files.map((file) => waitForTree(file)))).flat();
    cli.child.kill('SIGINT');
    await waitForStderr(cli, 'stopping');
    cli.child.kill('SIGINT');
    const { code } = await cli.exited;
    expect(code).toBe(130);
    await waitUntilDead(pids);
    expect(hasStackTrace(cli.stderr())).toBe(false);
    const runs = await records();
    expect(runs).toHaveLength(4);
    expect(runs.map((r) => r.status)).toEqual(Array(4).fill('cancelled'));
  });
});

async function waitForStderr(cli: { stderr(): string }, text: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!cli.stderr().includes(text)) {
    if (performance.now() > deadline) throw new Error(`No \`${text}\` on stderr: ${cli.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
