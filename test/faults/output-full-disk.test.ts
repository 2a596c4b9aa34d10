// A log file on a disk that fills up mid-run: the child runs on, the loss is recorded on the
// run (`output.truncated`, a `system` line saying from which line on, `fileError`), and the
// file ends on a whole line. A real full disk: a 64 KiB tmpfs mounted for the test (root only).
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type OutputLine, OutputLog, readLogFile, start } from '../../src/index.js';
import { executeTask } from '../../src/run/execute-task.js';
import { fixturesDir } from '../helpers/processes.js';

const node = process.execPath;
const printLines = join(fixturesDir, 'print-lines.js');
const lossLine =
  /^The log file could not be written from line (\d+) on \(ENOSPC[^)]*\): they are kept in memory only/;

let dir = '';
let mounted = false;
let skipReason = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'runyard-full-disk-'));
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    skipReason = 'mounting a small tmpfs needs Linux and root';
    return;
  }
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    mounted = true;
  } catch (error) {
    skipReason = `mount -t tmpfs failed: ${String((error as Error).message).trim()}`;
  }
});

afterEach(async () => {
  // Each test starts on an empty disk that fills up during the run.
  if (mounted) for (const name of await readdir(dir)) await rm(join(dir, name));
});

afterAll(async () => {
  if (mounted) execFileSync('umount', ['-l', dir]);
  await rm(dir, { recursive: true, force: true });
});

/** Skips (saying why) when no tmpfs could be mounted. */
function needsFullDisk(skip: (note: string) => void): void {
  if (!mounted) {
    console.warn(`skipped: ${skipReason}`);
    skip(skipReason);
  }
}

async function expectWholeLines(file: string, firstLost: number): Promise<void> {
  const raw = await readFile(file, 'utf8');
  expect(raw.endsWith('\n')).toBe(true);
  const inFile = await readLogFile(file, { limit: 100_000 });
  expect(inFile.map((line) => line.seq)).toEqual(
    Array.from({ length: firstLost - 1 }, (_, i) => i + 1),
  );
}

describe('a log file on a disk that fills up', () => {
  it('start(): the run goes on and succeeds, and the loss is on the run and in its output', async (ctx) => {
    needsFullDisk(ctx.skip);
    const file = join(dir, 'start.log');
    const handle = start(node, [printLines, '20000', '20'], { logFile: file, tailLines: 30_000 });
    const seen: OutputLine[] = [];
    for await (const line of handle.lines()) seen.push(line);
    const result = await handle.result;
    expect(result.status).toBe('succeeded');
    expect(result.output).toEqual({ lines: 20_000, bytes: 400_000, truncated: true });
    expect(handle.output.fileError).toMatchObject({ code: 'ENOSPC' });
    expect(handle.output).toMatchObject({ lineCount: 20_000, byteCount: 400_000 });

    // Every line reached the follower, in order, and the system line is among them.
    expect(seen.map((line) => line.seq)).toEqual(Array.from({ length: 20_001 }, (_, i) => i + 1));
    const system = seen.filter((line) => line.stream === 'system');
    expect(system).toHaveLength(1);
    const firstLost = Number(lossLine.exec(system[0]!.text)?.[1]);
    expect(firstLost).toBeGreaterThan(1);
    const stdout = seen.filter((line) => line.stream === 'stdout');
    expect(stdout.map((line) => line.text)).toEqual(
      Array.from({ length: 20_000 }, (_, i) => `line ${i + 1}`.padEnd(19, 'x')),
    );
    await expectWholeLines(file, firstLost);
  });

  it('a run whose result is read before its log is closed is truncated too', async (ctx) => {
    needsFullDisk(ctx.skip);
    const file = join(dir, 'managed.log');
    const output = new OutputLog({ file, tailLines: 30_000 });
    try {
      const active = executeTask(
        { command: node, args: [printLines, '20000', '20'] },
        { pattern: 'fire-and-forget', captureBytes: 1 << 20, output },
      );
      const result = await active.result;
      expect(result.status).toBe('succeeded');
      expect(result.output).toEqual({ lines: 20_000, bytes: 400_000, truncated: true });
      expect(output.tail().filter((line) => line.stream === 'system')[0]?.text).toMatch(lossLine);
    } finally {
      await output.close();
    }
  });
});
