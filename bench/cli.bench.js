// CLI start-up: how long `runyard` takes per call against a bare `node -e ""` run in the same
// rounds, for the calls people make many times a day or from scripts.
//
// - node -e "": the baseline, Node's own start and exit;
// - runyard --version: the CLI's own floor (argument parsing only);
// - runyard run -- /bin/true: start to exit, nothing recorded;
// - runyard launch -- /bin/true: start to the id printed (a store opened, a supervisor started,
//   the run recorded); the supervisor is then waited for, so it does not load the next call;
// - runyard ls: start to exit on a store of 1,000 finished runs (it prints the newest 50).
//
// Every call is a fresh process with stdout and stderr piped; a call that exits non-zero or
// writes to stderr fails the benchmark. After a warm-up, the contenders take turns in rounds
// (the order rotates every round) so the rest of the machine's noise spreads over all of them.
// NODE_EXTRA_CA_CERTS is left out of the calls' environment: Node parses the bundle it names
// at every start (tens of ms), which would hide what the CLI itself costs.
// `node bench/cli.bench.js [path/to/cli/main.js]` measures another build (default: dist/).
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { newRunId, SqliteStore } from '../dist/index.js';
import {
  findMarkedProcesses,
  fmt,
  msSince,
  now,
  percentile,
  printTable,
  ratio,
  sleep,
  yesNo,
} from './lib.js';

const cli = resolve(process.argv[2] ?? join(import.meta.dirname, '..', 'dist', 'cli', 'main.js'));
const rounds = 40;
const warmup = 3;
const seededRuns = 1000;
/** Goals from the issue: `run` within ~60 ms of Node's start, `launch` under ~120 ms to the id. */
const runOverNodeGoalMs = 60;
const launchGoalMs = 120;

const dir = mkdtempSync(join(tmpdir(), 'runyard-bench-'));
const listHome = join(dir, 'list');
const launchHome = join(dir, 'launch');

/** 1,000 finished runs, as `runyard run`-like records of `/bin/true`, one second apart. */
async function seedStore(home) {
  const store = new SqliteStore({ path: join(home, 'runyard.db') });
  try {
    const start = Date.now() - seededRuns * 1000;
    for (let i = 0; i < seededRuns; i++) {
      const created = start + i * 1000;
      await store.create({
        id: newRunId(created),
        name: 'true',
        pattern: 'fire-and-forget',
        status: 'succeeded',
        command: '/bin/true',
        args: [],
        attempt: 1,
        exitCode: 0,
        exitSignal: null,
        createdAt: new Date(created).toISOString(),
        startedAt: new Date(created + 2).toISOString(),
        finishedAt: new Date(created + 7).toISOString(),
        durationMs: 5,
        output: { lines: 0, bytes: 0, truncated: false },
      });
    }
  } finally {
    await store.close();
  }
}

/**
 * Starts `args` under node and resolves with the ms until `until` ('exit': the process has
 * closed its output and exited; 'line': its first stdout line), then waits for it to end.
 */
function timeCall(args, home, until) {
  return new Promise((resolvePromise, reject) => {
    const env = { ...process.env, RUNYARD_HOME: home, RUNYARD_BENCH_CALL: randomUUID() };
    delete env.NODE_EXTRA_CA_CERTS;
    const started = now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    let elapsed;
    child.stdout.setEncoding('utf8').on('data', (text) => {
      stdout += text;
      if (until === 'line' && elapsed === undefined && stdout.includes('\n')) {
        elapsed = msSince(started);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (text) => {
      stderr += text;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (until === 'exit') elapsed = msSince(started);
      if (code !== 0 || stderr !== '') {
        reject(new Error(`node ${args.join(' ')} exited with ${code}: ${stderr}`));
      } else {
        resolvePromise({ ms: elapsed, marker: env.RUNYARD_BENCH_CALL });
      }
    });
  });
}

/** Waits until no process carries `marker` (a launch's supervisor and its run), 20 s at most. */
async function waitForLeftovers(marker) {
  const deadline = performance.now() + 20_000;
  while (findMarkedProcesses('RUNYARD_BENCH_CALL', marker).length > 0) {
    if (performance.now() > deadline) throw new Error('A launched run did not end in 20 s');
    await sleep(5);
  }
}

const contenders = {
  'node -e ""': () => timeCall(['-e', ''], listHome, 'exit'),
  'runyard --version': () => timeCall([cli, '--version'], listHome, 'exit'),
  'runyard run -- /bin/true': () => timeCall([cli, 'run', '--', '/bin/true'], listHome, 'exit'),
  'runyard launch -- /bin/true (to the id)': async () => {
    const call = await timeCall([cli, 'launch', '--', '/bin/true'], launchHome, 'line');
    await waitForLeftovers(call.marker);
    return call;
  },
  'runyard ls (1,000 runs)': () => timeCall([cli, 'ls'], listHome, 'exit'),
};

try {
  await seedStore(listHome);
  const names = Object.keys(contenders);
  for (const name of names) {
    for (let i = 0; i < warmup; i++) await contenders[name]();
  }
  const times = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length];
      times[name].push((await contenders[name]()).ms);
    }
  }

  const p50 = (name) => percentile(times[name], 50);
  const p99 = (name) => percentile(times[name], 99);
  const baseline = 'node -e ""';
  const goals = {
    'runyard run -- /bin/true': {
      text: `≤ node + ${runOverNodeGoalMs} ms`,
      met: p50('runyard run -- /bin/true') - p50(baseline) <= runOverNodeGoalMs,
    },
    'runyard launch -- /bin/true (to the id)': {
      text: `≤ ${launchGoalMs} ms`,
      met: p50('runyard launch -- /bin/true (to the id)') <= launchGoalMs,
    },
  };
  const rows = names.map((name) => ({
    name,
    figure: `${fmt(p50(name), 1)} ms`,
    baseline: `${fmt(p50(baseline), 1)} ms`,
    ratio: ratio(p50(name), p50(baseline)),
    goal: goals[name]?.text,
    met: yesNo(goals[name]?.met),
  }));
  printTable(`CLI start-up, p50 of ${rounds} calls each (lower is better)`, rows);
  console.log('');
  for (const name of names) {
    console.log(
      `- ${name}: p50 ${fmt(p50(name), 1)} ms (+${fmt(p50(name) - p50(baseline), 1)} ms over node), ` +
        `p99 ${fmt(p99(name), 1)} ms (${ratio(p99(name), p99(baseline))} node's p99 ${fmt(p99(baseline), 1)} ms)`,
    );
  }
  console.log(`- CLI measured: ${cli}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
