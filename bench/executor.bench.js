// Executor overhead and process throughput, without a store.
//
// Part 1, overhead: 10,000 no-op function tasks (`{ fn: () => undefined }`) at concurrency 2
// and 8, µs per task from the first call to the last result:
// - bare semaphore: a counter and a waiting list written here, the least a limiter can do;
// - p-limit 7: `limit(fn)` for each task, then Promise.all: the baseline of the ratios;
// - p-queue 9: `queue.add(fn)` for each task, then Promise.all;
// - runAll(): `executor.runAll(tasks)` with `resources: false`, and with the default monitor;
// - submit() loop: `executor.submit(task)` for each task, then Promise.all (`resources: false`).
// Each limiter and executor is made once per concurrency and reused, as an application would.
//
// Part 2, processes: 500 `/bin/true` at concurrency 2 and 8:
// - raw spawn: child_process.spawn with `detached: true` (as runyard spawns), stdout and stderr
//   piped and read to the end, waiting for 'close', under the same bare semaphore: the baseline;
// - runAll(): `executor.runAll(tasks)` with `{ command: '/bin/true' }` and `resources: false`;
// - runAll(), default monitor (context): the same with the default CPU and memory admission.
//
// After a warm-up the contenders take turns in rounds, the order rotating every round. Figures
// are medians over the rounds; a ratio is the median over rounds of the contender's time over
// the baseline's time in the same round (higher is slower), which cancels most of the noise
// of other work on the machine, since both ran within the same second or so.
import { spawn } from 'node:child_process';
import pLimit from 'p-limit';
import PQueue from 'p-queue';
import { Executor } from '../dist/index.js';
import { fmt, median, msSince, now, printTable, yesNo } from './lib.js';

/** A bare semaphore: `limit(fn)` calls `fn` once fewer than `concurrency` calls are pending. */
function semaphore(concurrency) {
  let active = 0;
  const waiting = [];
  let head = 0;
  const release = () => {
    if (head < waiting.length) {
      const next = waiting[head];
      waiting[head++] = undefined;
      if (head === waiting.length) {
        waiting.length = 0;
        head = 0;
      }
      next();
    } else {
      active--;
    }
  };
  return (fn) =>
    new Promise((resolve, reject) => {
      const run = () => {
        let value;
        try {
          value = fn();
        } catch (error) {
          release();
          reject(error);
          return;
        }
        Promise.resolve(value).then(
          (result) => {
            release();
            resolve(result);
          },
          (error) => {
            release();
            reject(error);
          },
        );
      };
      if (active < concurrency) {
        active++;
        run();
      } else {
        waiting.push(run);
      }
    });
}

/** Calls `call(i)` for every i below `count` and waits for all of them. */
function all(count, call) {
  const promises = new Array(count);
  for (let i = 0; i < count; i++) promises[i] = call(i);
  return Promise.all(promises);
}

/**
 * Warms every contender up, then runs them in `count` rounds, rotating the order; returns each
 * name's ms per round, in round order.
 */
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

/** Median over rounds of `ms[name][r] / ms[base][r]`: the two ran in the same round. */
const pairedRatio = (ms, name, base) => median(ms[name].map((value, r) => value / ms[base][r]));

const times = (value) => `${fmt(value, 2)}×`;

const rows = [];
const notes = [];
const executors = [];

// ---- Part 1: overhead on no-op function tasks ----

const noopCount = 10_000;
const noop = () => undefined;
const noopTasks = Array.from({ length: noopCount }, () => ({ fn: noop }));

for (const concurrency of [2, 8]) {
  const bare = semaphore(concurrency);
  const limit = pLimit(concurrency);
  const queue = new PQueue({ concurrency });
  const plain = new Executor({ concurrency, resources: false });
  const monitored = new Executor({ concurrency });
  executors.push(plain, monitored);

  const checkAll = (results) => {
    if (results.length !== noopCount || results.some((result) => !result.ok)) {
      throw new Error('an Executor task did not succeed');
    }
  };
  const contenders = {
    'bare semaphore': () => all(noopCount, () => bare(noop)),
    'p-limit': () => all(noopCount, () => limit(noop)),
    'p-queue': () => all(noopCount, () => queue.add(noop)),
    'runAll()': async () => checkAll(await plain.runAll(noopTasks)),
    'runAll(), default monitor': async () => checkAll(await monitored.runAll(noopTasks)),
    'submit() loop': async () => checkAll(await all(noopCount, (i) => plain.submit(noopTasks[i]))),
  };
  const ms = await rounds(contenders, {
    warmup: async (name) => {
      for (let i = 0; i < 5; i++) await contenders[name]();
    },
    count: 15,
  });
  const usPerTask = (name) => (median(ms[name]) * 1000) / noopCount;
  const base = usPerTask('p-limit');
  const where = `10,000 no-op fns, concurrency ${concurrency}`;
  for (const name of Object.keys(contenders)) {
    const isExecutor = name.startsWith('runAll') || name.startsWith('submit');
    const r = pairedRatio(ms, name, 'p-limit');
    rows.push({
      name: `${where}: ${name}`,
      figure: `${fmt(usPerTask(name), 2)} µs/task`,
      baseline: name === 'p-limit' ? undefined : `p-limit ${fmt(base, 2)} µs`,
      ratio: times(r),
      goal: isExecutor ? '≤ 2.00×' : undefined,
      met: isExecutor ? yesNo(r <= 2) : undefined,
    });
  }
  const spread = Object.keys(contenders)
    .map((name) => {
      const us = ms[name].map((value) => (value * 1000) / noopCount);
      return `${name} ${fmt(Math.min(...us), 2)}–${fmt(Math.max(...us), 2)}`;
    })
    .join(', ');
  notes.push(`${where}: per-round µs/task ${spread}`);
  const vsBare = ['p-limit', 'runAll()', 'submit() loop']
    .map((name) => `${name} ${times(pairedRatio(ms, name, 'bare semaphore'))}`)
    .join(', ');
  notes.push(`${where}: time against the bare semaphore: ${vsBare}`);
}

// ---- Part 2: /bin/true through the Executor against a raw spawn loop ----

const spawnCount = 500;
const trueTasks = Array.from({ length: spawnCount }, () => ({ command: '/bin/true' }));

function rawTrue() {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out = [];
    child.stdout.on('data', (chunk) => out.push(chunk));
    child.stderr.on('data', (chunk) => out.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`/bin/true exited with ${code}`));
    });
  });
}

for (const concurrency of [2, 8]) {
  const bare = semaphore(concurrency);
  const plain = new Executor({ concurrency, resources: false });
  const monitored = new Executor({ concurrency });
  executors.push(plain, monitored);
  let refused = 0;
  const failures = (results) => {
    if (results.length !== spawnCount) throw new Error('runAll lost results');
    return results.filter((result) => !result.ok);
  };
  const contenders = {
    'raw spawn': () => all(spawnCount, () => bare(rawTrue)),
    'runAll()': async () => {
      const [bad] = failures(await plain.runAll(trueTasks));
      if (bad) throw new Error(`runAll: ${bad.status}: ${bad.error?.message}`);
    },
    'runAll(), default monitor': async () => {
      // Admission may refuse a task for CPU; that is counted, not an error of the benchmark.
      refused += failures(await monitored.runAll(trueTasks)).length;
    },
  };
  const ms = await rounds(contenders, {
    // 100 tasks each: a whole batch would cost as much as a round.
    warmup: (name) =>
      name === 'raw spawn'
        ? all(100, () => bare(rawTrue))
        : (name === 'runAll()' ? plain : monitored).runAll(trueTasks.slice(0, 100)),
    count: 5,
  });
  const rate = (name) => (spawnCount * 1000) / median(ms[name]);
  const raw = rate('raw spawn');
  const where = `500 /bin/true, concurrency ${concurrency}`;
  rows.push({ name: `${where}: raw spawn`, figure: `${fmt(raw)}/s`, ratio: '1.00×' });
  for (const name of ['runAll()', 'runAll(), default monitor']) {
    const isGoal = name === 'runAll()';
    const r = pairedRatio(ms, name, 'raw spawn');
    rows.push({
      name: `${where}: ${name}`,
      figure: `${fmt(rate(name))}/s`,
      baseline: `raw ${fmt(raw)}/s`,
      ratio: times(r),
      goal: isGoal ? '≤ 1.10×' : undefined,
      met: isGoal ? yesNo(r <= 1.1) : undefined,
    });
  }
  const spread = Object.keys(contenders)
    .map((name) => {
      const rates = ms[name].map((value) => (spawnCount * 1000) / value);
      return `${name} ${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}/s`;
    })
    .join(', ');
  notes.push(`${where}: per-round ${spread}`);
  if (refused > 0) {
    notes.push(`${where}: the default monitor refused ${refused} task(s) for CPU or memory`);
  }
}

await Promise.all(executors.map((executor) => executor.close()));

printTable(
  'Executor overhead and throughput (ratio: time against the baseline, lower is better)',
  rows,
);
console.log('');
for (const note of notes) console.log(`- ${note}`);
