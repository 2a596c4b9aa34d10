import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import { isTerminalStatus, type OutputLine } from '../../core/types.js';
import { followLogFile } from '../../output/follow-file.js';
import { logDirOf, openLocalStore, resolveHome } from '../local-store.js';
import { storeOptions, usageErrors } from '../parse.js';
import { exitCodes } from '../usage.js';
import { onePositional, printUsage } from './runs.js';

export const logsUsage = `Usage: runyard logs [options] <id>

Prints a run's output from its log file: stdout lines to stdout, stderr lines to stderr,
runyard's own lines to stderr after \`runyard:\`.

Options:
  -f, --follow       Keep printing new lines until the run ends
  --from <seq>       Start at this line number (default 1)
  --home <dir>       Where runs are kept (default: RUNYARD_HOME or ./.runyard)
  --json             Print each line as a JSON object ({ seq, stream, text, time })
  -h, --help         Show this help`;

export async function logsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = usageErrors(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...storeOptions,
        follow: { type: 'boolean', short: 'f' },
        from: { type: 'string' },
      },
    }),
  );
  if (values.help) return printUsage(logsUsage);
  const id = onePositional(positionals, 'run id');
  const home = resolveHome(values.home);
  const store = await openLocalStore(home);
  try {
    const run = await store.get(id);
    if (!run) throw new RunyardError(ErrorCodes.NOT_FOUND, `No run with id \`${id}\``);
    const follow = values.follow === true;
    const lines = followLogFile(join(logDirOf(home), `${id}.log`), {
      from: Number(values.from ?? 1) || 1,
      isFinished: async () => {
        if (!follow) return true;
        const current = await store.get(id);
        return current === undefined || isTerminalStatus(current.status);
      },
    });
    for await (const line of lines) print(line, values.json === true);
    return exitCodes.ok;
  } finally {
    await store.close();
  }
}

function print(line: OutputLine, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify(line)}\n`);
  else if (line.stream === 'stdout') process.stdout.write(`${line.text}\n`);
  else if (line.stream === 'stderr') process.stderr.write(`${line.text}\n`);
  else process.stderr.write(`runyard: ${line.text}\n`);
}
