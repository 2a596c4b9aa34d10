/*
 * `runyard logs`: prints a run's output from its log file, and follows it with `-f`.
 */
import { join } from 'node:path';
import { ErrorCodes, RunyardError } from '../../core/errors.js';
import { isTerminalStatus, type OutputLine } from '../../core/types.js';
import { followLogFile } from '../../output/follow-file.js';
import { currentOwner, ownerState } from '../../process/owner.js';
import { recoverRuns } from '../../tasks/recovery.js';
import type { CliContext } from '../context.js';
import { logDirOf, openRunStore, storeLocation } from '../local-store.js';
import { onePositional, parseCommand, parseCount, storeOptions } from '../parse.js';
import { exitCodes, printUsage, storeOptionsUsage } from '../usage.js';

export const logsUsage = `Usage: runyard logs [options] <id>

Prints a run's output from its log file: stdout lines to stdout, stderr lines to stderr,
runyard's own lines to stderr after \`runyard:\`.

Options:
  -f, --follow        Keep printing new lines until the run ends (or the process that owns
                      it dies: the run is then marked interrupted)
  --from <seq>        Start at this line number, a positive integer (default 1)
${storeOptionsUsage()}
  --json              Print each line as a JSON object ({ seq, stream, text, time })
  -h, --help          Show this help`;

export async function logsCommand(argv: string[], context: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    ...storeOptions,
    follow: { type: 'boolean', short: 'f' },
    from: { type: 'string' },
  });
  if (values.help) return printUsage(logsUsage);
  const id = onePositional(positionals, 'run id');
  const from = parseCount('--from', values.from) ?? 1;
  const location = storeLocation(values, context);
  const store = await openRunStore(location);
  try {
    const run = await store.get(id);
    if (!run) throw new RunyardError(ErrorCodes.NOT_FOUND, `No run with id \`${id}\``);
    const follow = values.follow === true;
    const self = currentOwner();
    const lines = followLogFile(join(logDirOf(location.home), `${id}.log`), {
      from,
      isFinished: async () => {
        if (!follow) return true;
        const current = await store.get(id);
        if (current === undefined || isTerminalStatus(current.status)) return true;
        // Its owner died while we followed: nobody will write more, or record the end.
        if (ownerState(current.owner, self) !== 'dead') return false;
        await recoverRuns(store, self, { only: current });
        return true;
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
