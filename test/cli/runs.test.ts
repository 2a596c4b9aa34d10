import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/core/types.js';
import { isProcessAlive } from '../../src/process/tree-kill.js';
import { cliPath, runCli } from '../helpers/cli.js';
import { waitUntilDead } from '../helpers/processes.js';

const root = join(import.meta.dirname, '..', '..');
const fixture = (name: string) => join(root, 'test', 'fixtures', name);
const node = process.execPath;

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-cli-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

function runyard(args: string[], input?: string) {
  return runCli(args, { home, ...(input !== undefined && { input }) });
}

async function show(id: string): Promise<RunRecord> {
  const result = await runyard(['show', '--json', id]);
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as RunRecord;
}

describe('runyard launch, logs, show, ls', () => {
  it('launch returns an id at once; the run goes on and is recorded to its end', async () => {
    const launched = await runyard([
      'launch',
      '--label',
      'kind=demo',
      '--',
      node,
      fixture('ticker.js'),
      '5',
      '20',
    ]);
    expect(launched.stderr).toBe('');
    expect(launched.code).toBe(0);
    const id = launched.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const logs = await runyard(['logs', '-f', id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe('tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n');

    const record = await show(id);
    expect(record).toMatchObject({ status: 'succeeded', exitCode: 0, labels: { kind: 'demo' } });
    // The supervisor that owned the run is gone too.
    await waitUntilDead([record.owner!.pid]);

    const text = await runyard(['show', id]);
    expect(text.stdout).toContain('status   succeeded');
    const listed = await runyard(['ls', '--json']);
    expect((JSON.parse(listed.stdout) as RunRecord[]).map((r) => r.id)).toEqual([id]);
    const table = await runyard(['ls', '--status', 'succeeded']);
    expect(table.stdout).toContain(id);
    expect((await runyard(['ls', '--status', 'failed'])).stdout).toBe('No runs.\n');
  });

  it('cancel ends a launched run and its whole tree', async () => {
    const launched = await runyard(['launch', '--', node, fixture('spawn-grandchildren.js'), '3']);
    const id = launched.stdout.trim();
    // Follow the log until the tree is up, collecting its pids.
    const pids: number[] = [];
    const follower = spawn(node, [cliPath, 'logs', '-f', id], {
      env: { ...process.env, RUNYARD_HOME: home },
    });
    // It ends by itself once the run ends, which may be before `cancel` returns.
    const followerClosed = once(follower, 'close');
    let buffered = '';
    await new Promise<void>((resolve) => {
      follower.stdout.setEncoding('utf8').on('data', (t: string) => {
        buffered += t;
        if (buffered.includes('ready\n')) resolve();
      });
    });
    for (const line of buffered.split('\n')) {
      if (line.startsWith('{')) pids.push((JSON.parse(line) as { pid: number }).pid);
    }
    expect(pids.length).toBe(3);
    const cancelled = await runyard(['cancel', id]);
    expect(cancelled).toMatchObject({ code: 0, stdout: `${id} cancelled\n` });
    expect(pids.filter(isProcessAlive)).toEqual([]);
    await followerClosed;
    expect((await show(id)).status).toBe('cancelled');
    expect((await runyard(['cancel', id])).stdout).toBe(`${id} cancelled\n`);
  });

  it('show counts the lines of a running run from its log file', async () => {
    const script =
      "for (let i = 1; i <= 42; i++) console.log('line ' + i); setInterval(() => {}, 1e9)";
    const id = (await runyard(['launch', '--', node, '-e', script])).stdout.trim();
    const deadline = performance.now() + 20_000;
    while (!(await runyard(['logs', id])).stdout.includes('line 42\n')) {
      expect(performance.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    try {
      const record = await show(id);
      expect(record.status).toBe('running');
      expect(record.output).toMatchObject({ lines: 42 });
      expect((await runyard(['show', id])).stdout).toMatch(/^output {3}42 lines, \d+ bytes$/m);
    } finally {
      expect((await runyard(['cancel', id])).code).toBe(0);
    }
  });

  it('an unknown id exits 3 and a bad status exits 2', async () => {
    const missing = await runyard(['show', '0190a0a0-0000-7000-8000-000000000000']);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('No run with id');
    const bad = await runyard(['ls', '--status', 'done']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Expected `--status` to be one of');
  });
});

describe('runyard batch', () => {
  it('runs a file of commands n at a time, prints a summary and exits 1 when one failed', async () => {
    const file = join(home, 'commands.txt');
    await writeFile(
      file,
      [
        '# encodes',
        `${node} ${fixture('exit-with.js')} 0 one`,
        '',
        `${node} ${fixture('exit-with.js')} 0 two`,
        `${node} ${fixture('exit-with.js')} 4 three`,
        `${node} ${fixture('exit-with.js')} 0 four`,
      ].join('\n'),
    );
    const result = await runyard(['batch', '-j', '2', file]);
    expect(result.code).toBe(1);
    const progress = result.stderr.trim().split('\n');
    expect(progress).toHaveLength(4);
    expect(progress.at(-1)).toMatch(/^\[4\/4\] (succeeded|failed) /);
    expect(result.stdout).toContain('3 succeeded, 1 failed');
    expect(result.stdout).toMatch(/failed\s+\S+\s+4\s/);

    const runs = JSON.parse((await runyard(['ls', '--json'])).stdout) as RunRecord[];
    const batch = runs.find((r) => r.name === 'batch')!;
    expect(batch.status).toBe('failed');
    const children = runs.filter((r) => r.parentId === batch.id);
    expect(children).toHaveLength(4);
    expect(children.filter((r) => r.status === 'succeeded')).toHaveLength(3);
  });

  it('a line that needs a shell runs through one and is named after the whole line', async () => {
    const file = join(home, 'commands.txt');
    const cdLine = `cd ${home} && ${node} ${fixture('exit-with.js')} 3`;
    const quotedLine = `${node} ${fixture('exit-with.js')} 0 "two words"`;
    await writeFile(
      file,
      [cdLine, quotedLine, `${node} ${fixture('exit-with.js')} 0 plain`].join('\n'),
    );
    const result = await runyard(['batch', '--json', file]);
    expect(result.code).toBe(1);
    const [cd, quoted, plain] = JSON.parse(result.stdout) as (RunRecord & { stdout: string })[];
    const short = (line: string) => `${line.slice(0, 39)}…`;
    expect(cd!.name).toBe(short(cdLine));
    expect(cd!.error!.message).toContain(`\`${short(cdLine)}\` exited with code 3`);
    expect(quoted).toMatchObject({ name: short(quotedLine), stdout: 'two words' });
    // A plain command runs directly, named after its program.
    expect(plain).toMatchObject({ name: basename(node), command: node, stdout: 'plain' });
  });

  it('reads commands from stdin and exits 0 when all succeed', async () => {
    const result = await runyard(['batch', '--json'], `${node} ${fixture('exit-with.js')} 0 a\n`);
    expect(result.code).toBe(0);
    expect((JSON.parse(result.stdout) as { stdout: string }[])[0]!.stdout).toBe('a');
  });
});
