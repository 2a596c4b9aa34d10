import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePsOutput, parseStat } from '../../src/process/process-table.js';
import {
  collectTree,
  isProcessAlive,
  readProcessTable,
  terminateTree,
} from '../../src/process/tree-kill.js';
import {
  fixturesDir,
  killRecordedProcesses,
  type SpawnedProcess,
  spawnCommand,
  spawnFixture,
  waitUntilDead,
} from '../helpers/processes.js';

const isLinux = process.platform === 'linux';

afterEach(async () => {
  await killRecordedProcesses();
});

/** A marker as runyard sets it on a run: unique per test, so runs never see each other. */
function newMarker() {
  return { name: 'RUNYARD_RUN_ID', value: randomUUID() };
}

async function ready(spawned: SpawnedProcess): Promise<number[]> {
  await spawned.waitForLine('ready');
  return spawned.pids();
}

function collectedPids(...args: Parameters<typeof collectTree>): number[] {
  return collectTree(...args).map((info) => info.pid);
}

describe.skipIf(process.platform === 'win32')('terminateTree', () => {
  it('ends a chain of three generations, every pid checked, without waiting for the grace', async () => {
    const tree = spawnFixture('spawn-grandchildren.js', ['3']);
    const pids = await ready(tree);
    expect(pids).toHaveLength(3);
    expect(pids[0]).toBe(tree.pid);
    expect(collectedPids(tree.pid).sort()).toEqual([...pids].sort());

    const started = performance.now();
    const result = await terminateTree(tree.pid, { graceMs: 60_000 });
    // Lopsided: a tree that takes SIGTERM ends in milliseconds, the grace is a minute.
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(result).toEqual({ signalled: 3, forced: 0, survivors: [] });
    expect(pids.filter(isProcessAlive)).toEqual([]);
    expect((await tree.exited).signal).toBe('SIGTERM');
  });

  it('ends a wide tree', async () => {
    const tree = spawnFixture('spawn-grandchildren.js', ['2', '4']);
    const pids = await ready(tree);
    expect(pids).toHaveLength(5);
    const result = await terminateTree(tree.pid);
    expect(result).toEqual({ signalled: 5, forced: 0, survivors: [] });
    expect(pids.filter(isProcessAlive)).toEqual([]);
  });

  it.skipIf(!isLinux)('finds a setsid escapee through the marker and ends it', async () => {
    const marker = newMarker();
    const tree = spawnFixture('setsid-escapee.js', [], { env: { [marker.name]: marker.value } });
    const [root, escapee] = await ready(tree);
    expect(root).toBe(tree.pid);
    // It left the group, the session and the parent chain.
    const info = readProcessTable().get(escapee!);
    expect(info).toMatchObject({ pgid: escapee, sid: escapee });
    expect(info?.ppid).not.toBe(tree.pid);

    expect(collectedPids(tree.pid, { marker }).sort()).toEqual([root, escapee].sort());
    const result = await terminateTree(tree.pid, { marker });
    expect(result).toEqual({ signalled: 2, forced: 0, survivors: [] });
    expect([root, escapee].filter((pid) => isProcessAlive(pid!))).toEqual([]);
  });

  it.skipIf(!isLinux)('misses a setsid escapee without the marker', async () => {
    const marker = newMarker();
    const tree = spawnFixture('setsid-escapee.js', [], { env: { [marker.name]: marker.value } });
    const [, escapee] = await ready(tree);
    expect(collectedPids(tree.pid)).toEqual([tree.pid]);
    // Another run's marker finds nothing of this one.
    expect(collectedPids(tree.pid, { marker: newMarker() })).toEqual([tree.pid]);

    expect(await terminateTree(tree.pid)).toEqual({ signalled: 1, forced: 0, survivors: [] });
    expect(isProcessAlive(escapee!)).toBe(true);
    expect(await terminateTree(escapee!)).toEqual({ signalled: 1, forced: 0, survivors: [] });
    expect(isProcessAlive(escapee!)).toBe(false);
  });

  it('gives a TERM-ignoring child SIGKILL once the grace has passed', async () => {
    const stubborn = spawnFixture('ignore-sigterm.js');
    await stubborn.waitForLine('ready');
    const started = performance.now();
    const result = await terminateTree(stubborn.pid, { graceMs: 200 });
    const elapsed = performance.now() - started;

    expect(result).toEqual({ signalled: 1, forced: 1, survivors: [] });
    expect(isProcessAlive(stubborn.pid)).toBe(false);
    // SIGTERM arrived and did not end it: it lived on until the SIGKILL...
    await stubborn.waitForLine('SIGTERM');
    expect((await stubborn.exited).signal).toBe('SIGKILL');
    // ...which waited for the grace, and no longer than a lopsided bound.
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(5000);
  });

  it('ends a TERM-ignoring shell and its TERM-ignoring background job', async () => {
    const script = 'trap "" TERM; sleep 1000 & echo "{\\"pid\\":$!}"; echo ready; wait';
    const shell = spawnCommand('sh', ['-c', script]);
    const [sleeper] = await ready(shell);
    expect(collectedPids(shell.pid).sort()).toEqual([shell.pid, sleeper].sort());

    const result = await terminateTree(shell.pid, { graceMs: 200 });
    expect(result).toEqual({ signalled: 2, forced: 2, survivors: [] });
    expect([shell.pid, sleeper!].filter(isProcessAlive)).toEqual([]);
  });

  it('signals a process forked during the grace, after its parent was signalled', async () => {
    const parent = spawnFixture('ignore-sigterm.js', ['--spawn-on-term']);
    await parent.waitForLine('ready');
    const result = await terminateTree(parent.pid, { graceMs: 300 });
    await parent.waitForLine((line) => line.startsWith('{'));
    const [newcomer] = parent.pids();

    expect(newcomer).toBeGreaterThan(0);
    // SIGTERM went once to the parent (one newcomer), then once to the newcomer.
    expect(parent.lines.filter((line) => line === 'SIGTERM')).toEqual(['SIGTERM']);
    expect(result.signalled).toBe(2);
    expect(result.forced).toBeGreaterThanOrEqual(1);
    expect(result.survivors).toEqual([]);
    expect([parent.pid, newcomer!].filter(isProcessAlive)).toEqual([]);
  });

  it('sends the given killSignal', async () => {
    const child = spawnFixture('forever.js');
    await child.waitForLine('ready');
    const result = await terminateTree(child.pid, { killSignal: 'SIGINT' });
    expect(result).toEqual({ signalled: 1, forced: 0, survivors: [] });
    expect((await child.exited).signal).toBe('SIGINT');
  });

  it('resolves with no survivors for a pid that already exited', async () => {
    const gone = spawnCommand(process.execPath, ['-e', '']);
    await gone.exited;
    expect(await terminateTree(gone.pid, { graceMs: 0 })).toEqual({
      signalled: 0,
      forced: 0,
      survivors: [],
    });
    expect(collectTree(gone.pid)).toEqual([]);
  });

  it('rejects bad options with ERR_INVALID', async () => {
    await expect(terminateTree(0)).rejects.toMatchObject({
      code: 'ERR_INVALID',
      message: 'Expected `rootPid` to be a positive integer, got `0` (number)',
    });
    await expect(terminateTree(process.pid, { graceMs: -1 })).rejects.toMatchObject({
      code: 'ERR_INVALID',
      message: 'Expected `graceMs` to be a non-negative number, got `-1` (number)',
    });
    const killSignal = 'SIGNOPE' as NodeJS.Signals;
    await expect(terminateTree(process.pid, { killSignal })).rejects.toMatchObject({
      code: 'ERR_INVALID',
    });
    const marker = { name: 'A=B', value: 'x' };
    expect(() => collectTree(process.pid, { marker })).toThrow('`marker.name`');
    expect(() => collectTree(process.pid, { pgid: 1.5 })).toThrow('`pgid`');
  });
});

describe.skipIf(process.platform === 'win32')('collectTree', () => {
  it('never returns the calling process, its process group or pid 1', async () => {
    const child = spawnFixture('forever.js');
    await child.waitForLine('ready');
    const ownPgid = readProcessTable().get(process.pid)?.pgid;
    expect(ownPgid).toBeGreaterThan(0);
    expect(collectedPids(child.pid, { pgid: ownPgid })).toEqual([child.pid]);

    // Not even below it: a run whose marker this process carried must not take its siblings.
    expect(collectedPids(process.pid)).toEqual([]);

    if (!isLinux) return;
    // A marker this very process carries, and so does nearly every process around it.
    const environ = await readFile('/proc/self/environ', 'utf8');
    const path = environ.split('\0').find((entry) => entry.startsWith('PATH='));
    expect(path).toBeDefined();
    const marker = { name: 'PATH', value: path!.slice('PATH='.length) };
    const everywhere = collectedPids(child.pid, { marker });
    expect(everywhere).toContain(child.pid);
    expect(everywhere).not.toContain(process.pid);
    expect(everywhere).not.toContain(1);
  });
});

describe('readProcessTable', () => {
  it.skipIf(!isLinux)('parses a command name holding spaces and parentheses', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runyard-comm-'));
    try {
      // A naive parse stops at the first `)` and reads state `R`, ppid 1.
      const program = join(dir, 'x) R 1 (y');
      await symlink(process.execPath, program);
      const child = spawnCommand(program, [join(fixturesDir, 'forever.js')]);
      await child.waitForLine('ready');
      expect(await readFile(`/proc/${child.pid}/comm`, 'utf8')).toBe('x) R 1 (y\n');

      const table = readProcessTable();
      const info = table.get(child.pid);
      expect(info).toMatchObject({ ppid: process.pid, pgid: child.pid, sid: child.pid });
      expect(['R', 'S']).toContain(info?.state);
      expect(info?.startTime).toBeGreaterThanOrEqual(table.get(process.pid)!.startTime);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lists this process with its parent', () => {
    expect(readProcessTable().get(process.pid)).toMatchObject({
      pid: process.pid,
      ppid: process.ppid,
    });
  });

  it('parses stat lines and ps output', () => {
    const line = '4242 (a b) (c) S 7 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 987654 1 2\n';
    expect(parseStat(line)).toEqual({
      pid: 4242,
      ppid: 7,
      pgid: 4242,
      sid: 4242,
      state: 'S',
      startTime: 987654,
    });
    expect(parseStat('4242 (truncated')).toBeUndefined();
    expect(parsePsOutput('    1     0     1\n  42   1  40\n\n')).toEqual(
      new Map([
        [1, { pid: 1, ppid: 0, pgid: 1, sid: 0, state: '', startTime: 0 }],
        [42, { pid: 42, ppid: 1, pgid: 40, sid: 0, state: '', startTime: 0 }],
      ]),
    );
  });

  it('counts a missing pid as dead', async () => {
    const gone = spawnCommand(process.execPath, ['-e', '']);
    await gone.exited;
    expect(isProcessAlive(gone.pid)).toBe(false);
    expect(isProcessAlive(process.pid)).toBe(true);
    await waitUntilDead([gone.pid], 0);
  });
});
