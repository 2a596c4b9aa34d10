// Workflow: a long training run watched line by line, cancelled by a rule on its output when
// the loss diverges, restarted with a lower learning rate, and a report launched
// fire-and-forget at the end. Every run lands in one store.
//   npm run example:training
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runyard } from 'runyard';

const home = await mkdtemp(join(tmpdir(), 'runyard-example-'));
const script = (name) => join(import.meta.dirname, 'scripts', name);

const yard = await Runyard.open({ home, maintenance: false });
try {
  async function train(lr) {
    const handle = yard.execute(
      { command: process.execPath, args: [script('train.mjs'), '--lr', String(lr)], name: 'train' },
      { streaming: true },
    );
    for await (const line of handle.lines()) {
      console.log(`  [lr ${lr}] ${line.text}`);
      // The rule on the output: a diverged loss will not come back.
      if (line.text.endsWith('loss: nan')) await handle.cancel('loss diverged');
    }
    return handle.result;
  }

  const first = await train(0.1);
  console.log(`first try: ${first.status} (${first.error?.message})`);
  const second = await train(0.02);
  console.log(`second try: ${second.status}, ${second.output.lines} lines`);

  const report = await yard.execute(
    { command: process.execPath, args: [script('report.mjs'), '2'], name: 'report' },
    { wait: false },
  );
  const done = await yard.tasks.wait(report.id);
  console.log(`report ${done.status}`);

  const { runs } = await yard.store.list({});
  console.log('runs in the store:');
  for (const run of runs.reverse())
    console.log(`  ${run.pattern.padEnd(16)} ${run.name.padEnd(7)} ${run.status}`);
  if (
    first.status !== 'cancelled' ||
    second.status !== 'succeeded' ||
    done.status !== 'succeeded'
  ) {
    process.exitCode = 1;
  }
} finally {
  await yard.close();
  await rm(home, { recursive: true, force: true });
}
