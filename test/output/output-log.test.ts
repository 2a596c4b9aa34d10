import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isRunyardError, type OutputLine } from '../../src/core/index.js';
import { followLogFile } from '../../src/output/follow-file.js';
import { type OutputBatch, OutputLog, readLogFile } from '../../src/output/index.js';

let dir: string;
const logs: OutputLog[] = [];

function makeLog(options?: ConstructorParameters<typeof OutputLog>[0]): OutputLog {
  const log = new OutputLog(options);
  logs.push(log);
  return log;
}

function appendMany(log: OutputLog, count: number, stream: 'stdout' | 'stderr' = 'stdout'): void {
  for (let i = 0; i < count; i++) log.append(stream, `line ${log.lastSeq + 1}`);
}

function seqs(lines: OutputLine[]): number[] {
  return lines.map((line) => line.seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-output-'));
});

afterEach(async () => {
  await Promise.all(logs.splice(0).map((log) => log.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('append', () => {
  it('numbers lines from 1 across all streams and counts stdout and stderr only', () => {
    const log = makeLog({ clock: { now: () => 42 } });
    expect(log.lastSeq).toBe(0);
    expect(log.firstTailSeq).toBe(1);
    const a = log.append('stdout', 'out');
    const b = log.append('stderr', 'érr');
    const c = log.append('system', 'started', 7);
    expect(a).toEqual({ seq: 1, stream: 'stdout', text: 'out', time: 42 });
    expect(b).toEqual({ seq: 2, stream: 'stderr', text: 'érr', time: 42 });
    expect(c).toEqual({ seq: 3, stream: 'system', text: 'started', time: 7 });
    expect(log.lastSeq).toBe(3);
    expect(log.lineCount).toBe(2);
    expect(log.byteCount).toBe(3 + 1 + 4 + 1);
    expect(log.tail()).toEqual([a, b, c]);
  });

  it('rejects an unknown stream and a text holding a newline', () => {
    const log = makeLog();
    expect(() => log.append('stdin' as 'stdout', 'x')).toThrow(/Expected `stream`/);
    expect(() => log.append('stdout', 'a\nb')).toThrow(/Expected `text`/);
    expect(log.lastSeq).toBe(0);
  });

  it('validates its options with the one message template', () => {
    expect(() => new OutputLog({ tailLines: -1 })).toThrow(
      'Expected `tailLines` to be a non-negative integer, got `-1` (number)',
    );
    expect(() => new OutputLog({ highWaterLines: 0 })).toThrow(/highWaterLines/);
    expect(() => new OutputLog({ file: '' })).toThrow(/file/);
  });

  it('rejects unknown option keys of the log, read() and follow() by the nearest name', async () => {
    expect(() => new OutputLog({ tailLine: 5 } as never)).toThrow(
      'Unknown option `tailLine`: did you mean `tailLines`?',
    );
    const log = makeLog();
    await expect(log.read({ limt: 5 } as never)).rejects.toThrow('did you mean `limit`?');
    expect(() => log.follow({ form: 1 } as never)).toThrow('did you mean `from`?');
    expect(() => readLogFile(join(dir, 'x.log'), { frm: 1 } as never)).toThrow(
      'did you mean `from`?',
    );
    expect(() =>
      followLogFile(join(dir, 'x.log'), { isFinished: () => true, pollMS: 5 } as never),
    ).toThrow('did you mean `pollMs`?');
  });

  it('reports a listener that throws and keeps appending', () => {
    const onListenerError = vi.fn();
    const log = makeLog({ onListenerError });
    const seen: number[] = [];
    log.subscribe(() => {
      throw new Error('boom');
    });
    const unsubscribe = log.subscribe((line) => seen.push(line.seq));
    log.append('stdout', 'a');
    unsubscribe();
    log.append('stdout', 'b');
    expect(seen).toEqual([1]);
    expect(onListenerError).toHaveBeenCalledTimes(2);
    expect(onListenerError.mock.calls[0]?.[0]).toBeInstanceOf(Error);
  });
});

describe('tail', () => {
  it('keeps the newest tailLines lines and is truncated only without a file', async () => {
    const memory = makeLog({ tailLines: 100 });
    const filed = makeLog({ tailLines: 100, file: join(dir, 'run.log') });
    for (const log of [memory, filed]) {
      appendMany(log, 1000);
      expect(seqs(log.tail())).toEqual(range(901, 1000));
      expect(seqs(log.tail(3))).toEqual([998, 999, 1000]);
      expect(log.firstTailSeq).toBe(901);
    }
    expect(memory.truncated).toBe(true);
    expect(filed.truncated).toBe(false);
  });

  it('is not truncated while every line is still in memory', () => {
    const log = makeLog({ tailLines: 10 });
    appendMany(log, 10);
    expect(log.truncated).toBe(false);
    appendMany(log, 1);
    expect(log.truncated).toBe(true);
  });

  it('keeps nothing with tailLines 0', async () => {
    const log = makeLog({ tailLines: 0 });
    appendMany(log, 5);
    expect(log.tail()).toEqual([]);
    expect(log.firstTailSeq).toBe(6);
    expect(await log.read()).toEqual([]);
  });
});

describe('read', () => {
  it('reads from the tail', async () => {
    const log = makeLog({ tailLines: 100 });
    appendMany(log, 150);
    expect(seqs(await log.read({ from: 120, limit: 5 }))).toEqual(range(120, 124));
    expect(seqs(await log.read({ from: 140 }))).toEqual(range(140, 150));
    expect(await log.read({ from: 151 })).toEqual([]);
  });

  it('skips lines that are gone when there is no file', async () => {
    const log = makeLog({ tailLines: 100 });
    appendMany(log, 150);
    expect(seqs(await log.read({ from: 1, limit: 3 }))).toEqual([51, 52, 53]);
  });

  it('reads lines that left the tail from the file, then continues from the tail', async () => {
    const log = makeLog({ tailLines: 100, file: join(dir, 'logs', 'run.log') });
    appendMany(log, 500);
    const lines = await log.read({ from: 380, limit: 50 });
    expect(seqs(lines)).toEqual(range(380, 429));
    expect(lines[0]).toMatchObject({ seq: 380, stream: 'stdout', text: 'line 380' });
    expect(seqs(await log.read({ from: 1, limit: 500 }))).toEqual(range(1, 500));
  });

  it('reads exactly the asked lines from the middle of a 200,000-line log', async () => {
    const log = makeLog({ file: join(dir, 'big.log') });
    for (let i = 1; i <= 200_000; i++) {
      log.append(i % 3 === 0 ? 'stderr' : 'stdout', `line ${i}\tcol`, i);
      if (i % 5000 === 0) await nextTurn();
    }
    const lines = await log.read({ from: 123_456, limit: 10 });
    expect(lines).toHaveLength(10);
    lines.forEach((line, i) => {
      const seq = 123_456 + i;
      expect(line).toEqual({
        seq,
        stream: seq % 3 === 0 ? 'stderr' : 'stdout',
        text: `line ${seq}\tcol`,
        time: seq,
      });
    });
  });

  it('serves from the file after releaseMemory', async () => {
    const log = makeLog({ file: join(dir, 'run.log') });
    appendMany(log, 3000);
    await log.close();
    log.releaseMemory();
    expect(log.tail()).toEqual([]);
    expect(log.firstTailSeq).toBe(3001);
    expect(log.truncated).toBe(false);
    expect(seqs(await log.read({ from: 2048, limit: 3 }))).toEqual([2048, 2049, 2050]);
    expect(seqs(await log.read({ from: 1, limit: 3000 }))).toEqual(range(1, 3000));
  });

  it('reads its own lines when the file already held some', async () => {
    const file = join(dir, 'run.log');
    await writeFile(file, 'leftover that is not ours\n1\t0\to\tolder run\n');
    const log = makeLog({ tailLines: 10, file });
    appendMany(log, 3000);
    const lines = await log.read({ from: 1, limit: 2 });
    expect(lines.map((line) => line.text)).toEqual(['line 1', 'line 2']);
    await log.flush();
    // A reader of the whole file gets the previous format's line, then this run's blocks.
    const whole = await readLogFile(file, { limit: 5000 });
    expect(whole.slice(0, 2)).toEqual([
      { seq: 1, stream: 'stdout', text: 'older run', time: 0 },
      { seq: 1, stream: 'stdout', text: 'line 1', time: expect.any(Number) },
    ]);
    expect(whole).toHaveLength(3001);
    expect(seqs(await log.read({ from: 2500, limit: 2 }))).toEqual([2500, 2501]);
  });
});

describe('file', () => {
  it('round-trips tabs, carriage returns and unicode in a greppable format', async () => {
    const file = join(dir, 'a', 'b', 'run.log');
    const log = makeLog({ file });
    const texts = ['plain', 'tab\there\t', 'cr\r', '', 'ünïcødé 🚀 中文', '\t\t\t'];
    texts.forEach((text, i) => {
      log.append(i % 2 ? 'stderr' : 'stdout', text, 1000 + i);
    });
    log.append('system', 'exited 0', 2000);
    await log.flush();
    const raw = await readFile(file, 'utf8');
    // Greppable: the texts are in the file as they are, between header lines.
    const printed = raw.split('\n').filter((line) => !line.startsWith('\x1e'));
    expect(printed.slice(0, 2)).toEqual(['plain', 'tab\there\t']);
    expect(raw.split('\n')[0]).toBe('\x1e1\t1\to\t1000\t6\t1');
    expect(raw.endsWith('\x1e7\t1\ts\t2000\t9\t1\nexited 0\n')).toBe(true);
    const lines = await readLogFile(file);
    expect(lines.map((line) => line.text)).toEqual([...texts, 'exited 0']);
    expect(lines.at(-1)).toEqual({ seq: 7, stream: 'system', text: 'exited 0', time: 2000 });
    expect(seqs(await readLogFile(file, { from: 3, limit: 2 }))).toEqual([3, 4]);
  });

  it('creates the file on close even without lines', async () => {
    const file = join(dir, 'empty', 'run.log');
    const log = makeLog({ file });
    await log.close();
    expect(await readFile(file, 'utf8')).toBe('');
  });

  it('does not throw when the path is a directory and reports fileError', async () => {
    const file = join(dir, 'is-a-dir');
    await mkdir(file);
    const log = makeLog({ tailLines: 10, file });
    expect(() => appendMany(log, 100)).not.toThrow();
    await log.flush();
    expect(log.fileError).toMatchObject({ code: 'EISDIR' });
    expect(log.truncated).toBe(true);
    // The output itself says what is missing from the file, right after the last line written.
    expect(log.tail(1)[0]).toMatchObject({ seq: 101, stream: 'system' });
    expect(log.tail(1)[0]!.text).toMatch(
      /^The log file could not be written from line 1 on \(EISDIR[^)]*\): they are kept in memory only \(the newest 10 lines\)$/,
    );
    expect(log.lineCount).toBe(100);
    expect(() => appendMany(log, 100)).not.toThrow();
    // Lines gone with the file are skipped; the tail still answers.
    expect(seqs(await log.read({ from: 1, limit: 3 }))).toEqual([192, 193, 194]);
    await expect(log.close()).resolves.toBeUndefined();
  });

  it.runIf(process.platform === 'linux')('survives a full disk (/dev/full)', async () => {
    const log = makeLog({ tailLines: 10, file: '/dev/full' });
    appendMany(log, 100);
    await log.flush();
    expect(log.fileError).toMatchObject({ code: 'ENOSPC' });
    expect(log.truncated).toBe(true);
    appendMany(log, 10);
    // 100 lines, the system line about the file, 10 lines: the tail holds the newest 10.
    expect(seqs(await log.read({ limit: 2 }))).toEqual([102, 103]);
  });
});

describe('close', () => {
  it('is idempotent and stops appends with ERR_CLOSED', async () => {
    const log = makeLog({ file: join(dir, 'run.log') });
    log.append('stdout', 'a');
    const first = log.close();
    expect(log.close()).toBe(first);
    expect(log.isClosed).toBe(true);
    await first;
    let error: unknown;
    try {
      log.append('stdout', 'b');
    } catch (caught) {
      error = caught;
    }
    expect(isRunyardError(error, 'ERR_CLOSED')).toBe(true);
    expect(await readFile(join(dir, 'run.log'), 'utf8')).toMatch(/^\x1e1\t1\to\t\d+\t2\t1\na\n$/);
  });
});

async function collect(iterator: AsyncIterable<OutputLine>): Promise<OutputLine[]> {
  const out: OutputLine[] = [];
  for await (const line of iterator) out.push(line);
  return out;
}

describe('follow', () => {
  it('replays, then follows live lines without gap or duplicate, and ends on close', async () => {
    const log = makeLog({ tailLines: 500, file: join(dir, 'run.log') });
    appendMany(log, 2000);
    const consumer = (async () => {
      let expected = 1;
      for await (const line of log.follow({ from: 1 })) {
        expect(line.seq).toBe(expected);
        expected++;
        if (line.seq % 97 === 0) await nextTurn();
      }
      return expected - 1;
    })();
    for (let burst = 0; burst < 100; burst++) {
      appendMany(log, burst * 7, burst % 2 ? 'stderr' : 'stdout');
      await nextTurn();
    }
    const total = log.lastSeq;
    await log.close();
    expect(await consumer).toBe(total);
    expect(log.followerCount).toBe(0);
  });

  it('gives only live lines from lastSeq + 1, and waits for a seq in the future', async () => {
    const log = makeLog();
    appendMany(log, 10);
    const live = collect(log.follow({ from: log.lastSeq + 1 }));
    const future = collect(log.follow({ from: 15 }));
    await nextTurn();
    appendMany(log, 10);
    await log.close();
    expect(seqs(await live)).toEqual(range(11, 20));
    expect(seqs(await future)).toEqual(range(15, 20));
  });

  it('ends a follower waiting for lines when the log closes', async () => {
    const log = makeLog();
    const iterator = log.follow();
    const pending = iterator.next();
    await nextTurn();
    await log.close();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(log.followerCount).toBe(0);
  });

  it('ends when its signal aborts, even while waiting', async () => {
    const log = makeLog();
    appendMany(log, 3);
    const controller = new AbortController();
    const iterator = log.follow({ signal: controller.signal });
    expect((await iterator.next()).value?.seq).toBe(1);
    expect((await iterator.next()).value?.seq).toBe(2);
    expect((await iterator.next()).value?.seq).toBe(3);
    const pending = iterator.next();
    controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(log.followerCount).toBe(0);
    await expect(log.follow({ signal: controller.signal }).next()).resolves.toMatchObject({
      done: true,
    });
    expect(log.followerCount).toBe(0);
  });

  it('unsubscribes when a for-await loop breaks', async () => {
    const log = makeLog();
    appendMany(log, 10);
    for await (const line of log.follow()) {
      expect(log.followerCount).toBe(1);
      if (line.seq === 5) break;
    }
    expect(log.followerCount).toBe(0);
    appendMany(log, 10);
    expect(log.bufferedLines).toBe(0);
  });

  it('return() ends a follower at once while next() waits', async () => {
    const log = makeLog();
    const iterator = log.follow();
    const pending = iterator.next();
    await nextTurn();
    await iterator.return?.();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(log.followerCount).toBe(0);
  });

  it('keeps the buffer of a follower that never reads bounded', async () => {
    const log = makeLog({ highWaterLines: 100 });
    log.append('stdout', 'first');
    const iterator = log.follow();
    expect((await iterator.next()).value?.seq).toBe(1);
    for (let i = 0; i < 50; i++) {
      appendMany(log, 1000);
      expect(log.bufferedLines).toBeLessThanOrEqual(100);
    }
    expect(log.followerCount).toBe(1);
    await iterator.return?.();
  });

  it('delivers all of 200,000 lines in order to a slow consumer with bounded memory', async () => {
    const log = makeLog({ file: join(dir, 'run.log'), highWaterLines: 1000 });
    let maxBuffered = 0;
    // The consumer stalls at line 1000 until 50,000 lines are out, far past the 10,000-line
    // tail: it must catch up from the file.
    let releaseStall = (): void => {};
    const stall = new Promise<void>((resolve) => {
      releaseStall = resolve;
    });
    const consumer = (async () => {
      let expected = 1;
      for await (const line of log.follow()) {
        if (line.seq !== expected) throw new Error(`expected ${expected}, got ${line.seq}`);
        expected++;
        if (line.seq === 1000) await stall;
        if (line.seq % 1000 === 0) await sleep(1);
      }
      return expected - 1;
    })();
    for (let i = 0; i < 200; i++) {
      appendMany(log, 1000);
      maxBuffered = Math.max(maxBuffered, log.bufferedLines);
      if (log.lastSeq === 50_000) releaseStall();
      await nextTurn();
    }
    await log.close();
    expect(await consumer).toBe(200_000);
    // One follower: at most highWaterLines live lines plus one read chunk.
    expect(maxBuffered).toBeLessThanOrEqual(2000);
  });

  it('follows from the file after releaseMemory', async () => {
    const log = makeLog({ file: join(dir, 'run.log') });
    appendMany(log, 2500);
    await log.close();
    log.releaseMemory();
    expect(seqs(await collect(log.follow({ from: 2400 })))).toEqual(range(2400, 2500));
  });
});

describe('batches', () => {
  it('keeps a pipe read as one undecoded batch, and decodes it exactly when asked', async () => {
    const log = makeLog({ tailLines: 100, file: join(dir, 'run.log'), clock: { now: () => 9 } });
    const bytes = Buffer.concat([
      Buffer.from('a\r\nb\rc\n\n'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(' x\nlast'),
    ]);
    const batch = log.appendRun('stdout', bytes.subarray(0, bytes.length - 4), 4, false, 5);
    const open = log.appendRun('stderr', Buffer.from('last\r'), 1, true, 6);
    expect(batch).toMatchObject({ firstSeq: 1, lastSeq: 4, count: 4, stream: 'stdout', time: 5 });
    // The batch is the bytes as they came, not a copy.
    expect(batch.bytes.buffer).toBe(bytes.buffer);
    const texts = ['a', 'b\rc', '', '\ufffd\ufffd x'];
    expect(batch.texts()).toEqual(texts);
    expect(open.lines()).toEqual([{ seq: 5, stream: 'stderr', text: 'last\r', time: 6 }]);
    expect(log.tail().map((line) => line.text)).toEqual([...texts, 'last\r']);
    expect(log.lineCount).toBe(5);
    expect(log.byteCount).toBe(bytes.length - 4 + 5 + 1);
    await log.flush();
    log.releaseMemory();
    // From the file, the same lines: the bytes are stored as they came.
    expect(await log.read()).toEqual([...batch.lines(), ...open.lines()]);
    expect(seqs(await log.read({ from: 3, limit: 2 }))).toEqual([3, 4]);
  });

  it('batches() replays and follows in batches, without gap or duplicate, from any seq', async () => {
    const log = makeLog({ tailLines: 50, file: join(dir, 'run.log') });
    const chunk = (first: number, count: number) =>
      Buffer.from(
        range(first, first + count - 1)
          .map((seq) => `line ${seq}\n`)
          .join(''),
      );
    let next = 1;
    for (let i = 0; i < 20; i++) {
      log.appendRun('stdout', chunk(next, 10), 10, false, i);
      next += 10;
    }
    const seen: OutputBatch[] = [];
    const consumer = (async () => {
      for await (const batch of log.batches({ from: 15 })) seen.push(batch);
    })();
    for (let i = 0; i < 20; i++) {
      log.appendRun('stderr', chunk(next, 7), 7, false, 100 + i);
      next += 7;
      await nextTurn();
    }
    await log.close();
    await consumer;
    // The first batch is cut to start at seq 15; the rest come whole, as they were appended.
    expect(seen[0]).toMatchObject({ firstSeq: 15, count: 6 });
    expect(seen.flatMap((batch) => batch.lines()).map((line) => line.text)).toEqual(
      range(15, next - 1).map((seq) => `line ${seq}`),
    );
    expect(seen.at(-1)).toMatchObject({ stream: 'stderr', count: 7, lastSeq: next - 1 });
    expect(log.followerCount).toBe(0);
  });

  it('encode() is computed once per encoder and shared by every reader of a batch', async () => {
    const log = makeLog();
    const encoder = vi.fn((batch: OutputBatch) =>
      Buffer.from(
        batch
          .lines()
          .map((line) => `id: ${line.seq}\ndata: ${line.text}\n\n`)
          .join(''),
      ),
    );
    const first = log.batches();
    const second = log.batches();
    log.appendRun('stdout', Buffer.from('a\nb\n'), 2, false, 1);
    const a = (await first.next()).value as OutputBatch;
    const b = (await second.next()).value as OutputBatch;
    expect(a.encode(encoder)).toBe(b.encode(encoder));
    expect(Buffer.from(a.encode(encoder)).toString()).toBe('id: 1\ndata: a\n\nid: 2\ndata: b\n\n');
    expect(encoder).toHaveBeenCalledTimes(1);
    await first.return?.();
    await second.return?.();
  });

  it('validates the options of batches()', () => {
    const log = makeLog();
    expect(() => log.batches({ form: 1 } as never)).toThrow('did you mean `from`?');
    expect(() => log.batches({ from: -1 })).toThrow('Expected `from` to be a non-negative integer');
  });
});

describe('resources', () => {
  it('leaves no timers or file requests behind after close', async () => {
    const before = process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap');
    const log = makeLog({ file: join(dir, 'run.log') });
    const waiting = log.follow().next();
    log.subscribe(() => {});
    appendMany(log, 100);
    await log.close();
    await waiting;
    await nextTurn();
    const after = process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap');
    expect(after.length).toBeLessThanOrEqual(before.length);
  });
});
