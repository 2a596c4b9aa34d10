/*
 * Ends a process tree: TERM to the group and the descendants, then KILL after the grace
 * period, and waits until each is gone.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:os';
import { checkKnownKeys, checkPlainObject, invalid } from '../core/validate.js';
import {
  createReadBuffer,
  isDeadState,
  isProcessAlive,
  matchEnviron,
  type ProcessInfo,
  type ReadBuffer,
  readProcessTable,
} from './process-table.js';

export type { ProcessInfo } from './process-table.js';
export { isProcessAlive, readProcessTable } from './process-table.js';

export interface CollectTreeOptions {
  /** Process group whose members belong to the tree. @default rootPid */
  readonly pgid?: number;
  /**
   * An environment entry every process of the run inherits, such as
   * `{ name: 'RUNYARD_RUN_ID', value: runId }`. It finds descendants that left both the
   * process group and the parent chain (a daemon that called `setsid` and whose parent
   * exited). Read from `/proc/<pid>/environ`, so Linux only. @default undefined
   */
  readonly marker?: { readonly name: string; readonly value: string };
}

export interface TerminateOptions extends CollectTreeOptions {
  /** Time between the polite signal and SIGKILL. @default 5000 */
  readonly graceMs?: number;
  /** The polite signal. @default 'SIGTERM' */
  readonly killSignal?: NodeJS.Signals;
}

export interface TerminateResult {
  /** How many processes were sent a signal. */
  signalled: number;
  /** How many were still alive after `graceMs` (or appeared later) and needed SIGKILL. */
  forced: number;
  /** Pids still alive two seconds after SIGKILL: should always be empty. */
  survivors: number[];
}

const defaultGraceMs = 5000;
/** How long SIGKILL may take before a process counts as a survivor. */
const killBoundMs = 2000;
/** Polls start this short, since a tree that takes a signal ends within a millisecond... */
const firstPollMs = 1;
/** ...and double up to this, so a TERM-ignoring tree costs little while it waits. */
const maxPollMs = 50;

/**
 * The processes to signal for a run: the root, every descendant of it, every member of the
 * process group `pgid`, and with `marker` every process whose environment holds that entry,
 * with their descendants. Never the calling process, its own process group, or pid 1. Each
 * comes with its `startTime`, so a pid reused later is never taken for it.
 *
 * @example
 * const tree = collectTree(child.pid, { marker: { name: 'RUNYARD_RUN_ID', value: runId } });
 */
export function collectTree(rootPid: number, options: CollectTreeOptions = {}): ProcessInfo[] {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, ['pgid', 'marker']);
  return selectTree(readProcessTable(), createQuery(rootPid, options));
}

/**
 * Ends a whole process tree and leaves no survivor: the tree is collected first, then the
 * group and every member get `killSignal`; processes still alive after `graceMs` get SIGKILL.
 * Processes forked meanwhile are found on each poll and signalled too. On Windows it runs
 * `taskkill /T`, then `taskkill /T /F` after the grace.
 *
 * @example
 * const { survivors } = await terminateTree(child.pid, { graceMs: 2000, marker });
 */
export async function terminateTree(
  rootPid: number,
  options: TerminateOptions = {},
): Promise<TerminateResult> {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, ['pgid', 'marker', 'graceMs', 'killSignal']);
  const query = createQuery(rootPid, options);
  const graceMs = options.graceMs ?? defaultGraceMs;
  const killSignal = options.killSignal ?? 'SIGTERM';
  if (typeof graceMs !== 'number' || !Number.isFinite(graceMs) || graceMs < 0) {
    throw invalid('graceMs', 'a non-negative number', graceMs);
  }
  if (typeof killSignal !== 'string' || !Object.hasOwn(constants.signals, killSignal)) {
    throw invalid('killSignal', 'a signal name such as `SIGTERM`', killSignal);
  }
  if (process.platform === 'win32') return terminateWindowsTree(rootPid, graceMs);

  const start = performance.now();
  const state: Termination = {
    query,
    tracked: new Map(),
    seen: new Set(),
    signalled: 0,
    forced: 0,
  };
  const table = readProcessTable();
  // From now on the root pid only counts while it names the same process (-1: none).
  query.rootStartTime = table.get(rootPid)?.startTime ?? -1;
  const members = admit(state, table, false);
  // Group members get the group's signal only: a second SIGTERM can mean "hurry".
  const isGroupSignalled = signalGroup(table, query, killSignal);
  for (const info of members) {
    if (!isGroupSignalled || info.pgid !== query.pgid) send(info.pid, killSignal);
  }

  const ended = await pollUntil(() => sweep(state, killSignal, false), start + graceMs);
  if (!ended) await forceEnd(state);
  return { signalled: state.signalled, forced: state.forced, survivors: [...state.tracked.keys()] };
}

interface TreeQuery {
  rootPid: number;
  /** Set by `terminateTree` so a reused root pid is not followed on later polls. */
  rootStartTime?: number;
  pgid: number;
  /** `NAME=value` as bytes. */
  marker: Buffer | undefined;
  /** pid → startTime of processes whose environment was read and lacks the marker. */
  unmarked: Map<number, number>;
  buffer: ReadBuffer;
}

interface Termination {
  query: TreeQuery;
  /** Processes signalled and not yet seen dead, by pid. */
  tracked: Map<number, ProcessInfo>;
  /** `pid:startTime` of every process signalled, so each is admitted once. */
  seen: Set<string>;
  signalled: number;
  forced: number;
}

function createQuery(rootPid: number, options: CollectTreeOptions): TreeQuery {
  if (!Number.isSafeInteger(rootPid) || rootPid <= 0) {
    throw invalid('rootPid', 'a positive integer', rootPid);
  }
  const { pgid = rootPid, marker } = options;
  if (!Number.isSafeInteger(pgid) || pgid <= 0) throw invalid('pgid', 'a positive integer', pgid);
  if (marker !== undefined) {
    checkPlainObject('marker', marker);
    checkKnownKeys('marker', marker, ['name', 'value']);
    const { name, value } = marker;
    if (typeof name !== 'string' || !/^[^=\0]+$/.test(name)) {
      throw invalid('marker.name', 'a non-empty string without `=` or NUL', name);
    }
    if (typeof value !== 'string' || value.includes('\0')) {
      throw invalid('marker.value', 'a string without NUL', value);
    }
  }
  return {
    rootPid,
    pgid,
    marker: marker && Buffer.from(`${marker.name}=${marker.value}`),
    unmarked: new Map(),
    buffer: createReadBuffer(),
  };
}

function selectTree(table: Map<number, ProcessInfo>, query: TreeQuery): ProcessInfo[] {
  const ownPgid = table.get(process.pid)?.pgid;
  const pgid = query.pgid === ownPgid || query.pgid === process.pid ? undefined : query.pgid;
  const children = new Map<number, number[]>();
  const seeds: number[] = [];
  const root = table.get(query.rootPid);
  if (root && (query.rootStartTime ?? root.startTime) === root.startTime) seeds.push(root.pid);
  for (const info of table.values()) {
    const siblings = children.get(info.ppid);
    if (siblings) siblings.push(info.pid);
    else children.set(info.ppid, [info.pid]);
    if (info.pgid === pgid) seeds.push(info.pid);
  }
  const found = new Set<number>();
  addWithDescendants(seeds, children, found);
  if (query.marker !== undefined) {
    const marked: number[] = [];
    for (const info of table.values()) {
      if (found.has(info.pid) || isDeadState(info.state)) continue;
      if (query.unmarked.get(info.pid) === info.startTime) continue;
      const match = matchEnviron(info.pid, query.marker, query.buffer);
      if (match) marked.push(info.pid);
      else if (match === false) query.unmarked.set(info.pid, info.startTime);
    }
    addWithDescendants(marked, children, found);
  }
  return Array.from(found, (pid) => table.get(pid)!);
}

function addWithDescendants(seeds: number[], children: Map<number, number[]>, found: Set<number>) {
  const stack = [...seeds];
  for (let pid = stack.pop(); pid !== undefined; pid = stack.pop()) {
    // Never ourselves nor init, and never what hangs below them.
    if (found.has(pid) || pid === process.pid || pid === 1) continue;
    found.add(pid);
    const below = children.get(pid);
    if (below) stack.push(...below);
  }
}

/** Adds the tree's processes not signalled before to `tracked` and returns them. */
function admit(state: Termination, table: Map<number, ProcessInfo>, forcing: boolean) {
  const newcomers: ProcessInfo[] = [];
  for (const info of selectTree(table, state.query)) {
    const key = `${info.pid}:${info.startTime}`;
    if (isDeadState(info.state) || state.seen.has(key)) continue;
    state.seen.add(key);
    state.tracked.set(info.pid, info);
    state.signalled++;
    if (forcing) state.forced++;
    newcomers.push(info);
  }
  return newcomers;
}

/** Drops tracked processes that ended: gone, a zombie, or their pid now names another. */
function prune(state: Termination, table: Map<number, ProcessInfo>): void {
  for (const [pid, info] of state.tracked) {
    const now = table.get(pid);
    if (!now || now.startTime !== info.startTime || isDeadState(now.state)) {
      state.tracked.delete(pid);
    }
  }
}

/**
 * One poll: signals the processes forked since the last one; true when all have ended. Only
 * newcomers get the polite signal: a second SIGTERM often means "hurry" (a CLI's second
 * Ctrl-C), so the group is signalled again only with SIGKILL.
 */
function sweep(state: Termination, signal: NodeJS.Signals, forcing: boolean): boolean {
  const table = readProcessTable();
  const newcomers = admit(state, table, forcing);
  if (forcing && newcomers.length > 0) signalGroup(table, state.query, signal);
  for (const info of newcomers) send(info.pid, signal);
  prune(state, table);
  return state.tracked.size === 0;
}

async function forceEnd(state: Termination): Promise<void> {
  const table = readProcessTable();
  prune(state, table);
  state.forced += state.tracked.size;
  admit(state, table, true);
  signalGroup(table, state.query, 'SIGKILL');
  // `prune` just checked that each pid still names the process it was collected as.
  for (const info of state.tracked.values()) send(info.pid, 'SIGKILL');
  // The first sweep catches what forked between reading the table and the kills.
  await pollUntil(() => sweep(state, 'SIGKILL', true), performance.now() + killBoundMs);
}

/**
 * Signals the process group while it has members; true when it did. A group id names nothing
 * once its members are gone, and its number may then be reused, so an empty group is left
 * alone; an unreadable (empty) table cannot tell, so the group is signalled anyway.
 */
function signalGroup(table: Map<number, ProcessInfo>, query: TreeQuery, signal: NodeJS.Signals) {
  const { pgid } = query;
  if (pgid === process.pid || pgid === table.get(process.pid)?.pgid) return false;
  if (table.size > 0 && !hasMember(table, pgid)) return false;
  send(-pgid, signal);
  return true;
}

function hasMember(table: Map<number, ProcessInfo>, pgid: number): boolean {
  for (const info of table.values()) if (info.pgid === pgid) return true;
  return false;
}

function send(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch (error) {
    // ESRCH: already gone. EPERM: not ours (a zombie's pid on some systems, or a reused pid).
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ESRCH' && code !== 'EPERM') throw error;
  }
}

/** Calls `done` until it returns true or `deadline` passes, sleeping no longer than needed. */
async function pollUntil(done: () => boolean, deadline: number): Promise<boolean> {
  for (let delay = firstPollMs; ; delay = Math.min(delay * 2, maxPollMs)) {
    if (done()) return true;
    const left = deadline - performance.now();
    if (left <= 0) return false;
    await sleep(Math.min(delay, left));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Windows has no process groups to signal: `taskkill /T` walks the tree by parent pid (so
 * the root must still be alive), first politely, then with `/F` after the grace.
 */
async function terminateWindowsTree(pid: number, graceMs: number): Promise<TerminateResult> {
  const isGone = () => !isProcessAlive(pid);
  if (isGone()) return { signalled: 0, forced: 0, survivors: [] };
  await taskkill(pid, false);
  if (await pollUntil(isGone, performance.now() + graceMs)) {
    return { signalled: 1, forced: 0, survivors: [] };
  }
  await taskkill(pid, true);
  const ended = await pollUntil(isGone, performance.now() + killBoundMs);
  return { signalled: 1, forced: 1, survivors: ended ? [] : [pid] };
}

function taskkill(pid: number, force: boolean): Promise<void> {
  const args = ['/pid', String(pid), '/T', ...(force ? ['/F'] : [])];
  return new Promise((resolve) => {
    // Errors are expected (the tree ended meanwhile) and change nothing: liveness is polled.
    execFile('taskkill', args, { windowsHide: true }, () => resolve());
  });
}
