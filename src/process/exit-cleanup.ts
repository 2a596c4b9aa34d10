/**
 * Children run in process groups of their own, so the terminal's Ctrl-C and the end of the
 * parent do not reach them. This registry ends every live run's group, and every process that
 * carries a live run's marker (a `setsid` escapee left the group), when the Node process exits:
 * by `process.exit()`, the end of the event loop, or an uncaught exception. It is module-level
 * on purpose: `process.on('exit')` is process-wide too.
 */
import { RUN_ID_VARIABLE } from './child-env.js';
import { createReadBuffer, readEnvironValue, readProcessTable } from './process-table.js';

/** Live group leaders, by pid, with the marker value (run id) their processes carry. */
const liveGroups = new Map<number, string | undefined>();
let hooked = false;
/** Rescans for marked processes that forked while the previous pass killed their parents. */
const MAX_MARKER_PASSES = 3;

/** Ends the group of `pid` at exit; with `runId`, also every process carrying `RUNYARD_RUN_ID=runId`. */
export function trackGroup(pid: number, runId?: string): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', endLiveRuns);
  }
  liveGroups.set(pid, runId);
}

export function untrackGroup(pid: number): void {
  liveGroups.delete(pid);
}

function endLiveRuns(): void {
  // Only synchronous work is possible here: a SIGKILL, since no grace period can be awaited.
  const runIds = new Set<string>();
  for (const [pid, runId] of liveGroups) {
    kill(process.platform === 'win32' ? pid : -pid);
    if (runId !== undefined) runIds.add(runId);
  }
  liveGroups.clear();
  if (runIds.size > 0 && process.platform === 'linux') endMarked(runIds);
}

/** SIGKILLs every process (and the group it leads) whose environment names one of `runIds`. */
function endMarked(runIds: ReadonlySet<string>): void {
  const buffer = createReadBuffer();
  const killed = new Set<number>();
  for (let pass = 0; pass < MAX_MARKER_PASSES; pass++) {
    const table = readProcessTable();
    const ownGroup = table.get(process.pid)?.pgid;
    let found = 0;
    for (const info of table.values()) {
      if (info.pid === process.pid || info.pid === 1 || killed.has(info.pid)) continue;
      const value = readEnvironValue(info.pid, RUN_ID_VARIABLE, buffer);
      if (value === undefined || !runIds.has(value)) continue;
      found++;
      killed.add(info.pid);
      // An escapee that called setsid leads a group of its own: its children go with it.
      if (info.pgid === info.pid && info.pgid !== ownGroup) kill(-info.pid);
      kill(info.pid);
    }
    if (found === 0) return;
  }
}

function kill(target: number): void {
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
