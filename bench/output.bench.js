// Live output throughput: a child prints 200 MB of 100-byte lines (bench/fixtures/
// print-lines-fast.js) as fast as it can, and each contender reads all of it.
//
// - raw 'data': child.stdout.on('data') counting bytes: the floor, no line is split.
// - raw 'data' + writev to a file: the same, each chunk also appended to a file (one writev in
//   flight, gathering what came meanwhile): the floor of any reader that keeps a log file.
// - start() + batches(): runyard, `for await (const batch of handle.output.batches())` with
//   `logDir` set, so every line is also written to the run's log file; counts lines and bytes.
// - start() + lines(): the same, `for await (const line of handle.lines())`, a string per line.
// - batches(), 2 s stall: as batches(), but the consumer stops reading for 2 s after its first
//   batch; every line must still arrive, and the child must not wait for it (its own run time
//   is printed below the table).
// - run() capture: `run()` with its defaults (stdout kept up to 64 MiB), result checked; and
//   with `maxBufferBytes: 1 MiB`, which leaves out building a 64 MiB string at the end.
// - readline 'line': node:readline on child.stdout, for context.
// - execa lines: execa 9 with `lines: true`, buffering all lines into an array, for context.
//
// Each contender runs in a fresh `node` process (this file with `--contender <name>`), so its
// peak RSS is comparable; RSS is sampled every 10,000 lines (every 1,000,000 bytes for raw and
// run(), at the first batch past each 10,000 lines for batches(), every 20 ms for execa, which hands no line over until the
// end). Rounds interleave the contenders. Throughput is measured from the first byte read to
// the end of the run (for execa from the spawn, since it exposes no first byte: its figure
// includes the ~40–80 ms start of the child). MB here is 10^6 bytes.
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writev } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fmt, median, msSince, now, printTable, ratio, sleep, yesNo } from './lib.js';

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

  async rawFile() {
    const dir = mkdtempSync(join(tmpdir(), 'runyard-bench-'));
    const fd = openSync(join(dir, 'raw.log'), 'a');
    try {
      const child = spawn(process.execPath, generatorArgs, {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let bytes = 0;
      let nextSample = 1_000_000;
      let peakRss = process.memoryUsage.rss();
      let first;
      let pending = [];
      let writing;
      const write = () => {
        const buffers = pending;
        pending = [];
        writing = new Promise((resolve) => writev(fd, buffers, null, resolve)).then(() =>
          pending.length > 0 ? write() : undefined,
        );
        return writing;
      };
      child.stdout.on('data', (chunk) => {
        first ??= now();
        bytes += chunk.length;
        pending.push(chunk);
        writing ??= write().then(() => {
          writing = undefined;
        });
        if (bytes >= nextSample) {
          nextSample += 1_000_000;
          peakRss = Math.max(peakRss, process.memoryUsage.rss());
        }
      });
      await new Promise((resolve) => child.on('close', resolve));
      while (writing) await writing;
      return { ms: msSince(first), bytes, lines: undefined, peakRss };
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  },

  async batches() {
    return runyardBatches(0);
  },

  async lines() {
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
      checkResult(result);
      return { ms, bytes, lines, peakRss: Math.max(peakRss, process.memoryUsage.rss()) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },

  async stalled() {
    return runyardBatches(2000);
  },

  async run() {
    return runCapture({});
  },

  async runSmall() {
    return runCapture({ maxBufferBytes: 2 ** 20 });
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
  rawFile: "raw 'data' + writev to a file",
  batches: 'start() + batches(), log file on',
  lines: 'start() + lines(), log file on',
  stalled: 'batches(), 2 s stall, log file on',
  run: 'run() capture (64 MiB kept)',
  runSmall: 'run() capture, maxBufferBytes 1 MiB',
  readline: "readline 'line'",
  execa: 'execa lines: true',
};

/** Goals against raw 'data', by contender. */
const goals = { batches: 0.6, lines: 0.35, run: 0.6, runSmall: 0.6 };

function checkResult(result) {
  if (result.status !== 'succeeded' || result.output.lines !== totalLines) {
    throw new Error(`runyard: ${result.status}, ${result.output.lines} lines`);
  }
}

/** run() with `options`, timed from its first byte (seen through `onData`) to its result. */
async function runCapture(options) {
  const { run } = await import('../dist/index.js');
  let peakRss = process.memoryUsage.rss();
  let first;
  let seen = 0;
  let nextSample = 1_000_000;
  const result = await run(process.execPath, generatorArgs, {
    ...options,
    // Only to time from the first byte, as the other contenders do.
    onData: (chunk) => {
      first ??= now();
      seen += chunk.length;
      if (seen >= nextSample) {
        nextSample += 1_000_000;
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
      }
    },
  });
  const ms = msSince(first);
  checkResult(result);
  // The newest maxBufferBytes, from its first whole line on, without the last newline.
  const kept = options.maxBufferBytes ?? 64 * 2 ** 20;
  const expected = Math.floor(kept / 100) * 100 - 1;
  if (result.stdout.length !== expected) {
    throw new Error(`run(): stdout of ${result.stdout.length} characters`);
  }
  return {
    ms,
    bytes: result.output.bytes,
    lines: result.output.lines,
    peakRss: Math.max(peakRss, process.memoryUsage.rss()),
  };
}

/** start() + batches(), the consumer stalling `stallMs` after its first batch. */
async function runyardBatches(stallMs) {
  const { start } = await import('../dist/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'runyard-bench-'));
  try {
    const handle = start(process.execPath, generatorArgs, { logDir: dir });
    let lines = 0;
    let bytes = 0;
    let next = 1;
    let nextSample = 10_000;
    let peakRss = process.memoryUsage.rss();
    let first;
    for await (const batch of handle.output.batches()) {
      first ??= now();
      if (batch.firstSeq !== next) throw new Error(`expected seq ${next}, got ${batch.firstSeq}`);
      next = batch.lastSeq + 1;
      lines += batch.count;
      bytes += batch.bytes.length;
      if (lines >= nextSample) {
        nextSample += 10_000;
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
      }
      if (stallMs > 0 && lines === batch.count) await sleep(stallMs);
    }
    const result = await handle.result;
    const ms = msSince(first);
    checkResult(result);
    return {
      ms,
      bytes,
      lines,
      peakRss: Math.max(peakRss, process.memoryUsage.rss()),
      childMs: Date.parse(result.finishedAt) - Date.parse(result.startedAt),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

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
    const goal = goals[name];
    rows.push({
      name: `${labels[name]}: MB/s`,
      figure: `${fmt(mbps(name))} MB/s`,
      baseline: name === 'raw' ? '—' : `raw ${fmt(raw)} MB/s`,
      ratio: ratio(mbps(name), raw),
      goal: goal ? `≥ ${fmt(goal, 2)}×` : '—',
      met: goal ? yesNo(mbps(name) / raw >= goal) : '—',
    });
  }
  for (const name of names) {
    const isRunyard = name in goals || name === 'stalled';
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
  const ratios = (name) =>
    results[name].map((r, i) =>
      fmt(totalBytes / 1e3 / r.ms / (totalBytes / 1e3 / results.raw[i].ms), 2),
    );
  for (const name of names.filter((n) => n !== 'raw')) {
    console.log(
      `- ${labels[name]}: per-round ratio to that round's raw ${ratios(name).join(', ')}`,
    );
  }
  const childMs = results.stalled.map((r) => fmt(r.childMs));
  console.log(
    `- batches(), 2 s stall: every line arrived in order; the child ran ${childMs.join(', ')} ms (spawn to exit) while its consumer slept 2,000 ms`,
  );
}
