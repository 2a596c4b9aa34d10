// Options every command shares: --version, help, unknown options with a "did you mean", extra
// arguments, `logs --from`, durations without a unit, and `--store` / RUNYARD_STORE.
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/core/types.js';
import { runCli } from '../helpers/cli.js';
import { fixturesDir } from '../helpers/processes.js';

const node = process.execPath;
const exitWith = join(fixturesDir, 'exit-with.js');
const version = (
  JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  }
).version;

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-cli-options-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

function runyard(args: string[], env?: Record<string, string>) {
  return runCli(args, { home, ...(env && { env }) });
}

describe('runyard --version and help', () => {
  it.each([['--version'], ['-V']])('%s prints the package version', async (flag) => {
    expect(await runyard([flag])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it.each([
    ['run', 'Usage: runyard run [options] -- <command>'],
    ['ls', 'Usage: runyard ls [options]'],
    ['logs', 'Usage: runyard logs [options] <id>'],
    ['prune', 'Usage: runyard prune [options]'],
  ])('help %s, and its --help, show the command help', async (name, usage) => {
    for (const args of [
      ['help', name],
      [name, '--help'],
      [name, '-h'],
    ]) {
      const result = await runyard(args);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout.startsWith(usage), args.join(' ')).toBe(true);
    }
  });

  it('`help` of an unknown command exits 2 with a suggestion', async () => {
    const result = await runyard(['help', 'lss']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command `lss`: did you mean `ls`?');
  });
});

describe('runyard options are checked', () => {
  it.each([
    [['run', '--timout', '5s', '--', 'true'], '--timeout'],
    [['launch', '--lable', 'a=b', '--', 'true'], '--label'],
    [['ls', '--stauts', 'failed'], '--status'],
    [['show', '--jsn', 'x'], '--json'],
    [['logs', '--folow', 'x'], '--follow'],
    [['cancel', '--hom', 'x', 'y'], '--home'],
    [['batch', '--jobz', '2'], '--jobs'],
    [['prune', '--keep-lats', '1'], '--keep-last'],
    [['schedules', '--stor', 'memory:'], '--store'],
    [['advise', '--duraton', '2m'], '--duration'],
    [['--stor', 'memory:', 'ls'], '--store'],
  ])('%j: an unknown option exits 2 with "did you mean `%s`"', async (args, near) => {
    const result = await runyard(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`: did you mean \`${near}\`?`);
    expect(result.stderr).toContain('Usage: runyard');
  });

  it.each([
    [['ls', 'stray'], 'Unexpected argument `stray`'],
    [['show', 'a', 'b', 'c'], 'Unexpected arguments `b`, `c`'],
    [['logs', 'a', 'b'], 'Unexpected argument `b`'],
    [['cancel', 'a', 'b'], 'Unexpected argument `b`'],
    [['batch', 'a', 'b'], 'Unexpected argument `b`'],
    [['schedules', 'x'], 'Unexpected argument `x`'],
    [['show'], 'Missing the run id'],
  ])('%j exits 2 naming the extra arguments', async (args, message) => {
    const result = await runyard(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it.each(['abc', '0', '1.5', '-2', ''])('logs --from %j is refused', async (from) => {
    const result = await runyard([
      'logs',
      `--from=${from}`,
      '0190a0a0-0000-7000-8000-000000000000',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Expected `--from` to be a positive integer');
  });

  it.each([
    ['run', '--timeout', '30', '--', 'true'],
    ['run', '--kill-grace', '5', '--', 'true'],
    ['launch', '--timeout', '30', '--', 'true'],
    ['batch', '--kill-grace', '1'],
    ['advise', '--duration', '60'],
  ])('%s %s %s: a duration without a unit exits 2 naming the units', async (...args) => {
    const result = await runyard(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `Expected \`${args[1]}\` to be a duration with a unit (ms, s, m, h or d)`,
    );
  });
});

describe('runyard --store', () => {
  async function batchInto(args: string[], env?: Record<string, string>) {
    const result = await runCli([...args, 'batch', '--json'], {
      home,
      input: `${node} ${exitWith} 0 x\n`,
      ...(env && { env }),
    });
    expect(result.code).toBe(0);
    return (JSON.parse(result.stdout) as RunRecord[])[0]!.id;
  }

  it('a global --store, a command --store and RUNYARD_STORE name the database', async () => {
    const url = `sqlite:${join(home, 'other.db')}`;
    const id = await batchInto(['--store', url]);
    expect(existsSync(join(home, 'other.db'))).toBe(true);
    expect(existsSync(join(home, 'runyard.db'))).toBe(false);
    for (const [args, env] of [
      [['ls', '--json', '--store', url], undefined],
      [['--store', url, 'ls', '--json'], undefined],
      [[`--store=${url}`, 'ls', '--json'], undefined],
      [['ls', '--json'], { RUNYARD_STORE: url }],
    ] as const) {
      const result = await runyard([...args], env);
      expect(result.code, args.join(' ')).toBe(0);
      expect((JSON.parse(result.stdout) as RunRecord[]).map((r) => r.id)).toContain(id);
    }
    // The home's own database is still the default.
    expect((await runyard(['ls'])).stdout).toBe('No runs.\n');
  });

  it('memory: is a store of the command alone; a bad URL exits 2', async () => {
    expect(await runyard(['--store', 'memory:', 'ls'])).toMatchObject({
      code: 0,
      stdout: 'No runs.\n',
    });
    const bad = await runyard(['ls', '--store', 'redis://x']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Expected `url` to be a store URL');
  });
});
