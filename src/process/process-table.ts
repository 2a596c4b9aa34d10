/*
 * Reads the process table (`/proc`, or `ps` elsewhere): parents, groups and the run marker
 * in each environment, to find every process a run left behind.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';

/** One row of the operating system's process table. */
export interface ProcessInfo {
  pid: number;
  /** The parent's pid; an orphan shows its new reaper (often 1). */
  ppid: number;
  /** Process group id: a child spawned with `detached: true` leads its own group. */
  pgid: number;
  /** Session id; `0` where the platform does not tell. */
  sid: number;
  /** One letter from proc(5): `R`, `S`, `D`, `T`, `Z` (zombie)…; `''` where unknown. */
  state: string;
  /**
   * Field 22 of `/proc/<pid>/stat`: clock ticks since boot when the process started. With the
   * pid it names one process for good, as pids are reused. `0` where unknown.
   */
  startTime: number;
}

/** Reusable read buffer, grown when a file does not fit. */
export interface ReadBuffer {
  bytes: Buffer;
}

export function createReadBuffer(size = 4096): ReadBuffer {
  return { bytes: Buffer.allocUnsafe(size) };
}

/**
 * Every process the caller can see. Linux reads `/proc/<pid>/stat`; other POSIX systems run
 * `ps -A -o pid=,ppid=,pgid=` (then `sid`, `state` and `startTime` are unknown). Processes
 * that end while the table is read are left out.
 *
 * @example
 * const me = readProcessTable().get(process.pid);
 */
export function readProcessTable(): Map<number, ProcessInfo> {
  return process.platform === 'linux' ? readProcTable() : readPsTable();
}

/** One process from `/proc/<pid>/stat`, or `undefined` when it is gone or `/proc` is missing. */
export function readProcessInfo(
  pid: number,
  buffer: ReadBuffer = createReadBuffer(),
): ProcessInfo | undefined {
  const length = readProcFile(`/proc/${pid}/stat`, buffer);
  return length > 0 ? parseStat(buffer.bytes.toString('latin1', 0, length)) : undefined;
}

/**
 * Parses one `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
 * itself hold spaces and parentheses, so the fixed fields are read after the LAST `)`.
 */
export function parseStat(text: string): ProcessInfo | undefined {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // fields[0] is field 3 of proc(5), so field N is fields[N - 3].
  const fields = text.slice(close + 2).split(' ', 20);
  const info: ProcessInfo = {
    pid: Number(text.slice(0, open)),
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    sid: Number(fields[3]),
    state: fields[0] ?? '',
    startTime: Number(fields[19]),
  };
  const numbers = [info.pid, info.ppid, info.pgid, info.sid, info.startTime];
  return info.state !== '' && numbers.every(Number.isSafeInteger) ? info : undefined;
}

/** Parses the output of `ps -A -o pid=,ppid=,pgid=`. */
export function parsePsOutput(output: string): Map<number, ProcessInfo> {
  const table = new Map<number, ProcessInfo>();
  for (const line of output.split('\n')) {
    const [pid, ppid, pgid] = line.trim().split(/\s+/).map(Number);
    if (pid === undefined || ppid === undefined || pgid === undefined) continue;
    if (![pid, ppid, pgid].every(Number.isSafeInteger)) continue;
    table.set(pid, { pid, ppid, pgid, sid: 0, state: '', startTime: 0 });
  }
  return table;
}

/** A zombie has exited and only waits for its parent to collect the exit status. */
export function isDeadState(state: string): boolean {
  return state === 'Z' || state === 'X' || state === 'x';
}

/**
 * True when the process exists and has not exited. Linux counts a zombie (state `Z`) as dead;
 * elsewhere `process.kill(pid, 0)` decides.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (process.platform === 'linux') {
    const info = readProcessInfo(pid);
    if (info !== undefined) return !isDeadState(info.state);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `/proc/<pid>/environ` holds exactly `entry` (`NAME=value`) as one of its
 * NUL-separated strings. `false` when it cannot be read (gone, another user's process, not
 * Linux); `undefined` when it reads empty: a kernel thread, or a process in the middle of
 * `execve` whose new environment is not mapped yet, so the answer may change.
 */
export function matchEnviron(pid: number, entry: Buffer, buffer: ReadBuffer): boolean | undefined {
  const length = readProcFile(`/proc/${pid}/environ`, buffer);
  if (length === 0) return undefined;
  if (length < entry.length) return false;
  const environ = buffer.bytes.subarray(0, length);
  for (let at = environ.indexOf(entry); at !== -1; at = environ.indexOf(entry, at + 1)) {
    const end = at + entry.length;
    if ((at === 0 || environ[at - 1] === 0) && (end === length || environ[end] === 0)) return true;
  }
  return false;
}

/**
 * The value of the variable `name` in `/proc/<pid>/environ` (the first one, as `getenv` would
 * read it); `undefined` when it is not set or the file cannot be read.
 */
export function readEnvironValue(
  pid: number,
  name: string,
  buffer: ReadBuffer,
): string | undefined {
  const length = readProcFile(`/proc/${pid}/environ`, buffer);
  if (length <= 0) return undefined;
  const environ = buffer.bytes.subarray(0, length);
  const prefix = Buffer.from(`${name}=`);
  for (let at = environ.indexOf(prefix); at !== -1; at = environ.indexOf(prefix, at + 1)) {
    if (at !== 0 && environ[at - 1] !== 0) continue;
    const end = environ.indexOf(0, at);
    return environ.toString('utf8', at + prefix.length, end === -1 ? length : end);
  }
  return undefined;
}

function readProcTable(): Map<number, ProcessInfo> {
  const table = new Map<number, ProcessInfo>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return readPsTable();
  }
  const buffer = createReadBuffer();
  for (const name of names) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57) continue;
    const info = readProcessInfo(Number(name), buffer);
    if (info !== undefined) table.set(info.pid, info);
  }
  return table;
}

function readPsTable(): Map<number, ProcessInfo> {
  try {
    const output = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,pgid='], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return parsePsOutput(output);
  } catch {
    return new Map();
  }
}

/**
 * Reads a whole `/proc` file into `buffer` with open/read/close: half the cost of
 * `readFileSync`, which matters when every process is read on each poll. Returns the length
 * read, or -1 when the file cannot be read.
 */
function readProcFile(path: string, buffer: ReadBuffer): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return -1;
  }
  try {
    let length = 0;
    for (;;) {
      if (length === buffer.bytes.length) {
        const bigger = Buffer.allocUnsafe(length * 2);
        buffer.bytes.copy(bigger);
        buffer.bytes = bigger;
      }
      const wanted = buffer.bytes.length - length;
      const read = readSync(fd, buffer.bytes, length, wanted, null);
      length += read;
      // procfs fills the whole request unless the end is reached.
      if (read < wanted) return length;
    }
  } catch {
    return -1;
  } finally {
    closeSync(fd);
  }
}
