// ThreadPool throughput: tasks a second through a pool of 2 worker threads, for a tiny task
// (return payload + 1) and a ~1 ms CPU task (a busy loop on the clock).
//
// - ThreadPool: runyard's pool with its defaults (2 threads).
// - piscina: piscina 5 used directly with its defaults (2 threads, one task per thread at a
//   time): the baseline.
// - tinypool: tinypool 2 used directly with its defaults (2 threads).
// - piscina, 8 per thread (context): piscina with `concurrentTasksPerWorker: 8`, which
//   ThreadPool builds on; the gap to it is what ThreadPool's own work costs.
//
// Each contender is fed by a closed loop that keeps 256 calls outstanding for a fixed time,
// then waits for the last ones; a figure is completed tasks / elapsed time. Contenders take
// turns in rounds whose order rotates, so noise from the rest of the machine spreads over all
// of them. Goals: ThreadPool ≥ 2× piscina's defaults on tiny tasks, ≥ 0.95× on 1 ms tasks.
// Then, for context, the round trip of one tiny task at a time (no batching can help there).
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import Tinypool from 'tinypool';
import { ThreadPool } from '../dist/index.js';
import { fmt, median, percentile, printTable, ratio, yesNo } from './lib.js';

const taskFile = (name) =>
  fileURLToPath(new URL(`../test/fixtures/thread-tasks/${name}`, import.meta.url));
const threads = 2;
const outstanding = 256;

const workloads = [
  { label: 'tiny task', file: taskFile('add-one.mjs'), roundMs: 1000, rounds: 8, goal: 2 },
  { label: '1 ms task', file: taskFile('busy-1ms.mjs'), roundMs: 1000, rounds: 6, goal: 0.95 },
];

const makers = {
  ThreadPool: (filename) => {
    const pool = new ThreadPool({ filename, minThreads: threads, maxThreads: threads });
    return { run: (n) => pool.run(n), close: () => pool.close() };
  },
  piscina: (filename) => {
    const pool = new Piscina({ filename, minThreads: threads, maxThreads: threads });
    return { run: (n) => pool.run(n), close: () => pool.close() };
  },
  tinypool: (filename) => {
    const pool = new Tinypool({ filename, minThreads: threads, maxThreads: threads });
    return { run: (n) => pool.run(n), close: () => pool.destroy() };
  },
  'piscina, 8 per thread': (filename) => {
    const pool = new Piscina({
      filename,
      minThreads: threads,
      maxThreads: threads,
      concurrentTasksPerWorker: 8,
    });
    return { run: (n) => pool.run(n), close: () => pool.close() };
  },
};
const names = Object.keys(makers);

/** Keeps `outstanding` calls going for `ms`, then waits for them; returns tasks and time. */
function drive(pool, ms) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const deadline = started + ms;
    let inFlight = 0;
    let done = 0;
    let n = 0;
    const next = () => {
      inFlight++;
      const sent = n++;
      pool.run(sent).then((value) => {
        if (value !== sent + 1) throw new Error(`wrong result ${value} for ${sent}`);
        inFlight--;
        done++;
        if (performance.now() < deadline) next();
        else if (inFlight === 0) resolve({ tasks: done, ms: performance.now() - started });
      }, reject);
    };
    for (let i = 0; i < outstanding; i++) next();
  });
}

const perSecond = (value) => fmt(value, value < 100 ? 1 : 0);

const rows = [];
const notes = [];
for (const workload of workloads) {
  const pools = Object.fromEntries(names.map((name) => [name, makers[name](workload.file)]));
  // Warm-up: threads started, task modules loaded, code optimised.
  for (const name of names) await drive(pools[name], 300);
  const totals = Object.fromEntries(names.map((name) => [name, { tasks: 0, ms: 0, rates: [] }]));
  for (let round = 0; round < workload.rounds; round++) {
    const order = names.map((_, i) => names[(i + round) % names.length]);
    for (const name of order) {
      const { tasks, ms } = await drive(pools[name], workload.roundMs);
      totals[name].tasks += tasks;
      totals[name].ms += ms;
      totals[name].rates.push((tasks * 1000) / ms);
    }
  }
  for (const name of names) await pools[name].close();

  const rate = (name) => (totals[name].tasks * 1000) / totals[name].ms;
  const base = rate('piscina');
  const mine = rate('ThreadPool');
  const where = `${workload.label}, ${threads} threads`;
  rows.push(
    { name: `${where}: piscina defaults`, figure: `${perSecond(base)}/s`, ratio: '1.00×' },
    {
      name: `${where}: tinypool defaults`,
      figure: `${perSecond(rate('tinypool'))}/s`,
      baseline: `piscina ${perSecond(base)}/s`,
      ratio: ratio(rate('tinypool'), base),
    },
    {
      name: `${where}: piscina, 8 per thread`,
      figure: `${perSecond(rate('piscina, 8 per thread'))}/s`,
      baseline: `piscina ${perSecond(base)}/s`,
      ratio: ratio(rate('piscina, 8 per thread'), base),
    },
    {
      name: `${where}: ThreadPool / piscina`,
      figure: `${perSecond(mine)}/s`,
      baseline: `piscina ${perSecond(base)}/s`,
      ratio: ratio(mine, base),
      goal: `≥ ${workload.goal}×`,
      met: yesNo(mine / base >= workload.goal),
    },
    {
      name: `${where}: ThreadPool / tinypool`,
      figure: `${perSecond(mine)}/s`,
      baseline: `tinypool ${perSecond(rate('tinypool'))}/s`,
      ratio: ratio(mine, rate('tinypool')),
    },
  );
  const spread = (name) => {
    const rates = totals[name].rates;
    return `${perSecond(Math.min(...rates))}–${perSecond(Math.max(...rates))}`;
  };
  notes.push(`${where}: per-round spread ${names.map((n) => `${n} ${spread(n)}/s`).join(', ')}`);
  // Ratios of each round on its own: how steady the comparison is under the machine's noise.
  const roundRatios = totals.ThreadPool.rates.map((r, i) => r / totals.piscina.rates[i]);
  notes.push(
    `${where}: ThreadPool / piscina per round ${roundRatios.map((r) => `${fmt(r, 2)}×`).join(' ')}`,
  );
}

// One call at a time: the round trip of a tiny task.
{
  const pools = Object.fromEntries(names.map((name) => [name, makers[name](workloads[0].file)]));
  const latencies = Object.fromEntries(names.map((name) => [name, []]));
  for (const name of names) await drive(pools[name], 200);
  for (let round = 0; round < 4; round++) {
    for (const name of names.map((_, i) => names[(i + round) % names.length])) {
      for (let i = 0; i < 2000; i++) {
        const t = performance.now();
        await pools[name].run(i);
        latencies[name].push((performance.now() - t) * 1000);
      }
    }
  }
  for (const name of names) await pools[name].close();
  const described = names.map(
    (name) =>
      `${name} p50 ${fmt(median(latencies[name]))} µs, p99 ${fmt(percentile(latencies[name], 99))} µs`,
  );
  notes.push(`tiny task, one call at a time: round trip ${described.join('; ')}`);
}

printTable(`ThreadPool throughput (tasks/s, ${outstanding} calls outstanding)`, rows);
console.log('');
for (const note of notes) console.log(`- ${note}`);
