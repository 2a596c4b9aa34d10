/**
 * Children run in process groups of their own, so the terminal's Ctrl-C and the end of the
 * parent do not reach them. This registry ends every live group when the Node process
 * exits. It is module-level on purpose: `process.on('exit')` is process-wide too.
 */
const liveGroups = new Set<number>();
let hooked = false;

export function trackGroup(pid: number): void {
  if (!hooked) {
    hooked = true;
    process.on('exit', endLiveGroups);
  }
  liveGroups.add(pid);
}

export function untrackGroup(pid: number): void {
  liveGroups.delete(pid);
}

function endLiveGroups(): void {
  // Only synchronous work is possible here: a SIGKILL, since no grace period can be awaited.
  for (const pid of liveGroups) {
    try {
      process.kill(process.platform === 'win32' ? pid : -pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  liveGroups.clear();
}
