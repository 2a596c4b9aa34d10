/*
 * The hidden `supervise` command that `launch` starts detached: it runs one recorded run
 * under a `TaskManager`.
 */
import { TaskManager } from '../../tasks/task-manager.js';
import type { CliContext } from '../context.js';
import { stopSignals } from '../interrupt.js';
import { logDirOf, openRunStore, storeLocation } from '../local-store.js';
import { parseCommand, storeOptions } from '../parse.js';
import { exitCodes } from '../usage.js';

export const superviseUsage = `Usage: runyard supervise --home <dir> --store <url>

Internal: started by \`runyard launch\`. Reads a run id on stdin, runs that queued run to its
end, records the outcome, and exits. SIGTERM (or SIGINT, SIGHUP, SIGQUIT, SIGUSR2) cancels the
run gracefully.`;

export async function superviseCommand(argv: string[], context: CliContext): Promise<number> {
  const { values } = parseCommand(argv, storeOptions);
  const id = (await readStdin()).trim();
  // `launch` failed before it recorded the run: nothing to do.
  if (id === '') return exitCodes.failed;
  const location = storeLocation(values, context);
  const store = await openRunStore(location);
  const manager = new TaskManager({ store, logDir: logDirOf(location.home), pollMs: 250 });
  const cancel = () => void manager.cancel(id, 'the supervisor was asked to stop').catch(() => {});
  for (const signal of stopSignals) process.on(signal, cancel);
  try {
    await manager.adopt(id);
    const record = await manager.wait(id);
    return record.status === 'succeeded' ? exitCodes.ok : exitCodes.failed;
  } finally {
    await manager.shutdown({ graceMs: 0 });
    await store.close();
  }
}

async function readStdin(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text;
}
