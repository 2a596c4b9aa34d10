import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { isRunyardError } from '../../src/core/errors.js';
import {
  countNewlines,
  LineSplitter,
  type LineSplitterOptions,
} from '../../src/process/line-splitter.js';

const MIB = 1024 * 1024;

/** Feeds the chunks to a fresh splitter and returns every line it emitted, end() included. */
function split(chunks: readonly Buffer[], options?: LineSplitterOptions): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((line) => lines.push(line), options);
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

/** The same data cut at the given byte offsets. */
function cutAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let start = 0;
  for (const offset of offsets) {
    chunks.push(bytes.subarray(start, offset));
    start = offset;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

/** What the splitter must produce for lines no longer than its limit. */
function expectedLines(bytes: Buffer): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let newline = bytes.indexOf(10); newline !== -1; newline = bytes.indexOf(10, start)) {
    let end = newline;
    if (end > start && bytes[end - 1] === 13) end--;
    lines.push(bytes.toString('utf8', start, end));
    start = newline + 1;
  }
  if (start < bytes.length) lines.push(bytes.toString('utf8', start));
  return lines;
}

/** A small seeded generator (mulberry32), so a failing case can be replayed. */
function randomBytes(seed: number, size: number): Buffer {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = next() & 0xff;
  return bytes;
}

function chunkSizes(seed: number, total: number, maxChunk: number): number[] {
  const sizes = randomBytes(seed, 4096);
  const offsets: number[] = [];
  let offset = 0;
  for (let i = 0; ; i++) {
    offset += 1 + (((sizes[i % sizes.length]! << 8) | sizes[(i + 1) % sizes.length]!) % maxChunk);
    if (offset >= total) return offsets;
    offsets.push(offset);
  }
}

const MIXED = 'ascii é ß € 中文 😀 🏳️‍🌈\r\nsecond 𝄞 line\n\nthird\rwith lone CR\n€😀ü\r\nlast é';

describe('LineSplitter', () => {
  it('splits simple lines', () => {
    expect(split([Buffer.from('one\ntwo\nthree\n')])).toEqual(['one', 'two', 'three']);
    expect(split([Buffer.from('one\ntw'), Buffer.from('o\nthr'), Buffer.from('ee\n')])).toEqual([
      'one',
      'two',
      'three',
    ]);
  });

  it('emits a last line without a newline only at end()', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line));
    splitter.push(Buffer.from('first\nlast'));
    expect(lines).toEqual(['first']);
    splitter.end();
    expect(lines).toEqual(['first', 'last']);
    splitter.end();
    expect(lines).toEqual(['first', 'last']);
  });

  it('emits nothing at end() for an empty remainder', () => {
    expect(split([Buffer.from('a\n')])).toEqual(['a']);
    expect(split([])).toEqual([]);
    expect(split([Buffer.alloc(0), Buffer.alloc(0)])).toEqual([]);
  });

  it('keeps empty lines', () => {
    expect(split([Buffer.from('a\n\nb\n')])).toEqual(['a', '', 'b']);
    expect(split([Buffer.from('\n\n')])).toEqual(['', '']);
    expect(split([Buffer.from('a\n'), Buffer.from('\n'), Buffer.from('\nb')])).toEqual([
      'a',
      '',
      '',
      'b',
    ]);
  });

  it('removes the CR of a CRLF in one chunk', () => {
    expect(split([Buffer.from('a\r\nb\r\n\r\nc')])).toEqual(['a', 'b', '', 'c']);
  });

  it('removes the CR of a CRLF split across chunks', () => {
    expect(split([Buffer.from('a\r'), Buffer.from('\nb\r'), Buffer.from('\n')])).toEqual([
      'a',
      'b',
    ]);
    expect(split([Buffer.from('\r'), Buffer.from('\n')])).toEqual(['']);
    expect(split([Buffer.from('ab'), Buffer.from('\r'), Buffer.from('\n')])).toEqual(['ab']);
  });

  it('keeps a lone CR', () => {
    expect(split([Buffer.from('progress 10%\rprogress 20%\rdone\n')])).toEqual([
      'progress 10%\rprogress 20%\rdone',
    ]);
    expect(split([Buffer.from('a\r\r\n')])).toEqual(['a\r']);
    expect(split([Buffer.from('a\r'), Buffer.from('b\n')])).toEqual(['a\rb']);
    // Without a newline after it, a final CR is not half of a CRLF.
    expect(split([Buffer.from('a\r')])).toEqual(['a\r']);
  });

  it('decodes 2-, 3- and 4-byte characters at every split point', () => {
    const bytes = Buffer.from(MIXED);
    const expected = expectedLines(bytes);
    expect(expected).toContain('ascii é ß € 中文 😀 🏳️‍🌈');
    for (let offset = 0; offset <= bytes.length; offset++) {
      expect(split(cutAt(bytes, [offset])), `split at ${offset}`).toEqual(expected);
    }
  });

  it('decodes mixed text fed byte by byte', () => {
    const bytes = Buffer.from(MIXED.repeat(3));
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    expect(split(chunks)).toEqual(expectedLines(bytes));
  });

  it('splits an over-long line into pieces that never cut a character', () => {
    const text = 'é€😀a'.repeat(40) + '中'.repeat(7);
    const bytes = Buffer.from(text + '\nok\n');
    for (const maxLineBytes of [4, 5, 7, 10, 64]) {
      const feeds = [
        [bytes],
        Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1)),
        cutAt(bytes, chunkSizes(maxLineBytes, bytes.length, 13)),
      ];
      let first: string[] | undefined;
      for (const chunks of feeds) {
        const lines = split(chunks, { maxLineBytes });
        expect(lines.at(-1)).toBe('ok');
        const pieces = lines.slice(0, -1);
        expect(pieces.length).toBeGreaterThan(1);
        expect(pieces.join('')).toBe(text);
        for (const piece of pieces) {
          expect(piece.length).toBeGreaterThan(0);
          expect(Buffer.byteLength(piece)).toBeLessThanOrEqual(maxLineBytes);
          expect(piece).not.toContain('\uFFFD');
        }
        // The pieces do not depend on how the bytes were chunked.
        first ??= lines;
        expect(lines).toEqual(first);
      }
    }
  });

  it('treats a line of exactly maxLineBytes plus CRLF as one piece, however it arrives', () => {
    const bytes = Buffer.from('0123456789\r\n');
    const byteByByte = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    expect(split([bytes], { maxLineBytes: 10 })).toEqual(['0123456789']);
    expect(split(byteByByte, { maxLineBytes: 10 })).toEqual(['0123456789']);
    expect(split(byteByByte, { maxLineBytes: 9 })).toEqual(['012345678', '9']);
    expect(split(byteByByte, { maxLineBytes: 1 })).toEqual('0123456789'.split(''));
  });

  it('cuts at maxLineBytes anyway when a character does not fit or the bytes are garbage', () => {
    // A 4-byte character cannot fit in a 2-byte piece: cut it rather than emit empty pieces.
    const pieces = split([Buffer.from('😀😀\n')], { maxLineBytes: 2 });
    expect(pieces).toHaveLength(4);
    expect(pieces.every((piece) => piece.length > 0)).toBe(true);
    // A run of continuation bytes is no character: pieces are cut at the limit.
    const garbage = Buffer.alloc(20, 0x80);
    const lines = split([garbage, Buffer.from('\n')], { maxLineBytes: 8 });
    expect(lines).toEqual(['\uFFFD'.repeat(8), '\uFFFD'.repeat(8), '\uFFFD'.repeat(4)]);
  });

  it('keeps a line of the default maxLineBytes whole and splits a longer one', () => {
    const whole = Buffer.alloc(1_048_576, 'a');
    expect(split([whole, Buffer.from('\n')]).map((line) => line.length)).toEqual([1_048_576]);
    const longer = Buffer.alloc(1_048_577, 'a');
    expect(split([longer, Buffer.from('\n')]).map((line) => line.length)).toEqual([1_048_576, 1]);
  });

  it('survives binary garbage', () => {
    const bytes = randomBytes(0x5eed, MIB);
    bytes[bytes.length - 1] = 10;
    const chunks = cutAt(bytes, chunkSizes(7, bytes.length, 70_000));
    let lines: string[] = [];
    expect(() => {
      lines = split(chunks);
    }).not.toThrow();
    expect(lines.length).toBe(countNewlines(bytes));
    expect(lines.some((line) => line.includes('\uFFFD'))).toBe(true);
    expect(lines).toEqual(expectedLines(bytes));
  });

  it('keeps memory bounded on a 50 MiB line without a newline', () => {
    const gc = exposeGc();
    gc();
    const before = retainedBytes();
    let pieces = 0;
    let totalLength = 0;
    let longestPiece = 0;
    const splitter = new LineSplitter(
      (piece) => {
        pieces++;
        totalLength += piece.length;
        longestPiece = Math.max(longestPiece, piece.length);
      },
      { maxLineBytes: MIB },
    );
    let growth = 0;
    const chunkSize = 64 * 1024;
    for (let written = 0, i = 0; written < 50 * MIB; written += chunkSize, i++) {
      // A fresh chunk each time, so keeping them would show.
      splitter.push(Buffer.alloc(chunkSize, 'a'));
      if (i % 64 === 63) {
        gc();
        growth = Math.max(growth, retainedBytes() - before);
      }
    }
    splitter.end();
    expect(pieces).toBe(50);
    expect(totalLength).toBe(50 * MIB);
    expect(longestPiece).toBeLessThanOrEqual(MIB);
    // Bounded is a few MiB; keeping the line would be 50 MiB and more.
    expect(growth).toBeLessThan(30 * 1000 * 1000);
  });

  it('rejects a maxLineBytes that is not a positive integer', () => {
    for (const maxLineBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10']) {
      let thrown: unknown;
      try {
        new LineSplitter(() => {}, { maxLineBytes: maxLineBytes as number });
      } catch (error) {
        thrown = error;
      }
      expect(isRunyardError(thrown, 'ERR_INVALID')).toBe(true);
      expect((thrown as Error).message).toMatch(
        /^Expected `maxLineBytes` to be a positive integer/,
      );
    }
    expect(() => new LineSplitter(() => {}, {})).not.toThrow();
  });
});

describe('countNewlines', () => {
  it('counts the newline bytes of a chunk', () => {
    expect(countNewlines(Buffer.alloc(0))).toBe(0);
    expect(countNewlines(Buffer.from('no newline'))).toBe(0);
    expect(countNewlines(Buffer.from('\n'))).toBe(1);
    expect(countNewlines(Buffer.from('a\r\nb\n\n€\n'))).toBe(4);
    const bytes = randomBytes(42, 100_000);
    let expected = 0;
    for (const byte of bytes) if (byte === 10) expected++;
    expect(countNewlines(bytes)).toBe(expected);
  });
});

describe('LineSplitter on a child process', () => {
  it('splits the lines of print-lines.js on stdout and stderr', async () => {
    const result = await runFixture('print-lines.js', ['20000', '12', 'both']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toHaveLength(10_000);
    expect(result.stderr).toHaveLength(10_000);
    expect(result.stdout[0]).toBe('line 2xxxxx');
    expect(result.stderr[0]).toBe('line 1xxxxx');
    expect(result.stdout.at(-1)).toBe('line 20000x');
    expect(result.stderr.at(-1)).toBe('line 19999x');
    expect(result.stdout.every((line, i) => line.startsWith(`line ${2 * i + 2}`))).toBe(true);
    expect(result.stderr.every((line, i) => line.startsWith(`line ${2 * i + 1}`))).toBe(true);
  });

  it('decodes characters and CRLF cut across separate writes', async () => {
    const bytes = Buffer.from('a€b\r\n😀\r\nend');
    // Cut inside '€', between CR and LF, and inside '😀'.
    const offsets = [2, 6, 8, 10];
    const result = await runFixture('write-bytes.js', [
      bytes.toString('base64'),
      '5',
      offsets.join(','),
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toEqual(['a€b', '😀', 'end']);
  });

  it('passes binary bytes through write-bytes.js unchanged', async () => {
    const bytes = randomBytes(99, 4096);
    const result = await runFixture('write-bytes.js', [bytes.toString('base64')]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toEqual(expectedLines(bytes));
  });
});

interface FixtureResult {
  exitCode: number | null;
  stdout: string[];
  stderr: string[];
}

/** Runs a fixture with Node, splitting both outputs into lines, and waits for it to end. */
function runFixture(name: string, args: readonly string[]): Promise<FixtureResult> {
  const script = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const result: FixtureResult = { exitCode: null, stdout: [], stderr: [] };
    const stdout = new LineSplitter((line) => result.stdout.push(line));
    const stderr = new LineSplitter((line) => result.stderr.push(line));
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', reject);
    child.once('close', (exitCode) => {
      stdout.end();
      stderr.end();
      result.exitCode = exitCode;
      resolve(result);
    });
  });
}

/** Heap and Buffer memory still reachable (call after a collection). */
function retainedBytes(): number {
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** A full garbage collection, so the memory test measures what is kept, not what is garbage. */
function exposeGc(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
