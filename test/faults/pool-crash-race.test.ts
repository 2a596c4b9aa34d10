// ProcessPool workers SIGKILLed at random moments, busy or idle: every run() settles and none is
// given to a dead worker. In a process of its own, where a forgotten run() shows as exit code 13.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { killRecordedProcesses, spawnFixture, waitUntilDead } from '../helpers/processes.js';

const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const rounds = 50;

afterEach(killRecordedProcesses);

describe('ProcessPool crash race', () => {
  it(`settles every run over ${rounds} rounds of busy and idle workers SIGKILLed`, async () => {
    const race = spawnFixture('pool/crash-race.mjs', [python, String(rounds), '4']);
    const summaryLine = race.waitForLine((line) => line.startsWith('{'), 60_000);
    const { code } = await race.exited;
    // 13: Node exited with a run() still pending, nothing left to settle it.
    expect(code).toBe(0);
    const summary = JSON.parse(await summaryLine) as {
      resolved: number;
      crashed: number;
      deadIdleResolved: number;
      restarts: number;
      pids: number[];
      alive: number[];
    };
    // Each round kills one busy and one idle worker; the task sent after a kill the pool had
    // no chance to see, once the worker was gone, ran on another worker every time.
    expect(summary.restarts).toBeGreaterThanOrEqual(2 * rounds);
    expect(summary.deadIdleResolved).toBe(rounds / 2);
    // The busy kill comes before, during or after the task: some of each outcome.
    expect(summary.crashed).toBeGreaterThan(0);
    expect(summary.resolved).toBeGreaterThan(2 * rounds);
    expect(summary.alive).toEqual([]);
    await waitUntilDead(summary.pids);
  }, 90_000);
});
