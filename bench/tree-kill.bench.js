// Tree kill: how completely and how fast each contender ends a whole process tree.
//
// Shapes (bench/fixtures/tree.js prints every pid, then `ready`):
// - chain: 4 processes, each the parent of the next (node → node → node → sleep)
// - wide: 1 node parent and 8 `sleep` children
// - setsid escapee: a grandchild started with `detached: true` (setsid(): a new process group,
//   env inherited) whose parent then exits, the way a daemon leaves
// - TERM-ignoring shell: sh -c 'trap "" TERM; sleep 1000 & wait' (the sleep inherits the
//   ignored SIGTERM, so only SIGKILL ends either)
//
// Contenders:
// - runyard: start() with killGraceMs 1000, then handle.cancel()
// - group kill: spawn with detached: true, then process.kill(-pid, 'SIGTERM')
// - execa: execa 9 with forceKillAfterDelay 1000 (the same grace), then subprocess.kill()
//
// From the kill, /proc/<pid>/stat of every pid is polled every ~1 ms (a zombie, or a pid that
// names another process by now, counts as dead). The time to the last death is taken when all
// are dead; whatever lives `window` ms after the kill is a survivor, and is then SIGKILLed so
// nothing outlives the benchmark.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { start } from '../dist/index.js';
import { fmt, median, msSince, now, printTable, ratio, sleep, yesNo } from './lib.js';

const graceMs = 1000;
const windowMs = graceMs + 250;
const repeats = 4;
const tree = join(import.meta.dirname, 'fixtures', 'tree.js');
const shapes = [
  { name: 'chain (4 procs)', command: process.execPath, args: [tree, 'chain', '4'] },
  { name: 'wide (1 + 8)', command: process.execPath, args: [tree, 'wide', '8'] },
  { name: 'setsid escapee', command: process.execPath, args: [tree, 'escapee'] },
  {
    name: 'TERM-ignoring sh',
    command: 'sh',
    args: ['-c', 'trap "" TERM; sleep 1000 & echo "pid $$"; echo "pid $!"; echo ready; wait'],
  },
];

/** State letter and start time (field 22) of a pid, or undefined once it is gone. */
function stat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTime: fields[19] };
  } catch {
    return undefined;
  }
}

function isAlive(proc) {
  const now = stat(proc.pid);
  return (
    now !== undefined && now.startTime === proc.startTime && now.state !== 'Z' && now.state !== 'X'
  );
}

/** Reads `pid N` lines up to `ready` from an async iterable of strings. */
async function collectTree(lines) {
  const procs = [];
  for await (const line of lines) {
    if (line === 'ready') break;
    const pid = Number(line.replace(/^pid /, ''));
    procs.push({ pid, startTime: stat(pid)?.startTime });
  }
  return procs;
}

/** Polls every ~1 ms from `t0`: ms to the last death, and who still lives after `windowMs`. */
async function watchDeaths(procs, t0) {
  let alive = procs.filter(isAlive);
  while (alive.length > 0 && msSince(t0) < windowMs) {
    await sleep(1);
    alive = alive.filter(isAlive);
  }
  return { lastDeathMs: alive.length === 0 ? msSince(t0) : undefined, survivors: alive };
}

async function killSurvivors(survivors) {
  for (const proc of survivors) {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  while (survivors.some(isAlive)) await sleep(5);
}

const lineReader = (stream) =>
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });

const contenders = {
  async runyard(shape) {
    const handle = start(shape.command, shape.args, { killGraceMs: graceMs });
    const procs = await collectTree(
      (async function* () {
        for await (const line of handle.lines()) yield line.text;
      })(),
    );
    const t0 = now();
    const result = handle.cancel('bench');
    const watched = await watchDeaths(procs, t0);
    await killSurvivors(watched.survivors);
    const { status } = await result;
    if (status !== 'cancelled') throw new Error(`runyard ended ${shape.name} as ${status}`);
    return { ...watched, procs };
  },

  async 'group kill'(shape) {
    const child = spawn(shape.command, shape.args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const closed = new Promise((resolve) => child.on('close', resolve));
    const procs = await collectTree(lineReader(child.stdout));
    child.stdout.resume();
    const t0 = now();
    process.kill(-child.pid, 'SIGTERM');
    const watched = await watchDeaths(procs, t0);
    await killSurvivors(watched.survivors);
    await closed;
    return { ...watched, procs };
  },

  async execa(shape) {
    const subprocess = execa(shape.command, shape.args, {
      forceKillAfterDelay: graceMs,
      buffer: false,
      stdin: 'ignore',
      stderr: 'inherit',
    });
    const settled = subprocess.catch(() => {});
    const procs = await collectTree(lineReader(subprocess.stdout));
    subprocess.stdout.resume();
    const t0 = now();
    subprocess.kill();
    const watched = await watchDeaths(procs, t0);
    await killSurvivors(watched.survivors);
    await settled;
    return { ...watched, procs };
  },
};
const names = Object.keys(contenders);

const outcomes = new Map();
for (let repeat = 0; repeat < repeats; repeat++) {
  for (const shape of shapes) {
    for (const name of names) {
      const key = `${shape.name}/${name}`;
      const outcome = await contenders[name](shape);
      if (!outcomes.has(key)) outcomes.set(key, []);
      outcomes.get(key).push(outcome);
    }
  }
}

const summary = (shape, name) => {
  const runs = outcomes.get(`${shape.name}/${name}`);
  const survivors = Math.max(...runs.map((run) => run.survivors.length));
  const times = runs.map((run) => run.lastDeathMs).filter((ms) => ms !== undefined);
  const clean = times.length === runs.length;
  return {
    survivors,
    processes: runs[0].procs.length,
    p50: clean ? median(times) : undefined,
    max: clean ? Math.max(...times) : undefined,
    text: clean
      ? `0 survivors, ${fmt(median(times), 1)} ms (max ${fmt(Math.max(...times), 1)})`
      : `${survivors} of ${runs[0].procs.length} survive`,
  };
};

const rows = [];
for (const shape of shapes) {
  const mine = summary(shape, 'runyard');
  const group = summary(shape, 'group kill');
  const theirs = summary(shape, 'execa');
  rows.push(
    {
      name: `${shape.name}: runyard cancel()`,
      figure: mine.text,
      baseline: `group kill: ${group.text}`,
      ratio: mine.p50 !== undefined && group.p50 !== undefined ? ratio(mine.p50, group.p50) : '—',
      goal: `0, ≤ ${graceMs + 100} ms`,
      met: yesNo(mine.survivors === 0 && mine.max !== undefined && mine.max <= graceMs + 100),
    },
    { name: `${shape.name}: group SIGTERM`, figure: group.text },
    { name: `${shape.name}: execa kill()`, figure: theirs.text },
  );
}

printTable(
  `Tree kill: survivors ${windowMs} ms after the kill, time to the last death (median of ${repeats}), grace ${graceMs} ms`,
  rows,
);
console.log('\n- ratio: runyard time / group kill time, where both left no survivor');
