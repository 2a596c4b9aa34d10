// A host that ends abruptly (process.exit(), an uncaught exception) must take its runs' whole
// trees with it, escapees that left the process group with setsid included.
import { afterEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/process/process-table.js';
import { killRecordedProcesses, spawnFixture, waitUntilDead } from '../helpers/processes.js';

afterEach(async () => {
  await killRecordedProcesses();
});

describe.skipIf(process.platform !== 'linux')('the exit hook ends setsid escapees', () => {
  it.each([
    ['process.exit()', 'exit', 0],
    ['an uncaught exception', 'throw', 1],
  ])('%s', async (_label, mode, code) => {
    const host = spawnFixture('process-exit-host.mjs', [mode]);
    await host.waitForLine('ready', 20_000);
    // The run's own process and the escapee it left behind in a session of its own.
    const pids = host.pids().filter((pid) => pid !== host.pid);
    expect(pids).toHaveLength(2);
    expect((await host.exited).code).toBe(code);
    await waitUntilDead(pids, 10_000);
    expect(pids.filter(isProcessAlive)).toEqual([]);
  });
});
