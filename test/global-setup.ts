import { readFileSync } from 'node:fs';
import {
  createReadBuffer,
  isDeadState,
  matchEnviron,
  readProcessTable,
} from '../src/process/process-table.js';

const variable = 'RUNYARD_TEST_SUITE';

/**
 * Marks every process the suite starts (children inherit the variable) and, once every test
 * file has run, fails the run if any marked process is still alive: a leak anywhere in the
 * suite is caught even when the test that caused it passed.
 */
export default function setup(): () => Promise<void> {
  const value = `${process.pid}-${Date.now()}`;
  process.env[variable] = value;
  return async () => {
    const entry = Buffer.from(`${variable}=${value}`);
    const deadline = Date.now() + 5000;
    let survivors = findMarked(entry);
    // Processes ended by the last test may still be on their way out.
    while (survivors.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      survivors = findMarked(entry);
    }
    if (survivors.length === 0) return;
    const described = survivors.map((pid) => `${pid} (${commandLine(pid)})`);
    for (const pid of survivors) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    throw new Error(`The test suite left processes running: ${described.join(', ')}`);
  };
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '?';
  }
}

function findMarked(entry: Buffer): number[] {
  if (process.platform !== 'linux') return [];
  const buffer = createReadBuffer();
  const found: number[] = [];
  for (const info of readProcessTable().values()) {
    // vitest's own workers are this process's children; a leaked process is not.
    if (info.pid === process.pid || info.ppid === process.pid || isDeadState(info.state)) continue;
    if (matchEnviron(info.pid, entry, buffer)) found.push(info.pid);
  }
  return found;
}
