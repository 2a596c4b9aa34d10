/*
 * `runyard launch`: records a run and hands it to a detached supervisor, then prints its id.
 */
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ProcessTask } from '../../core/types.js';
import { invalid } from '../../core/validate.js';
import { processStartTime } from '../../process/owner.js';
import { normalizeTask } from '../../run/task-options.js';
import {
  type LaunchOptions,
  queuedRunRecord,
  validateLaunchOptions,
} from '../../tasks/launch-record.js';
import type { CliContext } from '../context.js';
import { parseDuration } from '../duration.js';
import { openRunStore, storeLocation } from '../local-store.js';
import { parseCommand, parseCount, parsePairs, storeOptions } from '../parse.js';
import { exitCodes, printUsage, storeOptionsUsage, UsageError } from '../usage.js';

export const launchUsage = `Usage: runyard launch [options] -- <command> [args...]

Records a run in the local store, starts it in the background and prints its id at once.
The run goes on after this command returns; follow it with \`runyard logs -f <id>\`.

Options:
  --name <name>          The run's name (default: the command's basename)
  --label <key=value>    A label (repeatable)
  --retries <n>          Total tries when it fails, the first included (default 1)
  --timeout <duration>   End each try after this long (30s, 2m, 1h; a unit is required)
  --cwd <dir>            Working directory of the program
  --shell                Run the command through the system shell
${storeOptionsUsage(25)}
  --json                 Print the run record as JSON
  -h, --help             Show this help`;

export async function launchCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...storeOptions,
    name: { type: 'string' },
    label: { type: 'string', multiple: true },
    retries: { type: 'string' },
    timeout: { type: 'string' },
    cwd: { type: 'string' },
    shell: { type: 'boolean' },
  });
  if (values.help) return printUsage(launchUsage);
  // Everything is checked before the supervisor exists: a bad option leaves nothing behind.
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
  const options: LaunchOptions = {
    ...(values.name !== undefined && { name: values.name }),
    ...(values.label && { labels: parsePairs('--label', values.label) }),
    ...(attempts !== undefined && { retries: { attempts } }),
  };
  validateLaunchOptions(options);
  const location = storeLocation(values, context);
  if (location.url === 'memory:') {
    throw invalid(
      '--store',
      'a store other processes can open, such as sqlite:<path>',
      location.url,
    );
  }
  const store = await openRunStore(location);
  try {
    // The run outlives this command: a detached supervisor owns it and records its end.
    const supervisor = spawn(
      process.execPath,
      [
        join(import.meta.dirname, '..', 'main.js'),
        'supervise',
        '--home',
        location.home,
        '--store',
        location.url,
      ],
      { detached: true, stdio: ['pipe', 'ignore', 'ignore'] },
    );
    // Until the id is written, ending stdin empty makes the supervisor exit with nothing done.
    let handedOver = false;
    try {
      const pid = supervisor.pid;
      if (pid === undefined) throw new Error('Could not start the supervisor process');
      const record = queuedRunRecord(task as ProcessTask, options, {
        pid,
        host: hostname(),
        startTime: processStartTime(pid) ?? 0,
      });
      await store.create(record);
      // The supervisor waits for its run's id on stdin: only a recorded run is handed over.
      supervisor.stdin!.end(`${record.id}\n`);
      handedOver = true;
      process.stdout.write(values.json ? `${JSON.stringify(record, null, 2)}\n` : `${record.id}\n`);
      return exitCodes.ok;
    } finally {
      if (!handedOver) supervisor.stdin!.end();
      supervisor.unref();
    }
  } finally {
    await store.close();
  }
}
