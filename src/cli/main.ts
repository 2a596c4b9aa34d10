#!/usr/bin/env node
import { isRunyardError } from '../core/errors.js';
import { adviseCommand, adviseUsage } from './commands/advise.js';
import { batchCommand, batchUsage } from './commands/batch.js';
import { launchCommand, launchUsage } from './commands/launch.js';
import { logsCommand, logsUsage } from './commands/logs.js';
import { pruneCommand, pruneUsage } from './commands/prune.js';
import { runCommand, runUsage } from './commands/run.js';
import {
  cancelCommand,
  cancelUsage,
  lsCommand,
  lsUsage,
  showCommand,
  showUsage,
} from './commands/runs.js';
import { schedulesCommand, schedulesUsage } from './commands/schedules.js';
import { superviseCommand, superviseUsage } from './commands/supervise.js';
import { exitCodes, mainUsage, UsageError } from './usage.js';

const commands: Record<string, { handler: (argv: string[]) => Promise<number>; usage: string }> = {
  run: { handler: runCommand, usage: runUsage },
  launch: { handler: launchCommand, usage: launchUsage },
  ls: { handler: lsCommand, usage: lsUsage },
  show: { handler: showCommand, usage: showUsage },
  logs: { handler: logsCommand, usage: logsUsage },
  cancel: { handler: cancelCommand, usage: cancelUsage },
  batch: { handler: batchCommand, usage: batchUsage },
  prune: { handler: pruneCommand, usage: pruneUsage },
  schedules: { handler: schedulesCommand, usage: schedulesUsage },
  supervise: { handler: superviseCommand, usage: superviseUsage },
  advise: { handler: adviseCommand, usage: adviseUsage },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${mainUsage}\n`);
    return name === undefined ? exitCodes.usage : exitCodes.ok;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`runyard: unknown command \`${name}\`\n\n${mainUsage}\n`);
    return exitCodes.usage;
  }
  try {
    return await command.handler(rest);
  } catch (error) {
    if (error instanceof UsageError || isRunyardError(error, 'ERR_INVALID')) {
      process.stderr.write(`runyard ${name}: ${(error as Error).message}\n\n${command.usage}\n`);
      return exitCodes.usage;
    }
    process.stderr.write(
      `runyard ${name}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    return isRunyardError(error, 'ERR_NOT_FOUND') ? exitCodes.notFoundRun : exitCodes.failed;
  }
}

// stdout may close early (`runyard run -- cmd | head`): that ends our output, not the run.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

process.exitCode = await main(process.argv.slice(2));
