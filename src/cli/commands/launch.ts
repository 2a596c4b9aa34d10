import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { ProcessTask } from '../../core/types.js';
import { queuedRunRecord } from '../../patterns/launch-record.js';
import { normalizeTask } from '../../patterns/simple.js';
import { processStartTime } from '../../process/owner.js';
import { parseDuration } from '../duration.js';
import { openLocalStore, resolveHome } from '../local-store.js';
import { parseCount, parsePairs, storeOptions, usageErrors } from '../parse.js';
import { exitCodes, UsageError } from '../usage.js';

export const launchUsage = `Usage: runyard launch [options] -- <command> [args...]

Records a run in the local store, starts it in the background and prints its id at once.
The run goes on after this command returns; follow it with \`runyard logs -f <id>\`.

Options:
  --name <name>          The run's name (default: the command's basename)
  --label <key=value>    A label (repeatable)
  --retries <n>          Total tries when it fails, the first included (default 1)
  --timeout <duration>   End each try after this long (30s, 2m, 1h)
  --cwd <dir>            Working directory of the program
  --shell                Run the command through the system shell
  --home <dir>           Where runs are kept (default: RUNYARD_HOME or ./.runyard)
  --json                 Print the run record as JSON
  -h, --help             Show this help`;

export async function launchCommand(argv: string[]): Promise<number> {
  const { values, positionals } = usageErrors(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...storeOptions,
        name: { type: 'string' },
        label: { type: 'string', multiple: true },
        retries: { type: 'string' },
        timeout: { type: 'string' },
        cwd: { type: 'string' },
        shell: { type: 'boolean' },
      },
    }),
  );
  if (values.help) {
    process.stdout.write(`${launchUsage}\n`);
    return exitCodes.ok;
  }
  const [command, ...args] = positionals;
  if (command === undefined) throw new UsageError('Missing the command to launch, after `--`');
  const attempts = parseCount('--retries', values.retries);
  const spec: ProcessTask = {
    command,
    args,
    ...(values.cwd !== undefined && { cwd: values.cwd }),
    ...(values.shell && { shell: true }),
    ...(values.timeout !== undefined && { timeoutMs: parseDuration('--timeout', values.timeout) }),
  };
  const [task] = normalizeTask(spec, undefined, undefined);
  const home = resolveHome(values.home);
  const store = await openLocalStore(home);
  try {
    // The run outlives this command: a detached supervisor owns it and records its end.
    const supervisor = spawn(
      process.execPath,
      [join(import.meta.dirname, '..', 'main.js'), 'supervise', '--home', home, '--'],
      { detached: true, stdio: ['pipe', 'ignore', 'ignore'] },
    );
    const pid = supervisor.pid!;
    const record = queuedRunRecord(
      task as ProcessTask,
      {
        ...(values.name !== undefined && { name: values.name }),
        ...(values.label && { labels: parsePairs('--label', values.label) }),
        ...(attempts !== undefined && { retries: { attempts } }),
      },
      { pid, host: hostname(), startTime: processStartTime(pid) ?? 0 },
    );
    await store.create(record);
    // The supervisor waits for its run's id on stdin: only a recorded run is handed over.
    supervisor.stdin!.end(`${record.id}\n`);
    supervisor.unref();
    process.stdout.write(values.json ? `${JSON.stringify(record, null, 2)}\n` : `${record.id}\n`);
    return exitCodes.ok;
  } finally {
    await store.close();
  }
}
