import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/process/tree-kill.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'cli', 'main.js');
const fixture = (name: string) => join(root, 'test', 'fixtures', name);
const node = process.execPath;

const leftovers: number[] = [];
afterEach(() => {
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(
  args: string[],
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void,
) {
  const child = spawn(node, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    onStdout?.(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  return once(child, 'close').then(([code]) => ({ code, stdout, stderr }) as CliRun);
}

describe('runyard run', () => {
  it('streams both streams and exits 0', async () => {
    const result = await runCli(['run', '--', node, fixture('exit-with.js'), '0', 'out', 'err']);
    expect(result).toEqual({ code: 0, stdout: 'out\n', stderr: 'err\n' });
  });

  it('passes the exit code through', async () => {
    const result = await runCli(['run', '--', node, fixture('exit-with.js'), '7']);
    expect(result.code).toBe(7);
  });

  it('a signal gives 128 + n', async () => {
    const result = await runCli(['run', '--', node, '-e', 'process.kill(process.pid, "SIGKILL")']);
    expect(result.code).toBe(128 + 9);
  });

  it('--timeout ends the run with 124', async () => {
    const result = await runCli(['run', '--timeout', '300ms', '--', node, fixture('forever.js')]);
    expect(result.code).toBe(124);
    expect(result.stdout).toBe('ready\n');
    expect(result.stderr).toContain('timed out after 300 ms');
  });

  it('--json prints the RunResult', async () => {
    const result = await runCli([
      'run',
      '--json',
      '--',
      node,
      fixture('exit-with.js'),
      '3',
      'o',
      'e',
    ]);
    expect(result.code).toBe(3);
    const parsed = JSON.parse(result.stdout);
    expect(parsed).toMatchObject({
      status: 'failed',
      exitCode: 3,
      stdout: 'o',
      stderr: 'e',
      ok: false,
    });
  });

  it('--cwd sets the working directory', async () => {
    const result = await runCli(['run', '--cwd', '/tmp', '--', node, fixture('print-env.js')]);
    expect(result.stdout).toBe('cwd=/tmp\n');
  });

  it('a missing command exits 127 with a clear message', async () => {
    const result = await runCli(['run', '--', 'runyard-no-such-program']);
    expect(result.code).toBe(127);
    expect(result.stderr).toContain('Could not start `runyard-no-such-program`: command not found');
  });

  it.each([
    [['run'], 'Missing the command to run'],
    [['run', '--timeout', 'soon', '--', 'true'], 'Expected `--timeout` to be a duration'],
    [['run', '--bogus', '--', 'true'], "Unknown option '--bogus'"],
    [['frobnicate'], 'unknown command `frobnicate`'],
  ])('usage error %j exits 2', async (args, message) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toContain('Usage: runyard');
  });

  it('Ctrl-C cancels the whole tree gracefully and exits 130', async () => {
    const pids: number[] = [];
    const result = await runCli(
      ['run', '--', node, fixture('spawn-grandchildren.js'), '3'],
      (stdout, child) => {
        if (!stdout.includes('ready\n') || pids.length) return;
        for (const line of stdout.split('\n')) {
          if (line.startsWith('{')) pids.push((JSON.parse(line) as { pid: number }).pid);
        }
        leftovers.push(...pids);
        child.kill('SIGINT');
      },
    );
    expect(result.code).toBe(130);
    expect(pids.length).toBeGreaterThanOrEqual(3);
    expect(pids.filter(isProcessAlive)).toEqual([]);
  });
});
