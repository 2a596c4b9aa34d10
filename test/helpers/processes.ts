import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  isProcessAlive,
  readProcessInfo,
  readProcessTable,
} from '../../src/process/process-table.js';

export const fixturesDir = join(import.meta.dirname, '..', 'fixtures');

export interface SpawnedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far. */
  readonly lines: readonly string[];
  /** Settles when the process has exited and its pipes closed. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /**
   * The first stdout line equal to `match` (or passing it), printed before or after the call.
   * Rejects, with stderr in the message, if the output ends first or `timeoutMs` passes.
   */
  waitForLine(match: string | ((line: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Pids printed so far: every number of a JSON line except `ppid` (`{"pid":N,"ppid":M}`). */
  pids(): number[];
}

export interface SpawnTestOptions {
  /** Added to `process.env`. */
  env?: Record<string, string>;
}

/**
 * Pid and start time of everything the helpers started or saw printed, so
 * `killRecordedProcesses()` can end them without hitting a reused pid. One list per test file
 * (vitest runs each file in its own module graph).
 */
const recorded = new Map<number, { startTime: number; isGroupLeader: boolean }>();

/** Starts `node test/fixtures/<name> ...args` in its own process group (`detached: true`). */
export function spawnFixture(
  name: string,
  args: readonly string[] = [],
  options: SpawnTestOptions = {},
): SpawnedProcess {
  return spawnCommand(process.execPath, [join(fixturesDir, name), ...args], options);
}

/** Starts a program in its own process group with piped stdio, recording it for cleanup. */
export function spawnCommand(
  command: string,
  args: readonly string[] = [],
  options: SpawnTestOptions = {},
): SpawnedProcess {
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  if (child.pid === undefined) throw new Error(`Could not start ${command}`);
  const pid = child.pid;
  recordPid(pid, { isGroupLeader: true });
  // Anything printed that started before the child cannot be one of its processes.
  const since = recorded.get(pid)?.startTime ?? 0;

  const lines: string[] = [];
  const printed: number[] = [];
  let stderr = '';
  let ended = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  createInterface({ input: child.stdout! })
    .on('line', (line) => {
      lines.push(line);
      for (const printedPid of pidsIn(line)) {
        printed.push(printedPid);
        recordPid(printedPid, { since });
      }
      notify();
    })
    .on('close', () => {
      ended = true;
      notify();
    });
  const exited = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));

  const waitForLine = (match: string | ((line: string) => boolean), timeoutMs = 10_000) => {
    const matches = typeof match === 'string' ? (line: string) => line === match : match;
    return new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = lines.find(matches);
        if (line === undefined && !ended) return;
        listeners.delete(check);
        clearTimeout(timer);
        if (line !== undefined) resolve(line);
        else reject(new Error(`${command} ended without the line ${String(match)}: ${stderr}`));
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`No line ${String(match)} from ${command} in ${timeoutMs} ms: ${stderr}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  };

  return { child, pid, lines, exited, waitForLine, pids: () => [...new Set(printed)] };
}

/**
 * Records a live pid for `killRecordedProcesses()`, with its start time so a reused pid is
 * never killed; `since` skips a process started before that (in clock ticks since boot).
 */
export function recordPid(
  pid: number,
  { isGroupLeader = false, since = 0 }: { isGroupLeader?: boolean; since?: number } = {},
): void {
  const startTime = process.platform === 'linux' ? readProcessInfo(pid)?.startTime : 0;
  if (startTime === undefined || startTime < since) return;
  const known = recorded.get(pid);
  if (known?.startTime !== startTime || isGroupLeader) {
    recorded.set(pid, { startTime, isGroupLeader });
  }
}

/**
 * SIGKILLs every recorded process still alive (and the groups the spawned ones lead), then
 * waits until they are gone. Call it from `afterEach`, so a failing test leaves nothing.
 */
export async function killRecordedProcesses(): Promise<void> {
  const table = readProcessTable();
  const pids: number[] = [];
  for (const [pid, { startTime, isGroupLeader }] of recorded) {
    // A group id cannot be reused while it has members, so a populated group is ours.
    if (isGroupLeader && [...table.values()].some((info) => info.pgid === pid)) {
      trySigkill(-pid);
    }
    if (table.get(pid)?.startTime === startTime) {
      trySigkill(pid);
      pids.push(pid);
    }
  }
  recorded.clear();
  await waitUntilDead(pids, 5000);
}

/** Resolves when none of `pids` is alive (zombies count as dead); rejects naming survivors. */
export async function waitUntilDead(pids: readonly number[], timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    const alive = pids.filter(isProcessAlive);
    if (alive.length === 0) return;
    if (performance.now() >= deadline) {
      throw new Error(`Still alive after ${timeoutMs} ms: ${alive.join(', ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

function pidsIn(line: string): number[] {
  if (!line.startsWith('{')) return [];
  try {
    const fields = Object.entries(JSON.parse(line) as Record<string, unknown>);
    return fields.flatMap(([key, value]) =>
      key !== 'ppid' && Number.isSafeInteger(value) && (value as number) > 0
        ? [value as number]
        : [],
    );
  } catch {
    return [];
  }
}

function trySigkill(target: number): void {
  try {
    process.kill(target, 'SIGKILL');
  } catch {}
}
