// Workflow: a video batch. A periodic cleanup sweeps stale temp files while a concurrent batch
// of short encodes runs with a live progress display, the two long encodes are streamed line
// by line, and a notification is launched fire-and-forget at the end. Every run lands in one
// store.
//   npm run example:video
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followLogFile, Runyard, readLogFile } from 'runyard';

const home = await mkdtemp(join(tmpdir(), 'runyard-example-'));
const script = (name) => join(import.meta.dirname, 'scripts', name);
const encode = (name, frames) => ({
  command: process.execPath,
  args: [script('encode.mjs'), name, String(frames)],
  name: `encode ${name}`,
});

// The encoders' scratch folder: two leftovers of an earlier crash, an hour old, and the
// part file of an encode going on now, which the cleanup must leave alone.
const scratch = join(home, 'scratch');
const maxAgeMs = 60_000;
await mkdir(scratch);
const anHourAgo = new Date(Date.now() - 3_600_000);
for (const file of ['trailer.part', 'teaser.part']) {
  await writeFile(join(scratch, file), 'half an encode');
  await utimes(join(scratch, file), anHourAgo, anHourAgo);
}
await writeFile(join(scratch, 'live.part'), 'an encode going on');

const yard = await Runyard.open({ home, concurrency: 3, maintenance: false });
try {
  // 1. The periodic cleanup: a function task every 200 ms; each firing is a recorded run.
  const removed = [];
  const cleanup = yard.execute(
    {
      name: 'clean-scratch',
      fn: async () => {
        for (const file of await readdir(scratch)) {
          const path = join(scratch, file);
          if (Date.now() - (await stat(path)).mtimeMs > maxAgeMs) {
            await rm(path, { force: true });
            removed.push(file);
          }
        }
      },
    },
    { everyMs: 200 },
  );

  // 2. The batch: six short encodes, three at a time. execute() has no progress callback, so
  // the display follows each run's log file from the executor's start event to its end event.
  const clips = [
    ['intro', 100],
    ['interview', 250],
    ['b-roll', 150],
    ['credits', 100],
    ['drone', 200],
    ['outro', 120],
  ];
  const progress = new Map(clips.map(([name]) => [`encode ${name}`, 'queued']));
  const ended = new Set();
  const followers = [];
  const stopStart = yard.executor.on('start', ({ id, name }) => {
    if (!progress.has(name)) return;
    progress.set(name, '0%');
    followers.push(
      (async () => {
        const lines = followLogFile(join(yard.home, 'logs', `${id}.log`), {
          isFinished: () => ended.has(id),
          pollMs: 50,
        });
        for await (const line of lines) {
          const match = /^progress (\d+)%$/.exec(line.text);
          if (match) progress.set(name, `${match[1]}%`);
        }
      })(),
    );
  });
  const stopEnd = yard.executor.on('end', ({ result }) => ended.add(result.id));

  const live = process.stdout.isTTY;
  let shown = '';
  const show = () => {
    const text = [...progress].map(([name, p]) => `${name.slice(7)} ${p}`).join(' | ');
    if (text === shown) return;
    shown = text;
    if (live) process.stdout.write(`\r\x1b[K  ${text}`);
    else console.log(`  ${text}`);
  };
  console.log('batch of encodes, 3 at a time:');
  const display = setInterval(show, 100);
  let results;
  try {
    results = await yard.execute(
      clips.map(([name, frames]) => encode(name, frames)),
      { name: 'encodes' },
    );
    await Promise.all(followers);
  } finally {
    clearInterval(display);
    stopStart();
    stopEnd();
  }
  show();
  if (live) process.stdout.write('\n');
  for (const result of results) {
    console.log(
      `  ${result.name.padEnd(16)} ${result.status} in ${result.durationMs} ms: ${result.stdout.split('\n').at(-1)}`,
    );
  }

  // 3. The two long encodes, streamed: their lines are read as they come.
  console.log('long encodes, streamed:');
  const streamed = await Promise.all(
    [
      ['feature', 700],
      ['documentary', 600],
    ].map(async ([name, frames]) => {
      const handle = yard.execute(encode(name, frames), { streaming: true });
      for await (const line of handle.lines()) console.log(`  [${name}] ${line.text}`);
      return handle.result;
    }),
  );

  // 4. The notification, fire-and-forget: launched, then waited for only to show it here.
  const encoded = [...results, ...streamed].filter((result) => result.ok).length;
  const notice = await yard.execute(
    {
      command: process.execPath,
      args: [script('notify.mjs'), `${encoded} videos encoded`],
      name: 'notify',
    },
    { wait: false },
  );
  const notified = await yard.tasks.wait(notice.id);
  const noticeLines = await readLogFile(join(yard.home, 'logs', `${notice.id}.log`));
  console.log(`notification ${notified.status}: ${noticeLines.map((line) => line.text).join(' ')}`);

  cleanup.remove();
  const left = (await readdir(scratch)).sort();
  console.log(
    `cleanup: fired ${cleanup.runs} times, removed ${removed.sort().join(', ') || 'nothing'}, left ${left.join(', ')}`,
  );

  const { runs } = await yard.store.list({ limit: 1000 });
  const counts = new Map();
  for (const run of runs.reverse()) {
    const key = `${run.pattern.padEnd(16)} ${run.name.padEnd(18)} ${run.status}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  console.log('runs in the store:');
  for (const [key, count] of counts) console.log(`  ${key}${count > 1 ? ` ×${count}` : ''}`);

  if (
    !results.every((result) => result.ok) ||
    ![...progress.values()].every((p) => p === '100%') ||
    !streamed.every((result) => result.ok) ||
    notified.status !== 'succeeded' ||
    cleanup.runs < 1 ||
    left.join() !== 'live.part'
  ) {
    process.exitCode = 1;
  }
} finally {
  await yard.close();
  await rm(home, { recursive: true, force: true });
}
