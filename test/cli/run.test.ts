import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

/** Runs the CLI with raw bytes in and out: nothing decoded, nothing added. */
async function runRaw(args: string[], input?: Buffer) {
  const child = spawn(node, [cli, ...args], {
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (input !== undefined) child.stdin!.end(input);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
  const [code] = await once(child, 'close');
  return { code, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
}

describe('runyard run passes bytes through', () => {
  it('binary data, CRLF and \\r progress come out byte for byte, with no added newline', async () => {
    const bytes = Buffer.concat([
      Buffer.from('progress 10%\rprogress 90%\rdone\r\n'),
      Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0xc3]),
      Buffer.from('\u20ac tail without newline'),
    ]);
    // Cut into writes inside the CRLF and inside the multi-byte characters.
    const result = await runRaw([
      'run',
      '--',
      node,
      fixture('write-bytes.js'),
      bytes.toString('base64'),
      '5',
      '13,34,40,41',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout.equals(bytes)).toBe(true);
    expect(result.stderr.length).toBe(0);
  });

  it('its stdin reaches the program, and --input feeds a file instead', async () => {
    const input = Buffer.from('line one\r\nline two\n\u0000binary\xff');
    const piped = await runRaw(['run', '--', node, fixture('echo-stdin.js')], input);
    expect(piped.code).toBe(0);
    expect(piped.stdout.equals(input)).toBe(true);
    expect(piped.stderr.toString()).toBe(`read ${input.length} bytes\n`);

    const dir = await mkdtemp(join(tmpdir(), 'runyard-cli-input-'));
    try {
      await writeFile(join(dir, 'in.bin'), input);
      const fed = await runRaw(
        ['run', '--input', join(dir, 'in.bin'), '--', node, fixture('echo-stdin.js')],
        Buffer.from('not this'),
      );
      expect(fed.stdout.equals(input)).toBe(true);
      const missing = await runRaw(['run', '--input', join(dir, 'nope'), '--', 'true']);
      expect(missing.code).toBe(2);
      expect(missing.stderr.toString()).toContain('Expected `--input` to be a readable file');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

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

  it('--json reports nothing truncated when all the output was captured', async () => {
    const result = await runCli(['run', '--json', '--', node, fixture('print-lines.js'), '100']);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout);
    expect(parsed.stdout.split('\n')).toHaveLength(100);
    expect(parsed.output).toEqual({ lines: 100, bytes: 1000, truncated: false });
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
    [['run', '--bogus', '--', 'true'], 'Unknown option `--bogus`'],
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
