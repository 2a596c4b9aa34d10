// Live output throughput: a child prints 200 MB of 100-byte lines (bench/fixtures/
// print-lines-fast.js) as fast as it can, and each contender reads all of it.
//
// - raw 'data': child.stdout.on('data') counting bytes: the floor, no line is split.
// - start() + lines(): runyard, `for await (const line of handle.lines())` with `logDir` set,
//   so every line is also written to the run's log file.
// - readline 'line': node:readline on child.stdout, for context.
// - execa lines: execa 9 with `lines: true`, buffering all lines into an array, for context.
//
// Each contender runs in a fresh `node` process (this file with `--contender <name>`), so its
// peak RSS is comparable; RSS is sampled every 10,000 lines (every 1,000,000 bytes for raw,
// every 20 ms for execa, which hands no line over until the end). Rounds interleave the
// contenders. Throughput is measured from the first byte read to the end of the run (for
// execa from the spawn, since it exposes no first byte: its figure includes the ~40–80 ms
// start of the child). MB here is 10^6 bytes.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fmt, median, msSince, now, printTable, ratio, yesNo } from './lib.js';

const totalBytes = 200_000_000;
const totalLines = totalBytes / 100;
const rounds = 3;
const generator = join(import.meta.dirname, 'fixtures', 'print-lines-fast.js');
const generatorArgs = [generator, String(totalBytes)];

const contenders = {
  async raw() {
    const child = spawn(process.execPath, generatorArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    let nextSample = 1_000_000;
    let peakRss = process.memoryUsage.rss();
    let first;
    child.stdout.on('data', (chunk) => {
      first ??= now();
      bytes += chunk.length;
      if (bytes >= nextSample) {
        nextSample += 1_000_000;
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
      }
    });
    await new Promise((resolve) => child.on('close', resolve));
    return { ms: msSince(first), bytes, lines: undefined, peakRss };
  },

  async runyard() {
    const { start } = await import('../dist/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'runyard-bench-'));
    try {
      const handle = start(process.execPath, generatorArgs, { logDir: dir });
      let lines = 0;
      let bytes = 0;
      let peakRss = process.memoryUsage.rss();
      let first;
      for await (const line of handle.lines()) {
        first ??= now();
        lines++;
        bytes += line.text.length + 1;
        if (lines % 10_000 === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
      }
      const result = await handle.result;
      const ms = msSince(first);
      if (result.status !== 'succeeded' || result.output.lines !== totalLines) {
        throw new Error(`runyard: ${result.status}, ${result.output.lines} lines`);
      }
      return { ms, bytes, lines, peakRss: Math.max(peakRss, process.memoryUsage.rss()) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },

  async readline() {
    const child = spawn(process.execPath, generatorArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let lines = 0;
    let bytes = 0;
    let peakRss = process.memoryUsage.rss();
    let first;
    const closed = new Promise((resolve) => child.on('close', resolve));
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on(
      'line',
      (line) => {
        first ??= now();
        lines++;
        bytes += line.length + 1;
        if (lines % 10_000 === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
      },
    );
    await closed;
    return { ms: msSince(first), bytes, lines, peakRss };
  },

  async execa() {
    const { execa } = await import('execa');
    let peakRss = process.memoryUsage.rss();
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
    }, 20);
    try {
      const t0 = now();
      const result = await execa(process.execPath, generatorArgs, {
        lines: true,
        maxBuffer: 10 * totalBytes,
      });
      const ms = msSince(t0);
      const lines = result.stdout.length;
      let bytes = 0;
      for (const line of result.stdout) bytes += line.length + 1;
      return { ms, bytes, lines, peakRss: Math.max(peakRss, process.memoryUsage.rss()) };
    } finally {
      clearInterval(sampler);
    }
  },
};

const labels = {
  raw: "raw 'data'",
  runyard: 'start() + lines(), log file on',
  readline: "readline 'line'",
  execa: 'execa lines: true',
};

if (process.argv[2] === '--contender') {
  const outcome = await contenders[process.argv[3]]();
  process.stdout.write(`${JSON.stringify(outcome)}\n`);
} else {
  await main();
}

function runContender(name) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [import.meta.filename, '--contender', name], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(out));
      else reject(new Error(`contender ${name} exited with ${code}`));
    });
  });
}

async function main() {
  const names = Object.keys(contenders);
  const results = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const name of names) {
      const outcome = await runContender(name);
      if (outcome.bytes !== totalBytes || (outcome.lines ?? totalLines) !== totalLines) {
        throw new Error(`${name} read ${outcome.bytes} bytes, ${outcome.lines} lines`);
      }
      results[name].push(outcome);
    }
  }
  const mbps = (name) => median(results[name].map((r) => totalBytes / 1e3 / r.ms));
  const spread = (name) => {
    const all = results[name].map((r) => totalBytes / 1e3 / r.ms);
    return `${fmt(Math.min(...all))}–${fmt(Math.max(...all))}`;
  };
  const peakMb = (name) => Math.max(...results[name].map((r) => r.peakRss)) / 2 ** 20;
  const raw = mbps('raw');
  const rows = [];
  for (const name of names) {
    const isRunyard = name === 'runyard';
    rows.push({
      name: `${labels[name]}: MB/s`,
      figure: `${fmt(mbps(name))} MB/s`,
      baseline: name === 'raw' ? '—' : `raw ${fmt(raw)} MB/s`,
      ratio: ratio(mbps(name), raw),
      goal: isRunyard ? '≥ 0.50×' : '—',
      met: isRunyard ? yesNo(mbps(name) / raw >= 0.5) : '—',
    });
  }
  for (const name of names) {
    const isRunyard = name === 'runyard';
    rows.push({
      name: `${labels[name]}: peak RSS`,
      figure: `${fmt(peakMb(name))} MiB`,
      baseline: name === 'raw' ? '—' : `raw ${fmt(peakMb('raw'))} MiB`,
      ratio: ratio(peakMb(name), peakMb('raw')),
      goal: isRunyard ? '< 150 MB' : '—',
      met: isRunyard ? yesNo(peakMb(name) * 2 ** 20 < 150e6) : '—',
    });
  }
  printTable(
    `200 MB of 100-byte lines (${fmt(totalLines)} lines), median of ${rounds} rounds`,
    rows,
  );
  console.log('');
  for (const name of names) console.log(`- ${labels[name]}: per-round ${spread(name)} MB/s`);
}
