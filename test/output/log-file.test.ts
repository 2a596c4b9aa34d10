import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutputLine } from '../../src/core/index.js';
import { OutputLog, readLogFile, streamLogFile } from '../../src/output/index.js';

/** A line of the previous format, `<seq>\t<time>\t<o|e|s>\t<text>`, which is still read. */
function legacyLine(line: OutputLine): string {
  const code = { stdout: 'o', stderr: 'e', system: 's' }[line.stream];
  return `${line.seq}\t${line.time}\t${code}\t${line.text}\n`;
}

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-logfile-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('log file format', () => {
  it('writes blocks: a header line, then the lines as the program printed them', async () => {
    const file = join(dir, 'run.log');
    const log = new OutputLog({ file });
    log.appendRun('stderr', Buffer.from('a\tb\r\nsecond\n'), 2, false, 1700000000123);
    log.appendRun('stdout', Buffer.from('no newline'), 1, true, 1700000000124);
    log.append('system', 'exited 0', 1700000000125);
    await log.close();
    expect(await readFile(file, 'utf8')).toBe(
      '\x1e1\t2\te\t1700000000123\t12\t0\na\tb\r\nsecond\n' +
        '\x1e3\t1\to\t1700000000124\t11\t1\nno newline\n' +
        '\x1e4\t1\ts\t1700000000125\t9\t1\nexited 0\n',
    );
    expect(await readLogFile(file)).toEqual([
      { seq: 1, stream: 'stderr', text: 'a\tb', time: 1700000000123 },
      { seq: 2, stream: 'stderr', text: 'second', time: 1700000000123 },
      { seq: 3, stream: 'stdout', text: 'no newline', time: 1700000000124 },
      { seq: 4, stream: 'system', text: 'exited 0', time: 1700000000125 },
    ]);
    expect(await readLogFile(file, { from: 2, limit: 2 })).toMatchObject([{ seq: 2 }, { seq: 3 }]);
  });

  it('finds the next block by its length, whatever the text holds', async () => {
    const file = join(dir, 'run.log');
    // A line that looks like a header is text inside a block, not a header.
    const fake = '\x1e9\t1\to\t1\t2\t0';
    await writeFile(
      file,
      `\x1e1\t2\to\t5\t${fake.length + 3}\t0\n${fake}\nx\n\x1e3\t1\te\t6\t2\t0\ny\n`,
    );
    expect(await readLogFile(file)).toEqual([
      { seq: 1, stream: 'stdout', text: fake, time: 5 },
      { seq: 2, stream: 'stdout', text: 'x', time: 5 },
      { seq: 3, stream: 'stderr', text: 'y', time: 6 },
    ]);
  });

  it('reads the previous one-line format, skipping malformed lines and an unfinished last line', async () => {
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
    await writeFile(file, lines.map(legacyLine).join(''));
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
    await writeFile(file, lines.map(legacyLine).join(''));
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
