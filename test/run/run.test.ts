import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRunyardError, type OutputLine, RunyardError, run, start } from '../../src/index.js';

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);
const node = process.execPath;

async function rejection(promise: Promise<unknown>): Promise<RunyardError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RunyardError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('run(): outcomes', () => {
  it('exit 0 with text on both streams is a success', async () => {
    const result = await run(node, [fixture('exit-with.js'), '0', 'to stdout', 'to stderr']);
    expect(result).toMatchObject({
      ok: true,
      status: 'succeeded',
      exitCode: 0,
      exitSignal: null,
      stdout: 'to stdout',
      stderr: 'to stderr',
      pattern: 'simple',
      name: 'node',
      attempt: 1,
      output: { lines: 2, bytes: 20, truncated: false },
    });
    expect(result.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(result.pid).toBeGreaterThan(0);
    expect(result.error).toBeUndefined();
    expect(Date.parse(result.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(result.startedAt!));
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('a non-zero exit is a result with both streams kept and a stderr excerpt', async () => {
    const result = await run(node, [fixture('exit-with.js'), '3', 'partial work', 'disk is full']);
    expect(result).toMatchObject({
      ok: false,
      status: 'failed',
      exitCode: 3,
      stdout: 'partial work',
      stderr: 'disk is full',
    });
    expect(result.error?.code).toBe('ERR_FAILED');
    expect(result.error?.message).toContain('exited with code 3');
    expect(result.error?.message).toContain('disk is full');
  });

  it('an uncaught exception in the child fails the run with its traceback', async () => {
    const result = await run(node, [fixture('throw-error.js')]);
    expect(result.status).toBe('failed');
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe('starting');
    expect(result.stderr).toContain('something broke in the module');
    expect(result.error?.message).toContain('something broke in the module');
  });

  it('a signal it was not sent by runyard is a failure with exitSignal', async () => {
    const result = await run(node, ['-e', 'process.kill(process.pid, "SIGKILL")']);
    expect(result).toMatchObject({ status: 'failed', exitCode: null, exitSignal: 'SIGKILL' });
    expect(result.error?.message).toContain('killed by SIGKILL');
  });

  it('passes args in order, honours cwd and merges env', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runyard-cwd-'));
    try {
      const result = await run(node, [fixture('print-env.js'), 'RY_A', 'RY_B', 'PATH'], {
        cwd: dir,
        env: { RY_A: 'one two', RY_B: undefined },
      });
      expect(result.stdout.split('\n')).toEqual([
        'RY_A=one two',
        'RY_B unset',
        `PATH=${process.env.PATH}`,
        `cwd=${dir}`,
      ]);
      const bare = await run(node, [fixture('print-env.js'), 'PATH', 'RY_C'], {
        env: { RY_C: 'c' },
        extendEnv: false,
      });
      expect(bare.stdout.split('\n').slice(0, 2)).toEqual(['PATH unset', 'RY_C=c']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('args are never shell text unless shell is asked for', async () => {
    const plain = await run('echo', ['$HOME', '&&', 'false']);
    expect(plain.stdout).toBe('$HOME && false');
    const shell = await run('echo $((6 * 7))', [], { shell: true });
    expect(shell.stdout).toBe('42');
  });

  it('writes input to stdin, and gives /dev/null without it', async () => {
    const text = 'héllo\n'.repeat(50_000);
    const result = await run(node, [fixture('echo-stdin.js')], { input: text });
    expect(result.stdout).toBe(text.slice(0, -1));
    expect(result.stderr).toBe(`read ${Buffer.byteLength(text)} bytes`);
    const empty = await run(node, [fixture('echo-stdin.js')]);
    expect(empty.stderr).toBe('read 0 bytes');
  });

  it('keeps unicode, empty lines and CRLF on the right stream', async () => {
    const bytes = Buffer.from('ünï €\r\n\r\nlast 🎉', 'utf8').toString('base64');
    const lines: OutputLine[] = [];
    const result = await run(node, [fixture('write-bytes.js'), bytes], {
      onLine: (l) => lines.push(l),
    });
    expect(lines.map((l) => l.text)).toEqual(['ünï €', '', 'last 🎉']);
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 3]);
    expect(result.output.lines).toBe(3);
  });

  it('three runs at once each keep their own output', async () => {
    const results = await Promise.all(
      ['a', 'b', 'c'].map((tag) => run(node, [fixture('exit-with.js'), '0', tag.repeat(3)])),
    );
    expect(results.map((r) => r.stdout)).toEqual(['aaa', 'bbb', 'ccc']);
  });

  it('runs a function task through the same result type', async () => {
    const result = await run({
      name: 'sum',
      fn: (ctx) => {
        ctx.log('adding');
        return 1 + 2;
      },
    });
    expect(result).toMatchObject({
      ok: true,
      status: 'succeeded',
      name: 'sum',
      value: 3,
      stdout: 'adding',
    });
    expect(result.output.lines).toBe(1);
    const failed = await run({ fn: async () => Promise.reject(new Error('bad input row')) });
    expect(failed).toMatchObject({ ok: false, status: 'failed' });
    expect(failed.error).toMatchObject({ code: 'ERR_TASK_FAILED' });
    expect(failed.error?.message).toContain('bad input row');
  });
});

describe('run(): spawn errors', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runyard-spawn-'));
    await writeFile(join(dir, 'not-executable.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(dir, 'not-executable.sh'), 0o644);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('a missing command names the command and the cause', async () => {
    const error = await rejection(run('runyard-no-such-program', ['x']));
    expect(error.code).toBe('ERR_SPAWN');
    expect(error.message).toContain('`runyard-no-such-program`');
    expect(error.message).toContain('command not found');
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('a file that is not executable', async () => {
    const error = await rejection(run(join(dir, 'not-executable.sh')));
    expect(error.code).toBe('ERR_SPAWN');
    expect(error.message).toContain('permission denied');
  });

  it('a missing working directory is named as such, not as a missing command', async () => {
    const error = await rejection(run(node, ['-e', ''], { cwd: join(dir, 'nowhere') }));
    expect(error.code).toBe('ERR_SPAWN');
    expect(error.message).toContain(`working directory \`${join(dir, 'nowhere')}\``);
  });
});

describe('run(): bad options are ERR_INVALID naming the field', () => {
  const cases: [string, () => Promise<unknown>, string][] = [
    ['negative timeout', () => run('true', [], { timeoutMs: -1 }), '`timeoutMs`'],
    ['non-numeric timeout', () => run('true', [], { timeoutMs: '5s' as never }), '`timeoutMs`'],
    ['NaN timeout', () => run('true', [], { timeoutMs: Number.NaN }), '`timeoutMs`'],
    ['negative grace', () => run('true', [], { killGraceMs: -5 }), '`killGraceMs`'],
    ['non-string arg', () => run('echo', ['a', 3 as never]), '`args[1]`'],
    ['args not an array', () => run('echo', 'a b' as never), '`args`'],
    ['NUL in an arg', () => run('echo', ['a\0b']), '`args[0]`'],
    ['NUL in the command', () => run('ec\0ho'), '`command`'],
    ['empty command', () => run(''), '`command`'],
    ['NUL in cwd', () => run('true', [], { cwd: '/tmp\0x' }), '`cwd`'],
    ['NUL in an env value', () => run('true', [], { env: { A: 'x\0' } }), '`env.A`'],
    ['non-string env value', () => run('true', [], { env: { A: 1 as never } }), '`env.A`'],
    ['bad input', () => run('true', [], { input: 42 as never }), '`input`'],
    ['bad signal', () => run('true', [], { signal: {} as never }), '`signal`'],
    ['bad maxBufferBytes', () => run('true', [], { maxBufferBytes: 1.5 }), '`maxBufferBytes`'],
    ['bad maxLineBytes', () => run('true', [], { maxLineBytes: 0 }), '`maxLineBytes`'],
    ['bad onLine', () => run('true', [], { onLine: 'x' as never }), '`onLine`'],
    ['bad shell', () => run('true', [], { shell: 'yes' as never }), '`shell`'],
    ['options not an object', () => run('true', [], 5 as never), '`options`'],
    ['a task that is neither', () => run({ nope: 1 } as never), '`task`'],
  ];
  it.each(cases)('%s', async (_label, call, field) => {
    const error = await rejection(call());
    expect(error.code).toBe('ERR_INVALID');
    expect(error.message).toContain(`Expected ${field} to be`);
    expect(error.message).toMatch(/, got `.*` \(\w+\)$/);
  });
});

describe('unknown option keys are ERR_INVALID with the nearest known name', () => {
  const cases: [string, () => Promise<unknown> | unknown, string][] = [
    [
      "execa's `timeout`",
      () => run('true', [], { timeout: 5000 } as never),
      '`timeout`: did you mean `timeoutMs`?',
    ],
    [
      'a typo',
      () => run('true', [], { killGrace: 10 } as never),
      '`killGrace`: did you mean `killGraceMs`?',
    ],
    [
      'in a task',
      () => run({ command: 'true', timeout: 5 } as never),
      '`task.timeout`: did you mean `timeoutMs`?',
    ],
    [
      'in a function task',
      () => run({ fn: () => 1, nmae: 'x' } as never),
      '`task.nmae`: did you mean `name`?',
    ],
    [
      'a start() option given to run()',
      () => run('true', [], { logDir: '/tmp' } as never),
      'Unknown option `logDir`',
    ],
    [
      'start()',
      () => start('true', [], { tailLine: 5 } as never),
      '`tailLine`: did you mean `tailLines`?',
    ],
    [
      'start() with a task',
      () => start({ fn: () => 1 }, { onLines: () => {} } as never),
      '`onLines`: did you mean `onLine`?',
    ],
    [
      'lines()',
      () => start({ fn: () => 1 }).lines({ form: 2 } as never),
      '`form`: did you mean `from`?',
    ],
  ];
  it.each(cases)('%s', async (_label, call, expected) => {
    let error: unknown;
    try {
      await call();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RunyardError);
    expect((error as RunyardError).code).toBe('ERR_INVALID');
    expect((error as RunyardError).message).toContain(expected);
  });

  it('NaN and Infinity are shown as themselves', async () => {
    const nan = await rejection(run('true', [], { timeoutMs: Number.NaN }));
    expect(nan.message).toContain('got `NaN` (number)');
    const infinite = await rejection(run({ fn: () => 1, timeoutMs: Number.POSITIVE_INFINITY }));
    expect(infinite.message).toContain('got `Infinity` (number)');
  });
});

describe("durations past Node's timer limit", () => {
  const thirtyDays = 30 * 86_400_000;

  it('a 30-day timeout does not fire at once, for a program or a function', async () => {
    const program = await run(node, [fixture('exit-with.js'), '0', 'in time'], {
      timeoutMs: thirtyDays,
    });
    expect(program).toMatchObject({ status: 'succeeded', stdout: 'in time' });
    const fn = await run(
      { fn: () => new Promise((resolve) => setTimeout(() => resolve('done'), 50)) },
      { timeoutMs: thirtyDays },
    );
    expect(fn).toMatchObject({ status: 'succeeded', value: 'done' });
  });

  it('a function gets all of a 30-day killGraceMs to notice its cancel', async () => {
    const handle = start(
      {
        fn: (ctx) =>
          new Promise((resolve) => {
            ctx.log('ready');
            ctx.signal.addEventListener('abort', () => setTimeout(() => resolve('noticed'), 50));
          }),
      },
      { killGraceMs: thirtyDays },
    );
    for await (const line of handle.lines()) if (line.text === 'ready') break;
    const result = await handle.cancel();
    expect(result).toMatchObject({ status: 'cancelled', value: 'noticed' });
  });
});

describe('run(): big output', () => {
  it('past maxBufferBytes the run goes on, keeps the tail, and totals stay exact', async () => {
    const result = await run(node, [fixture('print-lines.js'), '100000', '20'], {
      maxBufferBytes: 64 * 1024,
    });
    expect(result.ok).toBe(true);
    expect(result.output).toEqual({ lines: 100_000, bytes: 2_000_000, truncated: true });
    const kept = result.stdout.split('\n');
    expect(kept.at(-1)).toMatch(/^line 100000x*$/);
    // The kept text starts on a whole line, at most the cap long.
    expect(kept[0]).toMatch(/^line \d+x*$/);
    expect(Buffer.byteLength(result.stdout)).toBeLessThanOrEqual(64 * 1024);
    expect(kept.length).toBeGreaterThan(3000);
  });

  it('output far beyond the pipe buffer completes on both streams', async () => {
    const result = await run(node, [fixture('print-lines.js'), '50000', '50', 'both']);
    expect(result.output.lines).toBe(50_000);
    expect(result.stdout.split('\n')).toHaveLength(25_000);
    expect(result.stderr.split('\n')).toHaveLength(25_000);
  });
});

describe('isRunyardError', () => {
  it('narrows by code', async () => {
    const error = await rejection(run('true', [], { timeoutMs: -1 }));
    expect(isRunyardError(error, 'ERR_INVALID')).toBe(true);
    expect(isRunyardError(error, 'ERR_SPAWN')).toBe(false);
    expect(error.toJSON()).toEqual({ code: 'ERR_INVALID', message: error.message });
  });
});
