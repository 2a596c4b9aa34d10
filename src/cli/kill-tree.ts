// The forceful end of a run's tree, on a second stop signal. Apart from interrupt.ts, which
// every command loads, so that only the commands that run programs load the process code.
import { RUN_ID_VARIABLE } from '../process/child-env.js';
import { terminateTree } from '../process/tree-kill.js';

/** SIGKILLs a run's whole tree at once: its group, its descendants and escapees carrying its id. */
export async function killTreeNow(pid: number, runId: string): Promise<void> {
  await terminateTree(pid, {
    graceMs: 0,
    killSignal: 'SIGKILL',
    marker: { name: RUN_ID_VARIABLE, value: runId },
  }).catch(() => {});
}
