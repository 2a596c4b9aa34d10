// ProcessPool throughput: warm workers against starting the interpreter for every task.
//
// The task imports json and decimal and does little: it sums a few Decimals and returns the
// total as JSON. Contenders, each 2 tasks at a time:
//
// - spawn per task: `<python> -c '<the same work>'` with the payload in argv, its stdout
//   read to the end (the interpreter's start and the imports are paid by every task);
// - ProcessPool.python, size 2, with 2 callers (the same concurrency) and with 64 tasks in
//   flight (the queue keeps both workers fed without a round trip to the caller).
//
// Both sides use the same interpreter: /usr/bin/python3 when it exists (~10 ms a start), not
// `python3` on PATH, which may be a pyenv shim that starts ten times slower and would flatter
// the ratio. The same comparison with the Node helper against `node -e` per task follows, for
// context. Contenders take turns in rounds so noise spreads over all of them; a figure is total
// tasks / total time.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessPool } from '../dist/index.js';
import { fmt, median, msSince, now, onPath, percentile, printTable, ratio, yesNo } from './lib.js';

const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : onPath('python3');
if (python === undefined) {
  console.log('No python3 found: skipped.');
  process.exit(0);
}
const pythonVersion = execFileSync(python, ['--version'], { encoding: 'utf8' }).trim();
const pathPython = onPath('python3');

const pythonWork = `
import json
from decimal import Decimal

def work(payload):
    total = sum((Decimal(amount) for amount in payload["amounts"]), Decimal(0))
    return {"total": str(total), "count": len(payload["amounts"])}
`;
const pythonPerTask = `${pythonWork}
import sys
print(json.dumps(work(json.loads(sys.argv[1]))))
`;
const nodeWork = `
export function work(payload) {
  let cents = 0;
  for (const amount of payload.amounts) cents += Math.round(Number(amount) * 100);
  return { total: (cents / 100).toFixed(2), count: payload.amounts.length };
}
`;
const nodePerTask = `
${nodeWork.replace('export function', 'function')}
console.log(JSON.stringify(work(JSON.parse(process.argv[1]))));
`;
const payload = { amounts: ['19.99', '5.01', '0.10', '120.00', '3.33'] };
const expected = { total: '148.43', count: 5 };

const dir = await mkdtemp(join(tmpdir(), 'runyard-bench-pool-'));
const pools = [];
try {
  await writeFile(join(dir, 'bench_work.py'), pythonWork);
  await writeFile(join(dir, 'bench-work.mjs'), nodeWork);
  const pyPool = ProcessPool.python({ handler: 'bench_work:work', python, cwd: dir, size: 2 });
  const nodePool = ProcessPool.node({ handler: './bench-work.mjs#work', cwd: dir, size: 2 });
  pools.push(pyPool, nodePool);

  const workloads = [
    {
      label: `python (${python}, ${pythonVersion})`,
      contenders: {
        'spawn per task': perTask(python, ['-c', pythonPerTask]),
        'pool, 2 callers': pooled(pyPool),
        'pool, 64 in flight': pooled(pyPool),
      },
      concurrency: { 'spawn per task': 2, 'pool, 2 callers': 2, 'pool, 64 in flight': 64 },
      batch: { 'spawn per task': 40, 'pool, 2 callers': 2000, 'pool, 64 in flight': 4000 },
      rounds: 6,
      goal: 20,
    },
    {
      label: `node (${process.execPath}, ${process.version})`,
      contenders: {
        'spawn per task': perTask(process.execPath, ['-e', nodePerTask]),
        'pool, 2 callers': pooled(nodePool),
        'pool, 64 in flight': pooled(nodePool),
      },
      concurrency: { 'spawn per task': 2, 'pool, 2 callers': 2, 'pool, 64 in flight': 64 },
      batch: { 'spawn per task': 10, 'pool, 2 callers': 2000, 'pool, 64 in flight': 4000 },
      rounds: 4,
    },
  ];

  const rows = [];
  const notes = [];
  for (const workload of workloads) {
    const names = Object.keys(workload.contenders);
    // Warm up: start the workers, let the JIT settle, check the answers.
    for (const name of names) {
      const answer = await workload.contenders[name]();
      if (JSON.stringify(answer) !== JSON.stringify(expected)) {
        throw new Error(`${workload.label} ${name}: unexpected answer ${JSON.stringify(answer)}`);
      }
      await batch(workload.contenders[name], 20, workload.concurrency[name]);
    }
    const totals = Object.fromEntries(names.map((name) => [name, { ms: 0, tasks: 0, rates: [] }]));
    for (let round = 0; round < workload.rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const name of order) {
        const count = workload.batch[name];
        const ms = await batch(workload.contenders[name], count, workload.concurrency[name]);
        totals[name].ms += ms;
        totals[name].tasks += count;
        totals[name].rates.push((count * 1000) / ms);
      }
    }
    const rate = (name) => (totals[name].tasks * 1000) / totals[name].ms;
    const base = rate('spawn per task');
    rows.push({
      name: `${workload.label}: spawn per task, 2 at a time`,
      figure: `${perSecond(base)}/s`,
      ratio: '1.00×',
    });
    for (const name of names.slice(1)) {
      const mine = rate(name);
      rows.push({
        name: `${workload.label}: ProcessPool size 2, ${name.slice(6)}`,
        figure: `${perSecond(mine)}/s`,
        baseline: `spawn ${perSecond(base)}/s`,
        ratio: ratio(mine, base),
        goal: workload.goal ? `≥ ${workload.goal}×` : '—',
        met: workload.goal ? yesNo(mine / base >= workload.goal) : undefined,
      });
    }
    const spread = names
      .map((name) => {
        const rates = totals[name].rates;
        return `${name} ${perSecond(Math.min(...rates))}–${perSecond(Math.max(...rates))}/s`;
      })
      .join(', ');
    notes.push(`${workload.label}: per-round spread ${spread}`);
    // One caller, one task at a time: the pool's round trip against a whole start.
    const latency = {};
    for (const name of names.slice(0, 2)) {
      const values = [];
      await batch(workload.contenders[name], name === 'spawn per task' ? 10 : 500, 1, values);
      latency[name] = values;
    }
    notes.push(
      `${workload.label}: one task at a time, p50 / p99: spawn ${fmt(median(latency['spawn per task']), 2)} / ${fmt(percentile(latency['spawn per task'], 99), 2)} ms, pool ${fmt(median(latency['pool, 2 callers']) * 1000, 0)} / ${fmt(percentile(latency['pool, 2 callers'], 99) * 1000, 0)} µs`,
    );
  }

  printTable('ProcessPool against a spawn per task (tasks/s, higher is better)', rows);
  console.log('');
  console.log(
    `- interpreter: ${python} (${pythonVersion}) on both sides${pathPython && pathPython !== python ? `; python3 on PATH is ${pathPython}, not used` : ''}`,
  );
  console.log(
    '- task: import json and decimal, sum 5 Decimals, return {total, count} as JSON; the pool imports once per worker',
  );
  for (const note of notes) console.log(`- ${note}`);
  for (const pool of [pyPool, nodePool]) {
    const { restarts, failed } = pool.stats;
    if (restarts > 0 || failed > 0) {
      console.log(`- ${pool.name}: ${restarts} restarts, ${failed} failed tasks (expected none)`);
    }
  }
} finally {
  await Promise.all(pools.map((pool) => pool.close()));
  await rm(dir, { recursive: true, force: true });
}

/** Runs a task by starting `command args… <payload JSON>` and parsing what it prints. */
function perTask(command, args) {
  return () =>
    new Promise((resolve, reject) => {
      const child = spawn(command, [...args, JSON.stringify(payload)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const out = [];
      const err = [];
      child.stdout.on('data', (chunk) => out.push(chunk));
      child.stderr.on('data', (chunk) => err.push(chunk));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code === 0) resolve(JSON.parse(Buffer.concat(out).toString()));
        else reject(new Error(`${command} exited with ${code}: ${Buffer.concat(err)}`));
      });
    });
}

function pooled(pool) {
  return () => pool.run(payload);
}

/** Runs `count` tasks, `concurrency` at a time; returns the elapsed ms. */
async function batch(fn, count, concurrency, latencies) {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      const t = now();
      await fn();
      latencies?.push(msSince(t));
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return msSince(t0);
}

/** Tasks a second: one decimal below 100, where whole numbers hide 10 % differences. */
function perSecond(value) {
  return fmt(value, value < 100 ? 1 : 0);
}
