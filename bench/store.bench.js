// The durable run registry: how long `launch()` takes to record a run, and how many status
// updates a second a SqliteStore takes, against raw better-sqlite3 writing the same JSON to a
// one-table database.
// Every database lives in one `runyard-bench-*` temporary directory, removed at the end.
//
// Part 1, launch() latency: the time from calling `launch()` to its promise resolving (the
// run is then written), 2,000 launches one after another for each contender:
// - launch(), recorded only: a TaskManager on a SqliteStore whose Executor (concurrency 1) has
//   its one slot held by a function task, so each launched `{ command: '/bin/true' }` is
//   recorded and queued, and never runs;
// - launch(), runs a no-op fn: the same with a free slot, launching `{ fn }` tasks that return
//   at once, so each run's `running` and terminal updates go to the store meanwhile;
// - raw INSERT: better-sqlite3 inserting the JSON of the same record (a new id each time)
//   into a one-table WAL database (`synchronous = NORMAL`, as SqliteStore sets), in an async
//   function that is awaited: the baseline.
// The TaskManagers keep their defaults otherwise (a cancel poll every second included).
// Contenders take turns in rounds of 100 launches after a warm-up of 200 each; the ratios are
// of times (higher is slower).
//
// Part 2, status updates a second, on 1,000 `running` runs, round-robin:
// - sequential: `await store.update(id, { status: 'running', output })` one after another,
//   the output totals changing every time (a terminal run could not change again);
// - 100 at a time: 100 such updates of 100 runs, then `await Promise.all`;
// - raw UPDATE: better-sqlite3 `UPDATE … SET status = ?, data = json_set(data, …) WHERE id = ?`
//   on the same JSON in a one-table WAL database, awaited one by one (autocommit each), and
//   100 in one transaction, awaited once: the baselines of the two rows above.
// After a warm-up round, 10 rounds of 2,000 updates per contender, rotating the order; a
// figure is 2,000 / the median round time, a ratio is runyard's rate / raw's rate, paired
// round by round (lower is slower).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Executor, SqliteStore, TaskManager } from '../dist/index.js';
import { fmt, median, msSince, now, percentile, printTable, yesNo } from './lib.js';

const dir = mkdtempSync(join(tmpdir(), 'runyard-bench-'));
const rows = [];
const notes = [];
const times = (value) => `${fmt(value, 2)}×`;

/** A one-table WAL database, set up as SqliteStore sets its own. */
function rawDatabase(file) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE runs (id TEXT PRIMARY KEY NOT NULL, status TEXT NOT NULL, data TEXT NOT NULL)',
  );
  return db;
}

/** Calls each contender `perRound` times a round, rotating the order; the ms of every call. */
async function latencyRounds(contenders, { warmup, perRound, count }) {
  const names = Object.keys(contenders);
  for (const name of names) {
    for (let i = 0; i < warmup; i++) await contenders[name]();
  }
  const latencies = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < count; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length];
      const call = contenders[name];
      const into = latencies[name];
      for (let i = 0; i < perRound; i++) {
        const t = now();
        await call();
        into.push(msSince(t));
      }
    }
  }
  return latencies;
}

// Closed in reverse order at the end, whatever happens; `release` frees the held slot.
const resources = [];
let release;
try {
  // ---- Part 1: launch() latency ----
  {
    const heldStore = new SqliteStore({ path: join(dir, 'held.db') });
    const heldExecutor = new Executor({ concurrency: 1, resources: false });
    resources.push(heldStore, heldExecutor);
    const holder = heldExecutor.submit({
      name: 'holder',
      fn: () =>
        new Promise((resolve) => {
          release = resolve;
        }),
    });
    const held = new TaskManager({
      store: heldStore,
      executor: heldExecutor,
      logDir: join(dir, 'held-logs'),
    });

    const runStore = new SqliteStore({ path: join(dir, 'run.db') });
    const runExecutor = new Executor({ concurrency: 1, resources: false });
    resources.push(runStore, runExecutor);
    const running = new TaskManager({
      store: runStore,
      executor: runExecutor,
      logDir: join(dir, 'run-logs'),
    });
    const noop = () => undefined;

    // The record a launch writes, for the raw INSERT to write the same JSON.
    const sample = await held.launch({ command: '/bin/true' });
    const raw = rawDatabase(join(dir, 'raw-insert.db'));
    resources.push(raw);
    const insert = raw.prepare('INSERT INTO runs (id, status, data) VALUES (?, ?, ?)');
    let rawCount = 0;
    const rawInsert = async () => {
      const record = {
        ...sample,
        id: `${sample.id.slice(0, 24)}${String(rawCount++).padStart(12, '0')}`,
      };
      insert.run(record.id, record.status, JSON.stringify(record));
    };

    const contenders = {
      'raw INSERT': rawInsert,
      'launch(), recorded only': () => held.launch({ command: '/bin/true' }),
      'launch(), runs a no-op fn': () => running.launch({ fn: noop }),
    };
    const latencies = await latencyRounds(contenders, { warmup: 200, perRound: 100, count: 20 });

    await held.shutdown({ graceMs: 0 });
    await running.shutdown();
    release();
    await holder;
    await heldExecutor.close();
    await runExecutor.close();

    const base = latencies['raw INSERT'];
    const p50 = (name) => median(latencies[name]);
    const p99 = (name) => percentile(latencies[name], 99);
    const ms = (value) => `${fmt(value, value < 1 ? 3 : 2)} ms`;
    for (const name of Object.keys(contenders)) {
      const values = latencies[name];
      const isRaw = name === 'raw INSERT';
      rows.push(
        {
          name: `2,000 ${name}: p50`,
          figure: ms(p50(name)),
          baseline: isRaw ? undefined : `raw ${ms(median(base))}`,
          ratio: times(p50(name) / median(base)),
        },
        {
          name: `2,000 ${name}: p99`,
          figure: ms(p99(name)),
          baseline: isRaw ? undefined : `raw ${ms(percentile(base, 99))}`,
          ratio: times(p99(name) / percentile(base, 99)),
          goal: isRaw ? undefined : '< 2 ms',
          met: isRaw ? undefined : yesNo(p99(name) < 2),
        },
      );
      notes.push(
        `${name}: p90 ${ms(percentile(values, 90))}, p99.9 ${ms(percentile(values, 99.9))}, max ${ms(Math.max(...values))}`,
      );
    }
    notes.push(`launched record: ${JSON.stringify(sample).length} bytes of JSON`);
  }

  // ---- Part 2: status updates a second ----
  {
    const runs = 1000;
    const perRound = 2000;
    const batch = 100;
    const store = new SqliteStore({ path: join(dir, 'updates.db') });
    resources.push(store);
    const raw = rawDatabase(join(dir, 'raw-updates.db'));
    resources.push(raw);
    const rawInsert = raw.prepare('INSERT INTO runs (id, status, data) VALUES (?, ?, ?)');
    const ids = [];
    const owner = { pid: process.pid, host: 'bench', startTime: 0 };
    for (let i = 0; i < runs; i++) {
      const record = await store.create({
        id: randomUUID(),
        name: 'update-bench',
        pattern: 'fire-and-forget',
        status: 'running',
        attempt: 1,
        createdAt: new Date().toISOString(),
        startedAt: new Date().toISOString(),
        command: '/bin/true',
        args: [],
        output: { lines: 0, bytes: 0, truncated: false },
        owner,
      });
      rawInsert.run(record.id, record.status, JSON.stringify(record));
      ids.push(record.id);
    }
    const output = (i) => ({ lines: i, bytes: i * 80, truncated: false });
    const outputJson = (i) => JSON.stringify(output(i));
    const rawUpdate = raw.prepare(
      "UPDATE runs SET status = ?, data = json_set(data, '$.status', ?, '$.output', json(?)) WHERE id = ?",
    );
    const rawBatch = raw.transaction((from) => {
      for (let i = from; i < from + batch; i++)
        rawUpdate.run('running', 'running', outputJson(i), ids[i % runs]);
    });
    let n = 0;

    const contenders = {
      'raw UPDATE, sequential': async () => {
        for (let k = 0; k < perRound; k++, n++) {
          await (async () => rawUpdate.run('running', 'running', outputJson(n), ids[n % runs]))();
        }
      },
      'update(), sequential': async () => {
        for (let k = 0; k < perRound; k++, n++) {
          await store.update(ids[n % runs], { status: 'running', output: output(n) });
        }
      },
      'raw UPDATE, 100 a transaction': async () => {
        for (let k = 0; k < perRound; k += batch, n += batch) await (async () => rawBatch(n))();
      },
      'update(), 100 at a time': async () => {
        for (let k = 0; k < perRound; k += batch) {
          const pending = new Array(batch);
          for (let j = 0; j < batch; j++, n++) {
            pending[j] = store.update(ids[n % runs], { status: 'running', output: output(n) });
          }
          await Promise.all(pending);
        }
      },
    };
    const names = Object.keys(contenders);
    for (const name of names) await contenders[name]();
    const ms = Object.fromEntries(names.map((name) => [name, []]));
    const count = 10;
    for (let round = 0; round < count; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + round) % names.length];
        const t = now();
        await contenders[name]();
        ms[name].push(msSince(t));
      }
    }
    const rate = (name) => (perRound * 1000) / median(ms[name]);
    const pairs = [
      ['update(), sequential', 'raw UPDATE, sequential'],
      ['update(), 100 at a time', 'raw UPDATE, 100 a transaction'],
    ];
    for (const [mine, base] of pairs) {
      // Ratio of rates, paired round by round: the two ran within the same fraction of a second.
      const r = median(ms[base].map((value, i) => value / ms[mine][i]));
      rows.push(
        { name: `${base}`, figure: `${fmt(rate(base))}/s`, ratio: '1.00×' },
        {
          name: `${mine}`,
          figure: `${fmt(rate(mine))}/s`,
          baseline: `raw ${fmt(rate(base))}/s`,
          ratio: times(r),
          goal: '≥ 20,000/s',
          met: yesNo(rate(mine) >= 20_000),
        },
      );
    }
    const spread = names
      .map((name) => {
        const rates = ms[name].map((value) => (perRound * 1000) / value);
        return `${name} ${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}/s`;
      })
      .join(', ');
    notes.push(`updates, per-round: ${spread}`);
    const final = await store.get(ids[0]);
    if (final?.status !== 'running' || final.output.lines === 0) {
      throw new Error('the updates did not reach the store');
    }
  }
} finally {
  release?.();
  for (const resource of resources.reverse()) {
    try {
      await resource.close();
    } catch (error) {
      console.error('closing failed', error);
    }
  }
  rmSync(dir, { recursive: true, force: true });
}

printTable(
  'Run store: launch() latency and status updates (launch ratio: time; update ratio: rate)',
  rows,
);
console.log('');
for (const note of notes) console.log(`- ${note}`);
