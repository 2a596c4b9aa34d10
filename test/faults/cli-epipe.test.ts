// `runyard run -- yes | head -1`: a closed stdout ends the run as a shell pipeline does: the
// child tree is ended and runyard exits 141 (128 + SIGPIPE), without a stack trace.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cliPath, hasStackTrace, waitForTree } from '../helpers/cli.js';
import {
  fixturesDir,
  killRecordedProcesses,
  spawnCommand,
  waitUntilDead,
} from '../helpers/processes.js';

const node = process.execPath;

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-cli-epipe-'));
});
afterEach(async () => {
  await killRecordedProcesses();
  await rm(home, { recursive: true, force: true });
});

describe('runyard run into a closed pipe', () => {
  it('ends the whole tree and exits 141', async () => {
    const pidFile = join(home, 'pids');
    const tree = join(fixturesDir, 'cli-tree.js');
    // bash reports each stage's exit code; grep, like `head -1`, exits after the line it wants.
    const pipeline = `"${node}" "${cliPath}" run -- "${node}" "${tree}" "${pidFile}" --spew | grep -m1 -x ready >/dev/null; echo "codes \${PIPESTATUS[*]}"`;
    const shell = spawnCommand('bash', ['-c', pipeline], { env: { RUNYARD_HOME: home } });
    let stderr = '';
    shell.child.stderr!.on('data', (text: string) => {
      stderr += text;
    });
    const pids = await waitForTree(pidFile);
    const line = await shell.waitForLine((text) => text.startsWith('codes '), 20_000);
    expect(line).toBe('codes 141 0');
    await waitUntilDead(pids);
    expect(hasStackTrace(stderr)).toBe(false);
    await shell.exited;
  });
});
