#!/usr/bin/env node
// npm run bench [-- filter]: runs every bench/*.bench.js whose name contains `filter` (all of
// them without one), one after another, each in a child `node` of its own so one benchmark's
// heap and JIT state do not skew the next. Their output passes through as it is.
//
// Every process a benchmark starts inherits RUNYARD_BENCH=<token>; once the benchmark has
// exited, any live process still carrying it is a leak: it is reported, killed, and the run
// fails. Benchmarks are not gates otherwise: a missed goal is printed, not an error.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeHost, findMarkedProcesses, fmt, msSince, now, sleep } from './lib.js';

const benchDir = import.meta.dirname;
const filter = process.argv[2] ?? '';
const files = readdirSync(benchDir)
  .filter((name) => name.endsWith('.bench.js') && name.includes(filter))
  .sort();

if (files.length === 0) {
  console.error(`No benchmark in bench/ matches "${filter}".`);
  process.exit(1);
}

const tempBefore = new Set(benchTempDirs());
console.log(`runyard benchmarks · ${new Date().toISOString().slice(0, 10)}`);
console.log(describeHost());

let failed = 0;
for (const file of files) {
  const token = randomUUID();
  console.log(`\n## ${file}`);
  const started = now();
  const child = spawn(process.execPath, [join(benchDir, file)], {
    stdio: 'inherit',
    env: { ...process.env, RUNYARD_BENCH: token },
  });
  const [code, signal] = await new Promise((resolve) =>
    child.on('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
  );
  console.log(`\n(${file}: ${fmt(msSince(started) / 1000, 1)} s)`);
  if (code !== 0) {
    failed++;
    console.error(`${file} failed: exit code ${code}${signal ? `, signal ${signal}` : ''}`);
  }
  const leaked = await leftovers(token);
  if (leaked.length > 0) {
    failed++;
    console.error(
      `${file} left ${leaked.length} process(es) running: ${leaked.join(', ')} (killed)`,
    );
  }
}

const leakedDirs = benchTempDirs().filter((dir) => !tempBefore.has(dir));
if (leakedDirs.length > 0) {
  failed++;
  console.error(`Temporary directories left behind: ${leakedDirs.join(', ')}`);
}
process.exitCode = failed > 0 ? 1 : 0;

/** Processes still alive with the benchmark's token, after a moment to let them die; killed. */
async function leftovers(token) {
  let pids = findMarkedProcesses('RUNYARD_BENCH', token);
  for (let i = 0; i < 20 && pids.length > 0; i++) {
    await sleep(50);
    pids = findMarkedProcesses('RUNYARD_BENCH', token);
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

function benchTempDirs() {
  return readdirSync(tmpdir())
    .filter((name) => name.startsWith('runyard-bench-'))
    .map((name) => join(tmpdir(), name));
}
