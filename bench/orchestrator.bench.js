// Runyard orchestrator overhead and pattern throughput.
//
// Part 1, execute() against calling the pattern directly. "Directly" is `yard.run()`: the same
// recorded simple path that `execute()` picks for a waited task (a run record written to the
// yard's store), so the ratio isolates what `execute()` adds: validation and pattern selection.
// The bare `run()` of the package (no store, nothing recorded) is shown for context only.
// - /bin/true: 50 runs one after another per round (24 rounds), for a `memory:` store and for a sqlite
//   store in a temporary home; contenders `yard.execute({ command: '/bin/true' })`,
//   `yard.run('/bin/true')` (the baseline) and bare `run('/bin/true')`;
// - no-op functions: 500 runs one after another per round (40 rounds), `yard.execute({ fn })`,
//   `yard.run({ fn })` (the baseline) and bare `run({ fn })`, for both stores.
// Goal: execute() within 1.02× of yard.run() in time.
//
// Part 2, pattern combinations: a batch of 200 short tasks through one yard (`memory:` store,
// concurrency 2, no resource admission), 6 rounds:
// - simple loop: `await yard.execute({ command: '/bin/true' })` 200 times, one after another
//   (the baseline of the ratios);
// - concurrent: `yard.execute(tasks)` with the 200 tasks, 2 at a time;
// - fire-and-forget: `yard.execute(task, { wait: false })` 200 times, then
//   `yard.tasks.wait(id)` for every record (the task manager runs 2 at a time);
// - pooled: `yard.execute({ pool, payload })` on a `yard.pools.node()` pool of size 2 whose
//   handler (bench/fixtures/noop-handler.mjs) returns its payload; 2 callers (2 at a time) and
//   all 200 in flight at once (the pool queues them).
// The pooled rows run a Node handler in warm workers, not /bin/true: they show what a pool
// saves by not starting a process per task.
//
// After a warm-up the contenders take turns in rounds, the order rotating every round. A
// figure is the median over the rounds; a ratio is the median over rounds of the contender's
// time over the baseline's time in the same round (higher is slower).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runyard, run } from '../dist/index.js';
import { fmt, median, msSince, now, printTable, yesNo } from './lib.js';

const benchDir = import.meta.dirname;

async function rounds(contenders, { warmup, count }) {
  const names = Object.keys(contenders);
  for (const name of names) await warmup(name);
  const ms = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < count; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length];
      const t = now();
      await contenders[name]();
      ms[name].push(msSince(t));
    }
  }
  return ms;
}

const pairedRatio = (ms, name, base) => median(ms[name].map((value, r) => value / ms[base][r]));
const times = (value) => `${fmt(value, 3)}×`;

function check(result, what) {
  if (!result?.ok) throw new Error(`${what}: ${result?.status}: ${result?.error?.message}`);
}

/** Runs `call()` `count` times, one after another, checking each result. */
async function sequential(count, call, what) {
  for (let i = 0; i < count; i++) check(await call(), what);
}

const home = await mkdtemp(join(tmpdir(), 'runyard-bench-orchestrator-'));
const yards = [];
const open = async (name, store) => {
  const yard = await Runyard.open({
    home: join(home, name),
    store,
    concurrency: 2,
    resources: false,
    maintenance: false,
  });
  yards.push(yard);
  return yard;
};

const rows1 = [];
const rows2 = [];
const notes = [];
try {
  const memYard = await open('memory', 'memory:');
  const sqlYard = await open('sqlite', `sqlite:${join(home, 'sqlite', 'runyard.db')}`);
  const stores = { memory: memYard, sqlite: sqlYard };

  // ---- Part 1a: /bin/true ----
  const trueCount = 50;
  const trueTask = { command: '/bin/true' };
  const trueContenders = {
    'bare run()': () => sequential(trueCount, () => run('/bin/true'), 'run'),
  };
  for (const [label, yard] of Object.entries(stores)) {
    trueContenders[`${label}: execute()`] = () =>
      sequential(trueCount, () => yard.execute(trueTask), 'execute');
    trueContenders[`${label}: yard.run()`] = () =>
      sequential(trueCount, () => yard.run('/bin/true'), 'yard.run');
  }
  const trueMs = await rounds(trueContenders, {
    warmup: (name) => trueContenders[name](),
    count: 24,
  });

  // ---- Part 1b: no-op functions ----
  const fnCount = 500;
  const noop = () => undefined;
  const fnTask = { fn: noop };
  const fnContenders = { 'bare run()': () => sequential(fnCount, () => run(fnTask), 'run') };
  for (const [label, yard] of Object.entries(stores)) {
    fnContenders[`${label}: execute()`] = () =>
      sequential(fnCount, () => yard.execute(fnTask), 'execute');
    fnContenders[`${label}: yard.run()`] = () =>
      sequential(fnCount, () => yard.run(fnTask), 'yard.run');
  }
  const fnMs = await rounds(fnContenders, {
    warmup: async (name) => {
      for (let i = 0; i < 4; i++) await fnContenders[name]();
    },
    count: 40,
  });

  for (const [kind, ms, count] of [
    [`${trueCount} × /bin/true`, trueMs, trueCount],
    [`${fnCount} × no-op fn`, fnMs, fnCount],
  ]) {
    const rate = (name) => (count * 1000) / median(ms[name]);
    for (const label of Object.keys(stores)) {
      const exec = `${label}: execute()`;
      const direct = `${label}: yard.run()`;
      const r = pairedRatio(ms, exec, direct);
      rows1.push({
        name: `${kind}, ${label}: yard.run()`,
        figure: `${fmt(rate(direct))} runs/s`,
        ratio: '1.000×',
      });
      rows1.push({
        name: `${kind}, ${label}: execute()`,
        figure: `${fmt(rate(exec))} runs/s`,
        baseline: `yard.run() ${fmt(rate(direct))}/s`,
        ratio: times(r),
        goal: '≤ 1.02×',
        met: yesNo(r <= 1.02),
      });
    }
    const bare = rate('bare run()');
    rows1.push({
      name: `${kind}: bare run(), no store (context)`,
      figure: `${fmt(bare)} runs/s`,
      baseline: `memory yard.run() ${fmt(rate('memory: yard.run()'))}/s`,
      ratio: times(pairedRatio(ms, 'bare run()', 'memory: yard.run()')),
    });
    const spread = Object.keys(ms)
      .map((name) => {
        const rates = ms[name].map((value) => (count * 1000) / value);
        return `${name} ${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}`;
      })
      .join(', ');
    notes.push(`${kind}: per-round runs/s ${spread}`);
  }

  // ---- Part 2: pattern combinations, 200 short tasks ----
  const batch = 200;
  const comboYard = await open('combinations', 'memory:');
  comboYard.pools.node('noop', {
    handler: './fixtures/noop-handler.mjs#noop',
    cwd: benchDir,
    size: 2,
  });
  const tasks = Array.from({ length: batch }, () => ({ command: '/bin/true' }));
  const poolTask = (i) => ({ pool: 'noop', payload: i });
  const checkPooled = (value, i) => {
    if (value !== i) throw new Error(`pooled task ${i} returned ${JSON.stringify(value)}`);
  };
  const combos = {
    'simple loop (/bin/true)': () => sequential(batch, () => comboYard.execute(tasks[0]), 'simple'),
    'concurrent, 2 at a time (/bin/true)': async () => {
      const results = await comboYard.execute(tasks);
      if (results.length !== batch) throw new Error('concurrent lost results');
      for (const result of results) check(result, 'concurrent');
    },
    'fire-and-forget + tasks.wait() (/bin/true)': async () => {
      const records = [];
      for (const task of tasks) records.push(await comboYard.execute(task, { wait: false }));
      const done = await Promise.all(records.map((record) => comboYard.tasks.wait(record.id)));
      for (const record of done) {
        if (record.status !== 'succeeded') throw new Error(`fire-and-forget: ${record.status}`);
      }
    },
    'pooled, node no-op, 2 callers': async () => {
      let next = 0;
      const caller = async () => {
        while (next < batch) {
          const i = next++;
          checkPooled(await comboYard.execute(poolTask(i)), i);
        }
      };
      await Promise.all([caller(), caller()]);
    },
    'pooled, node no-op, 200 in flight': async () => {
      const values = await Promise.all(
        Array.from({ length: batch }, (_, i) => comboYard.execute(poolTask(i))),
      );
      values.forEach(checkPooled);
    },
  };
  const comboMs = await rounds(combos, { warmup: (name) => combos[name](), count: 6 });
  const base = 'simple loop (/bin/true)';
  const tasksPerS = (name) => (batch * 1000) / median(comboMs[name]);
  for (const name of Object.keys(combos)) {
    rows2.push({
      name: `200 tasks: ${name}`,
      figure: `${fmt(tasksPerS(name))} tasks/s`,
      baseline: name === base ? undefined : `simple loop ${fmt(tasksPerS(base))}/s`,
      ratio: times(pairedRatio(comboMs, name, base)),
    });
  }
  const spread = Object.keys(combos)
    .map((name) => {
      const rates = comboMs[name].map((value) => (batch * 1000) / value);
      return `${name} ${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}`;
    })
    .join(', ');
  notes.push(`200 tasks: per-round tasks/s ${spread}`);
} finally {
  const closed = await Promise.allSettled(yards.map((yard) => yard.close()));
  await rm(home, { recursive: true, force: true });
  for (const outcome of closed) {
    if (outcome.status === 'rejected') {
      console.error(`closing a yard failed: ${outcome.reason}`);
      process.exitCode = 1;
    }
  }
}

printTable(
  'execute() against yard.run(), the same recorded simple path (ratio: time, lower is better)',
  rows1,
);
printTable(
  'Pattern combinations, 200 short tasks, concurrency 2 (ratio: time against the simple loop, lower is faster)',
  rows2,
);
console.log('');
for (const note of notes) console.log(`- ${note}`);
