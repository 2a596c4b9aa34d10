// `runyard run -- cmd &` in an interactive shell: a background job that read its terminal would
// be stopped by SIGTTIN, so runyard gives the program an empty stdin there instead.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliPath } from '../helpers/cli.js';
import { fixturesDir, killRecordedProcesses, spawnCommand } from '../helpers/processes.js';

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-cli-bg-'));
});
afterEach(async () => {
  await killRecordedProcesses();
  await rm(home, { recursive: true, force: true });
});

// script(1) gives bash a terminal; `bash -m` runs the job in a background process group of it.
describe.skipIf(!existsSync('/usr/bin/script'))('runyard run as a background job', () => {
  it('runs to its end instead of being stopped for reading the terminal', async () => {
    const job = `"${process.execPath}" "${cliPath}" run -- "${process.execPath}" "${join(fixturesDir, 'exit-with.js')}" 0 bg-done`;
    const shell = spawnCommand(
      '/usr/bin/script',
      ['-qec', `bash -mc '${job} & wait $!; echo code=$?'`, '/dev/null'],
      { env: { RUNYARD_HOME: home } },
    );
    const line = await shell.waitForLine((text) => text.startsWith('code='), 20_000);
    expect(line.trim()).toBe('code=0');
    expect(shell.lines.map((text) => text.trim())).toContain('bg-done');
    await shell.exited;
  });
});
