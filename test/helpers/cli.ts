import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { recordPid, type SpawnedProcess, spawnCommand } from './processes.js';

/** The built command: CLI tests run what users run (`npm test` builds first). */
export const cliPath = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `runyard <args>` to its end. `home` becomes RUNYARD_HOME; `input` is written to stdin
 * (otherwise stdin is /dev/null); `env` is added to the environment.
 */
export async function runCli(
  args: readonly string[],
  options: { home?: string; input?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...(options.home !== undefined && { RUNYARD_HOME: options.home }),
      ...options.env,
    },
  });
  if (options.input !== undefined) child.stdin!.end(options.input);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const [code] = (await once(child, 'close')) as [number];
  return { code, stdout, stderr };
}

/**
 * Starts `runyard <args>` in a process group of its own, as a shell starts a job, and leaves
 * it running: the test signals it and waits for `exited`. Its processes are recorded for
 * `killRecordedProcesses()`.
 */
export function startCli(
  args: readonly string[],
  home: string,
): SpawnedProcess & { stderr(): string } {
  const spawned = spawnCommand(process.execPath, [cliPath, ...args], {
    env: { RUNYARD_HOME: home },
  });
  let stderr = '';
  spawned.child.stderr!.on('data', (text: string) => {
    stderr += text;
  });
  return Object.assign(spawned, { stderr: () => stderr });
}

/**
 * Waits until test/fixtures/cli-tree.js has written `ready` to `pidFile`, and returns every
 * pid of its tree (recorded for cleanup). Polls: the tree may run under `batch`, whose output
 * goes to log files.
 */
export async function waitForTree(pidFile: string, timeoutMs = 20_000): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const text = await readFile(pidFile, 'utf8').catch(() => '');
    const lines = text.split('\n');
    if (lines.includes('ready')) {
      const pids = lines
        .filter((line) => line.startsWith('{'))
        .map((line) => (JSON.parse(line) as { pid: number }).pid);
      for (const pid of pids) recordPid(pid);
      return pids;
    }
    if (performance.now() > deadline) throw new Error(`No tree ready in ${pidFile}: ${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** True when `stderr` holds a JavaScript stack trace (`    at fn (file:1:2)`). */
export function hasStackTrace(stderr: string): boolean {
  return /^\s+at .+[:(]/m.test(stderr) || stderr.includes('node:internal');
}
