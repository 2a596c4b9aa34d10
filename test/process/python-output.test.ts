// Python block-buffers stdout into a pipe: runyard gives it PYTHONUNBUFFERED=1 so its output is
// live. The suite's machine may export the variable globally; each test here removes it first.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type OutputLine, run, start } from '../../src/index.js';
import { isPythonProgram } from '../../src/process/child-env.js';
import { fixturesDir } from '../helpers/processes.js';

const python = '/usr/bin/python3';
const script = join(fixturesDir, 'process-python-live.py');
const hasPython = existsSync(python);
if (!hasPython) console.warn(`skipping the live Python tests: no ${python} on this machine`);

let saved: string | undefined;
beforeEach(() => {
  saved = process.env.PYTHONUNBUFFERED;
  delete process.env.PYTHONUNBUFFERED;
});
afterEach(() => {
  if (saved !== undefined) process.env.PYTHONUNBUFFERED = saved;
});

/** The first line of the run, or a rejection when none comes within 10 s. */
async function firstLine(lines: AsyncIterable<OutputLine>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no live line within 10 s')), 10_000);
  });
  const first = (async () => {
    for await (const line of lines) return line.text;
    throw new Error('the run ended without a line');
  })();
  return Promise.race([first, timeout]).finally(() => clearTimeout(timer));
}

describe.skipIf(!hasPython)('Python output is live', () => {
  it('a line printed before a wait arrives while the program waits, and survives a cancel', async () => {
    const stdin = new PassThrough();
    const handle = start(python, [script], { input: stdin });
    expect(await firstLine(handle.lines())).toBe('ready 1');
    const result = await handle.cancel('seen enough');
    expect(result.status).toBe('cancelled');
    expect(handle.output.tail().map((l) => l.text)).toContain('ready 1');
  });

  it('a .py script run through its shebang is Python too', async () => {
    const stdin = new PassThrough();
    const handle = start(script, [], { input: stdin });
    expect(await firstLine(handle.lines())).toBe('ready 1');
    stdin.end();
    expect((await handle.result).stdout).toBe('ready 1\nbye');
  });

  it("the task's own value wins, even '0' or a removal", async () => {
    const zero = await run(python, [script], { input: '', env: { PYTHONUNBUFFERED: '0' } });
    expect(zero.stdout).toBe('ready 0\nbye');
    const removed = await run({
      command: python,
      args: [script],
      input: '',
      env: { PYTHONUNBUFFERED: undefined },
    });
    expect(removed.stdout).toBe('ready None\nbye');
  });

  it('other programs are left as they are', async () => {
    const result = await run(process.execPath, ['-p', 'process.env.PYTHONUNBUFFERED']);
    expect(result.stdout).toBe('undefined');
  });
});

describe('which programs count as Python', () => {
  it.each([
    ['python', false, true],
    ['python3', false, true],
    ['/usr/bin/python3.11', false, true],
    ['C:\\Python311\\python.exe', false, process.platform === 'win32'],
    ['./train.py', false, true],
    ['python3 -u train.py', true, true],
    ['pythonista', false, false],
    ['node', false, false],
    ['/usr/bin/python3-config', false, false],
  ])('%s (shell: %s) → %s', (command, shell, expected) => {
    expect(isPythonProgram(command, shell)).toBe(expected);
  });
});
