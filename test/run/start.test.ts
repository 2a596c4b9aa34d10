import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type OutputLine, readLogFile, start } from '../../src/index.js';
import { isProcessAlive } from '../../src/process/tree-kill.js';
import { waitUntilDead } from '../helpers/processes.js';

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);
const node = process.execPath;

let dir: string;
const started: number[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-long-'));
});
afterEach(async () => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  await rm(dir, { recursive: true, force: true });
});

/** Reads the handle's lines until one matches, collecting the pids the fixture printed. */
async function untilReady(lines: AsyncIterable<OutputLine>): Promise<number[]> {
  const pids: number[] = [];
  for await (const line of lines) {
    if (line.text === 'ready') return pids;
    if (line.text.startsWith('{')) {
      const printed = JSON.parse(line.text) as Record<string, number>;
      // Only the processes of the run: never `ppid`, which may be this test's own process.
      for (const [key, value] of Object.entries(printed)) {
        if (key !== 'ppid' && typeof value === 'number') pids.push(value);
      }
    }
  }
  throw new Error('the run ended before it was ready');
}

describe('start(): live output', () => {
  it('a 200,000-line child is seen whole and in order through lines()', async () => {
    const handle = start(node, [fixture('print-lines.js'), '200000', '12'], { logDir: dir });
    let expected = 1;
    for await (const line of handle.lines()) {
      expect(line.seq).toBe(expected);
      expect(line.text.startsWith(`line ${expected}`)).toBe(true);
      expected++;
    }
    expect(expected - 1).toBe(200_000);
    const result = await handle.result;
    expect(result).toMatchObject({ ok: true, pattern: 'long-running', output: { lines: 200_000 } });
    // The log has every line, but `stdout` kept only its newest 1 MiB, and says so.
    expect(result.output.truncated).toBe(true);
    expect(Buffer.byteLength(result.stdout)).toBeLessThanOrEqual(1024 * 1024);
  });

  it('a 3 MiB line without a newline arrives whole, split at maxLineBytes, nothing dropped', async () => {
    const size = 3 * 1024 * 1024;
    const script = `process.stdout.write(Buffer.alloc(${size}, 'ab'))`;
    const expected = Buffer.alloc(size, 'ab').toString();
    const handle = start(node, ['-e', script], { logDir: dir });
    const pieces: string[] = [];
    for await (const line of handle.lines()) pieces.push(line.text);
    const result = await handle.result;
    expect(pieces.map((piece) => piece.length)).toEqual([1 << 20, 1 << 20, 1 << 20]);
    expect(pieces.join('')).toBe(expected);
    const fromFile = await readLogFile(join(dir, `${handle.id}.log`));
    expect(fromFile.map((line) => line.text).join('')).toBe(expected);
    // `stdout` keeps its newest 1 MiB (maxBufferBytes for start()): the drop is said, not silent.
    expect(result.output).toEqual({ lines: 3, bytes: size, truncated: true });
    expect(result.stdout).toBe(expected.slice(-(1 << 20)));
    // With room for all of it, `stdout` is whole and nothing is truncated.
    const roomy = await start(node, ['-e', script], { maxBufferBytes: 4 << 20 }).result;
    expect(roomy.stdout).toBe(expected);
    expect(roomy.output).toEqual({ lines: 3, bytes: size, truncated: false });
  });

  it('replays from the middle after the run ended, from memory and from the file', async () => {
    const handle = start(node, [fixture('print-lines.js'), '50000', '12'], {
      logDir: dir,
      tailLines: 1000,
    });
    await handle.result;
    const fromMiddle: OutputLine[] = [];
    for await (const line of handle.lines({ from: 25_000 })) fromMiddle.push(line);
    expect(fromMiddle).toHaveLength(25_001);
    expect(fromMiddle[0]).toMatchObject({ seq: 25_000, stream: 'stdout' });
    expect(fromMiddle[0]!.text).toMatch(/^line 25000x*$/);
    expect(fromMiddle.at(-1)!.seq).toBe(50_000);
    // The file holds every line too.
    const fromFile = await readLogFile(join(dir, `${handle.id}.log`), { from: 49_999, limit: 5 });
    expect(fromFile.map((l) => l.seq)).toEqual([49_999, 50_000]);
  });

  it('a slow consumer still gets every line, in order', async () => {
    const handle = start(node, [fixture('print-lines.js'), '30000', '40'], {
      logDir: dir,
      tailLines: 500,
    });
    let expected = 1;
    for await (const line of handle.lines()) {
      expect(line.seq).toBe(expected++);
      if (line.seq % 1000 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(expected - 1).toBe(30_000);
    expect((await handle.result).ok).toBe(true);
  });

  it('a consumer that stops reading loses nothing, and the child does not wait for it', async () => {
    const handle = start(node, [fixture('print-lines.js'), '100000', '40'], {
      logDir: dir,
      tailLines: 1000,
    });
    const batches = handle.output.batches();
    const first = await batches.next();
    expect(first.done).toBe(false);
    // The consumer reads nothing more until the run is over: the child ends without it.
    const result = await handle.result;
    expect(result).toMatchObject({ ok: true, output: { lines: 100_000 } });
    expect(handle.output.bufferedLines).toBeLessThanOrEqual(2 * 10_000);
    let next = first.value!.lastSeq + 1;
    const texts = first.value!.texts();
    for await (const batch of batches) {
      expect(batch.firstSeq).toBe(next);
      next = batch.lastSeq + 1;
      for (const text of batch.texts()) texts.push(text);
    }
    // Every line, most of them caught up from the file: the tail kept only 1000.
    expect(texts).toHaveLength(100_000);
    expect(texts[0]).toBe('line 1'.padEnd(39, 'x'));
    expect(texts[99_999]).toBe('line 100000'.padEnd(39, 'x'));
  });

  it('keeps one sequence across interleaved streams, order kept within each', async () => {
    const handle = start(node, [fixture('interleave.js'), '200']);
    const seen: OutputLine[] = [];
    for await (const line of handle.lines()) seen.push(line);
    expect(seen.map((l) => l.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    const out = seen.filter((l) => l.stream === 'stdout').map((l) => Number(l.text.split(' ')[1]));
    const err = seen.filter((l) => l.stream === 'stderr').map((l) => Number(l.text.split(' ')[1]));
    expect(out).toEqual([...out].sort((a, b) => a - b));
    expect(err).toEqual([...err].sort((a, b) => a - b));
    expect(out).toHaveLength(100);
    expect(err).toHaveLength(100);
  });

  it('a run whose descendant holds the pipes open settles, and the descendant ends', async () => {
    const handle = start(node, [fixture('holds-pipe.js')], { killGraceMs: 1000 });
    const result = await handle.result;
    expect(result.status).toBe('succeeded');
    const printed = JSON.parse(result.stdout) as { grandchild: number };
    started.push(printed.grandchild);
    await waitUntilDead([printed.grandchild]);
  });

  it('a function task logs through the same output', async () => {
    const handle = start({
      name: 'count',
      fn: async (ctx) => {
        for (let i = 1; i <= 3; i++) ctx.log(`step ${i}`);
        return 'done';
      },
    });
    const texts: string[] = [];
    for await (const line of handle.lines()) texts.push(line.text);
    expect(texts).toEqual(['step 1', 'step 2', 'step 3']);
    const result = await handle.result;
    expect(result).toMatchObject({ ok: true, value: 'done' });
    expect(result.pid).toBeUndefined();
  });
});

describe('start(): cancel and timeout end the whole tree', () => {
  it('cancel ends a tree of three generations, every pid checked', async () => {
    const handle = start(node, [fixture('spawn-grandchildren.js'), '3'], { logDir: dir });
    const pids = await untilReady(handle.lines());
    started.push(...pids);
    expect(new Set(pids).size).toBeGreaterThanOrEqual(3);
    expect(pids.every(isProcessAlive)).toBe(true);
    const result = await handle.cancel('user asked');
    expect(result.status).toBe('cancelled');
    expect(result.error).toMatchObject({ code: 'ERR_CANCELLED' });
    expect(result.error?.message).toContain('user asked');
    expect(pids.filter(isProcessAlive)).toEqual([]);
    const log = await readFile(join(dir, `${handle.id}.log`), 'utf8');
    expect(log).toContain('cancelled (user asked): ending the process tree');
  });

  it('timeout ends a tree of three generations, every pid checked', async () => {
    const handle = start(node, [fixture('spawn-grandchildren.js'), '3'], {
      timeoutMs: 3000,
      killGraceMs: 500,
    });
    const pids = await untilReady(handle.lines());
    started.push(...pids);
    const result = await handle.result;
    expect(result.status).toBe('timed_out');
    expect(result.error?.code).toBe('ERR_TIMEOUT');
    expect(pids.filter(isProcessAlive)).toEqual([]);
  });

  it('cancel reaches a setsid escapee and a TERM-ignoring child', async () => {
    const escapee = start(node, [fixture('setsid-escapee.js')], { killGraceMs: 300 });
    const escapeePids = await untilReady(escapee.lines());
    started.push(...escapeePids);
    const stubborn = start(node, [fixture('ignore-sigterm.js')], { killGraceMs: 300 });
    await untilReady(stubborn.lines());
    started.push(stubborn.pid!);
    const [a, b] = await Promise.all([escapee.cancel(), stubborn.cancel()]);
    expect(a.status).toBe('cancelled');
    expect(b.status).toBe('cancelled');
    expect(b.exitSignal).toBe('SIGKILL');
    expect([...escapeePids, stubborn.pid!].filter(isProcessAlive)).toEqual([]);
  });

  it('an AbortSignal cancels, and an already-aborted one never starts the program', async () => {
    const controller = new AbortController();
    const handle = start(node, [fixture('forever.js')], { signal: controller.signal });
    await untilReady(handle.lines());
    started.push(handle.pid!);
    controller.abort();
    const result = await handle.result;
    expect(result.status).toBe('cancelled');
    expect(isProcessAlive(handle.pid!)).toBe(false);

    const never = start(node, [fixture('forever.js')], { signal: AbortSignal.abort('too late') });
    const neverResult = await never.result;
    expect(neverResult.status).toBe('cancelled');
    expect(neverResult.pid).toBeUndefined();
    expect(never.pid).toBeUndefined();
  });

  it('cancel after the run ended changes nothing', async () => {
    const handle = start(node, [fixture('exit-with.js'), '0', 'fine']);
    const result = await handle.result;
    expect(await handle.cancel()).toBe(result);
    expect(result.status).toBe('succeeded');
  });

  it('a spawn error rejects the result and ends lines()', async () => {
    const handle = start('runyard-no-such-program');
    const lines: OutputLine[] = [];
    for await (const line of handle.lines()) lines.push(line);
    await expect(handle.result).rejects.toMatchObject({ code: 'ERR_SPAWN' });
    expect(lines.map((l) => l.stream)).toEqual(['system']);
    expect(lines[0]!.text).toContain('command not found');
  });

  it('a function task gets its signal aborted on cancel', async () => {
    let sawAbort = false;
    const handle = start({
      fn: (ctx) =>
        new Promise((resolve) => {
          ctx.log('ready');
          ctx.signal.addEventListener('abort', () => {
            sawAbort = true;
            resolve('stopped');
          });
        }),
    });
    await untilReady(handle.lines());
    const result = await handle.cancel('enough');
    expect(sawAbort).toBe(true);
    expect(result.status).toBe('cancelled');
  });
});

describe('start(): memory stays bounded', () => {
  it('200 MB of output through lines() with the log file on keeps the RSS bounded', async () => {
    const { stdout } = await promisify(execFile)(
      node,
      [fixture('stream-big-output.mjs'), dir, String(2_000_000), '100'],
      { maxBuffer: 1 << 20 },
    );
    const report = JSON.parse(stdout) as { lines: number; bytes: number; maxRssMb: number };
    expect(report.lines).toBe(2_000_000);
    expect(report.bytes).toBe(200_000_000);
    expect(report.maxRssMb).toBeLessThan(200);
  }, 120_000);
});
