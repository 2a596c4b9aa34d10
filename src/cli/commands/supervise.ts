import { parseArgs } from 'node:util';
import { TaskManager } from '../../patterns/fire-and-forget.js';
import { logDirOf, openLocalStore, resolveHome } from '../local-store.js';
import { storeOptions, usageErrors } from '../parse.js';
import { exitCodes } from '../usage.js';

export const superviseUsage = `Usage: runyard supervise --home <dir>

Internal: started by \`runyard launch\`. Reads a run id on stdin, runs that queued run to its
end, records the outcome, and exits. SIGTERM cancels the run gracefully.`;

export async function superviseCommand(argv: string[]): Promise<number> {
  const { values } = usageErrors(() =>
    parseArgs({ args: argv, allowPositionals: true, options: storeOptions }),
  );
  const id = (await readStdin()).trim();
  // `launch` died before it recorded the run: nothing to do.
  if (id === '') return exitCodes.failed;
  const home = resolveHome(values.home);
  const store = await openLocalStore(home);
  const manager = new TaskManager({ store, logDir: logDirOf(home), pollMs: 250 });
  const cancel = () => void manager.cancel(id, 'the supervisor was asked to stop').catch(() => {});
  process.on('SIGTERM', cancel);
  process.on('SIGINT', cancel);
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
