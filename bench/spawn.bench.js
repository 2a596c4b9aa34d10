// Spawn + wait throughput: how many short programs a second each contender starts, waits for
// and collects, sequentially and 4 at a time.
//
// - raw: child_process.spawn with stdout and stderr piped and read to the end, waiting for
//   'close': the least any runner that captures output must do, so the floor for run().
// - raw detached: the same with `detached: true`, as run() spawns (a process group of its own).
//   On Linux that is setsid(), and with sched_autogroup_enabled every setsid() starts a CPU
//   scheduling group of its own: while other work loads the machine, a CPU-bound child such
//   as node gets more CPU than one left in our group. This row tells that effect from run()'s own.
// - run(): runyard's `run(command, args)` with its defaults.
// - execa: execa 9's `execa(command, args)` with its defaults.
//
// The contenders take turns in rounds (the order rotates every round) so that noise from the
// rest of the machine spreads over all of them; each figure is total runs / total time.
import { spawn } from 'node:child_process';
import { execa } from 'execa';
import { run } from '../dist/index.js';
import { fmt, median, msSince, now, percentile, printTable, ratio, yesNo } from './lib.js';

function rawSpawn(detached) {
  return (command, args) =>
    new Promise((resolve, reject) => {
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached });
      const stdout = [];
      const stderr = [];
      child.stdout.on('data', (chunk) => stdout.push(chunk));
      child.stderr.on('data', (chunk) => stderr.push(chunk));
      child.on('error', reject);
      child.on('close', (code) => {
        const text = Buffer.concat(stdout).toString() + Buffer.concat(stderr).toString();
        if (code === 0) resolve(text);
        else reject(new Error(`${command} exited with ${code}`));
      });
    });
}

const contenders = {
  raw: rawSpawn(false),
  'raw detached': rawSpawn(true),
  'run()': async (command, args) => {
    const result = await run(command, args);
    if (!result.ok) throw new Error(`${command}: ${result.status}`);
  },
  execa: (command, args) => execa(command, args),
};
const names = Object.keys(contenders);

const workloads = [
  { label: '/bin/true', command: '/bin/true', args: [], warmup: 50, rounds: 8, batch: 100 },
  {
    label: 'node -e ""',
    command: process.execPath,
    args: ['-e', ''],
    warmup: 3,
    rounds: 5,
    batch: 5,
  },
];
const concurrencies = [1, 4];

/** Runs `count` calls of `fn`, `concurrency` at a time; returns the elapsed ms. */
async function batch(fn, workload, count, concurrency, latencies) {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      const t = now();
      await fn(workload.command, workload.args);
      latencies?.push(msSince(t));
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return msSince(t0);
}

/** Runs a second: one decimal below 100, where whole numbers hide 10 % differences. */
const perSecond = (value) => fmt(value, value < 100 ? 1 : 0);

const rows = [];
const notes = [];
for (const workload of workloads) {
  for (const name of names) await batch(contenders[name], workload, workload.warmup, 1);
  for (const concurrency of concurrencies) {
    const totals = Object.fromEntries(names.map((name) => [name, { ms: 0, runs: 0, rates: [] }]));
    const latencies = Object.fromEntries(names.map((name) => [name, []]));
    for (let round = 0; round < workload.rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const lat = concurrency === 1 ? latencies[name] : undefined;
        const ms = await batch(contenders[name], workload, workload.batch, concurrency, lat);
        totals[name].ms += ms;
        totals[name].runs += workload.batch;
        totals[name].rates.push((workload.batch * 1000) / ms);
      }
    }
    const rate = (name) => (totals[name].runs * 1000) / totals[name].ms;
    const spread = (name) => {
      const rates = totals[name].rates;
      return `${perSecond(Math.min(...rates))}–${perSecond(Math.max(...rates))}`;
    };
    const raw = rate('raw');
    const rawDetached = rate('raw detached');
    const mine = rate('run()');
    const theirs = rate('execa');
    const where = `${workload.label}, ${concurrency === 1 ? 'sequential' : `concurrency ${concurrency}`}`;
    rows.push(
      { name: `${where}: raw spawn`, figure: `${perSecond(raw)}/s`, ratio: '1.00×' },
      {
        name: `${where}: raw detached`,
        figure: `${perSecond(rawDetached)}/s`,
        baseline: `raw ${perSecond(raw)}/s`,
        ratio: ratio(rawDetached, raw),
      },
      {
        name: `${where}: execa`,
        figure: `${perSecond(theirs)}/s`,
        baseline: `raw ${perSecond(raw)}/s`,
        ratio: ratio(theirs, raw),
      },
      {
        name: `${where}: run() / raw`,
        figure: `${perSecond(mine)}/s`,
        baseline: `raw ${perSecond(raw)}/s`,
        ratio: ratio(mine, raw),
        goal: '≥ 0.95×',
        met: yesNo(mine / raw >= 0.95),
      },
      {
        name: `${where}: run() / raw detached`,
        figure: `${perSecond(mine)}/s`,
        baseline: `detached ${perSecond(rawDetached)}/s`,
        ratio: ratio(mine, rawDetached),
      },
      {
        name: `${where}: run() / execa`,
        figure: `${perSecond(mine)}/s`,
        baseline: `execa ${perSecond(theirs)}/s`,
        ratio: ratio(mine, theirs),
        goal: '≥ 1.3×',
        met: yesNo(mine / theirs >= 1.3),
      },
    );
    const perRound = names.map((name) => `${name} ${spread(name)}/s`).join(', ');
    notes.push(`${where}: per-round spread ${perRound}`);
    if (concurrency === 1) {
      const lat = names
        .map((name) => {
          const values = latencies[name];
          return `${name} p50 ${fmt(median(values), 2)} ms, p99 ${fmt(percentile(values, 99), 2)} ms`;
        })
        .join('; ');
      notes.push(`${where}: latency ${lat}`);
    }
  }
}

printTable('Spawn + wait throughput (runs/s, higher is better)', rows);
console.log('');
for (const note of notes) console.log(`- ${note}`);
