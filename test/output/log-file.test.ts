import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputLine } from '../../src/core/index.js';
import { formatLogLine, readLogFile, streamLogFile } from '../../src/output/index.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-logfile-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('log file format', () => {
  it('formats one line as seq, time, stream code and text', () => {
    expect(formatLogLine({ seq: 12, stream: 'stderr', text: 'a\tb\r', time: 1700000000123 })).toBe(
      '12\t1700000000123\te\ta\tb\r\n',
    );
  });

  it('skips malformed lines and an unfinished last line', async () => {
    const file = join(dir, 'run.log');
    await writeFile(
      file,
      '1\t5\to\tok\ngarbage\n2\t6\tx\tbad stream\n3\t7\ts\t\n4\t8\to\tunfinished',
    );
    expect(await readLogFile(file)).toEqual([
      { seq: 1, stream: 'stdout', text: 'ok', time: 5 },
      { seq: 3, stream: 'system', text: '', time: 7 },
    ]);
  });

  it('reads lines longer than its read buffer', async () => {
    const file = join(dir, 'run.log');
    const long = 'é'.repeat(100_000);
    const lines: OutputLine[] = [
      { seq: 1, stream: 'stdout', text: long, time: 1 },
      { seq: 2, stream: 'stdout', text: 'short', time: 2 },
    ];
    await writeFile(file, lines.map(formatLogLine).join(''));
    expect(await readLogFile(file)).toEqual(lines);
  });

  it('streams a file from a seq and stops when its signal aborts', async () => {
    const file = join(dir, 'run.log');
    const lines = Array.from({ length: 5000 }, (_, i) => ({
      seq: i + 1,
      stream: 'stdout' as const,
      text: `line ${i + 1}`,
      time: i,
    }));
    await writeFile(file, lines.map(formatLogLine).join(''));
    const seen: number[] = [];
    for await (const line of streamLogFile(file, { from: 4001 })) seen.push(line.seq);
    expect(seen).toEqual(lines.slice(4000).map((line) => line.seq));

    const controller = new AbortController();
    let count = 0;
    for await (const _ of streamLogFile(file, { signal: controller.signal })) {
      if (++count === 10) controller.abort();
    }
    expect(count).toBe(10);
  });

  it('rejects with the file system error for a missing file, and validates its options', async () => {
    await expect(readLogFile(join(dir, 'missing.log'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(() => readLogFile(join(dir, 'x.log'), { from: -1 })).toThrow(
      'Expected `from` to be a non-negative integer, got `-1` (number)',
    );
  });
});
