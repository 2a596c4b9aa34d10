// followLogFile: `tail -f` of a log another process writes, polling at the end of the file.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { followLogFile } from '../../src/output/follow-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-follow-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('followLogFile', () => {
  it('a 30-day poll waits (it is not cut to 1 ms) and its signal ends the wait at once', async () => {
    const file = join(dir, 'run.log');
    await writeFile(file, '1\t1000\to\tfirst\n');
    const controller = new AbortController();
    let checks = 0;
    const lines = followLogFile(file, {
      pollMs: 30 * 86_400_000,
      signal: controller.signal,
      isFinished: () => {
        checks++;
        return false;
      },
    });
    expect((await lines.next()).value).toMatchObject({ seq: 1, text: 'first' });
    const next = lines.next();
    // Lopsided on purpose: 100 ms against a 30-day poll; a poll cut to 1 ms would check ~100 times.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(checks).toBe(1);
    controller.abort();
    expect(await next).toEqual({ done: true, value: undefined });
  });

  it('checks its options eagerly', () => {
    expect(() => followLogFile(join(dir, 'x.log'), {} as never)).toThrow(
      'Expected `isFinished` to be a function',
    );
    expect(() => followLogFile(join(dir, 'x.log'), { isFinished: () => true, pollMs: -1 })).toThrow(
      'Expected `pollMs` to be a non-negative finite number',
    );
  });
});
