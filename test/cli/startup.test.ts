// What each command loads: only the argument parsing and the one command asked for, and that
// command only what it uses, so a call starts about as fast as Node itself.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newRunId } from '../../src/core/ids.js';
import type { RunRecord } from '../../src/core/types.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { cliPath, runCli } from '../helpers/cli.js';
import { fixturesDir, waitUntilDead } from '../helpers/processes.js';

const root = join(import.meta.dirname, '..', '..');

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'runyard-cli-startup-'));
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

interface Loaded {
  code: number;
  stdout: string;
  /** runyard's own modules, relative to dist/: `cli/main.js`, `store/open-store.js`. */
  modules: string[];
  /** The npm packages loaded: `better-sqlite3`. */
  packages: string[];
  /** Worker threads started. */
  threads: number;
}

/** Runs `runyard <args>` with every module it loads recorded by cli-module-log.mjs. */
async function loadedBy(args: readonly string[]): Promise<Loaded> {
  const log = join(home, 'modules.txt');
  const child = spawn(
    process.execPath,
    ['--import', join(fixturesDir, 'cli-module-log.mjs'), cliPath, ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUNYARD_HOME: home, RUNYARD_TEST_MODULE_LOG: log },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const [code] = (await once(child, 'close')) as [number];
  expect(stderr).toBe('');
  const lines = (await readFile(log, 'utf8')).split('\n');
  const threads = lines.filter((line) => line === 'thread').length;
  const paths = lines.filter((line) => line.startsWith('file:')).map((url) => fileURLToPath(url));
  const dist = join(root, 'dist') + '/';
  const modules = paths.filter((p) => p.startsWith(dist)).map((p) => p.slice(dist.length));
  const packages = paths
    .map((p) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p)?.[1])
    .filter((name): name is string => name !== undefined);
  return {
    code,
    stdout,
    modules: [...new Set(modules)],
    packages: [...new Set(packages)],
    threads,
  };
}

/** Pools, schedules, the task manager and the orchestrator: no command below needs them. */
const heavy = [
  /^pools\//,
  /^schedules\//,
  /^tasks\/task-manager\.js$/,
  /^executor\//,
  /^orchestrator\//,
];

function expectNone(modules: readonly string[], patterns: readonly RegExp[]): void {
  expect(modules.filter((m) => patterns.some((p) => p.test(m)))).toEqual([]);
}

/** The command modules loaded, by file name. */
const commandsOf = (modules: readonly string[]) =>
  modules.filter((m) => m.startsWith('cli/commands/')).map((m) => m.slice('cli/commands/'.length));

async function seedFinishedRun(): Promise<void> {
  const store = new SqliteStore({ path: join(home, 'runyard.db') });
  const created = Date.now() - 1000;
  const record: RunRecord = {
    id: newRunId(created),
    name: 'true',
    pattern: 'fire-and-forget',
    status: 'succeeded',
    command: '/bin/true',
    args: [],
    attempt: 1,
    exitCode: 0,
    createdAt: new Date(created).toISOString(),
    startedAt: new Date(created + 1).toISOString(),
    finishedAt: new Date(created + 5).toISOString(),
    durationMs: 4,
    output: { lines: 0, bytes: 0, truncated: false },
  };
  try {
    await store.create(record);
  } finally {
    await store.close();
  }
}

describe('what a runyard command loads', () => {
  it('--version loads the argument parsing alone', async () => {
    const loaded = await loadedBy(['--version']);
    expect(loaded.code).toBe(0);
    expect(loaded.stdout).toMatch(/^\d+\.\d+\.\d+/);
    expect(loaded.modules.sort()).toEqual([
      'cli/interrupt.js',
      'cli/main.js',
      'cli/parse.js',
      'cli/usage.js',
      'core/errors.js',
      'core/validate.js',
    ]);
    expect(loaded.packages).toEqual([]);
  });

  it('run loads neither the store nor any package (better-sqlite3, piscina, croner)', async () => {
    const loaded = await loadedBy(['run', '--', '/bin/true']);
    expect(loaded.code).toBe(0);
    expect(commandsOf(loaded.modules)).toEqual(['run.js']);
    expect(loaded.modules.filter((m) => m.startsWith('store/'))).toEqual([]);
    // The output is passed through, never read back: no line log.
    expectNone(loaded.modules, [...heavy, /^output\/(output-log|follower|log-file)\.js$/]);
    expect(loaded.packages).toEqual([]);
  });

  it('ls loads the store, and no process code while no run is unfinished', async () => {
    await seedFinishedRun();
    const loaded = await loadedBy(['ls']);
    expect(loaded.code).toBe(0);
    expect(loaded.stdout).toContain('succeeded');
    expect(commandsOf(loaded.modules)).toEqual(['ls.js']);
    expectNone(loaded.modules, [...heavy, /^process\//, /^tasks\/recovery\.js$/]);
    expect(loaded.packages.sort()).toEqual(['better-sqlite3', 'bindings', 'file-uri-to-path']);
  });

  it('launch loads no task manager, executor, pool or scheduler, and starts no thread', async () => {
    const loaded = await loadedBy(['launch', '--', '/bin/true']);
    expect(loaded.code).toBe(0);
    const id = loaded.stdout.trim();
    expect(commandsOf(loaded.modules)).toEqual(['launch.js']);
    // Checking a task needs no spawn code: the supervisor runs it.
    expectNone(loaded.modules, [
      ...heavy,
      /^process\/spawn-process\.js$/,
      /^run\/execute-task\.js$/,
    ]);
    // The store's checkpoint thread would cost more than the one record it writes.
    expect(loaded.threads).toBe(0);
    expect(loaded.packages).not.toContain('piscina');
    expect(loaded.packages).not.toContain('croner');
    // The supervisor runs it to its end; wait for both, so nothing outlives the test.
    const deadline = performance.now() + 20_000;
    let record: RunRecord;
    for (;;) {
      const shown = await runCli(['show', '--json', id], { home });
      record = JSON.parse(shown.stdout) as RunRecord;
      if (record.status === 'succeeded' || performance.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(record.status).toBe('succeeded');
    await waitUntilDead([record.owner!.pid]);
  });

  it('help <command> loads that command alone', async () => {
    const loaded = await loadedBy(['help', 'show']);
    expect(loaded.code).toBe(0);
    expect(loaded.stdout).toContain('Usage: runyard show');
    expect(commandsOf(loaded.modules)).toEqual(['show.js']);
    expect(loaded.packages).toEqual([]);
  });
});
