// `runyard cancel`: asks a run's owner to end it, and waits until it has.
import { TaskManager } from '../../tasks/task-manager.js';
import type { CliContext } from '../context.js';
import { logDirOf, openRunStore, storeLocation } from '../local-store.js';
import { onePositional, parseCommand, storeOptions } from '../parse.js';
import { exitCodes, printUsage, storeOptionsUsage } from '../usage.js';

export const cancelUsage = `Usage: runyard cancel [options] <id>

Cancels a queued or running run and waits until it has ended. The process that runs it ends
the whole process tree (SIGTERM, then SIGKILL after its grace). A run that already ended is
left as it is.

Options:
${storeOptionsUsage()}
  --json              Print the run record as JSON
  -h, --help          Show this help`;

export async function cancelCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, storeOptions);
  if (values.help) return printUsage(cancelUsage);
  const id = onePositional(positionals, 'run id');
  const location = storeLocation(values, context);
  const store = await openRunStore(location);
  const manager = new TaskManager({ store, logDir: logDirOf(location.home), pollMs: 100 });
  try {
    const run = await manager.cancel(id);
    if (values.json) process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
    else process.stdout.write(`${run.id} ${run.status}\n`);
    return exitCodes.ok;
  } finally {
    await manager.shutdown({ graceMs: 0 });
    await store.close();
  }
}
