// Firing lateness of schedules: how long after its due time each firing's task starts, for a
// 100 ms interval and a per-second cron, over SCHEDULE_BENCH_SECONDS (default 30) each.
//
// - runyard `Scheduler` (no manager: the task is a function run in this process), against
// - croner alone (`new Cron('* * * * * *', fn)`), the cron reference, and
// - `setInterval(fn, 100)`, which chains its ticks and so drifts.
//
// Two phases run one after the other, two contenders at a time in the same process, so each
// pair shares the machine's noise: (A) runyard everyMs 100 beside croner's per-second cron,
// (B) setInterval 100 beside runyard's per-second cron. The intervals start 50 ms past a
// second, so no interval tick lands on a cron second and the two never compete for a wake.
//
// Times are read with `performance.timeOrigin + performance.now()`, calibrated against
// `Date.now()` (which the schedulers use) at its millisecond ticks, so lateness has sub-ms
// resolution. The n-th firing is compared with start + n × period, n counted from the first
// firing. Reported: p50/p99 lateness, drift (the last firing's offset), and dropped firings
// (due times before the stop that got no firing).
import { Cron } from 'croner';
import { Scheduler } from '../dist/index.js';
import { fmt, percentile, printTable, sleep, yesNo } from './lib.js';

const seconds = Number(process.env.SCHEDULE_BENCH_SECONDS ?? 30);
if (!(seconds > 0)) throw new Error('SCHEDULE_BENCH_SECONDS must be a positive number');
const durationMs = seconds * 1000;
const INTERVAL_MS = 100;

/** Milliseconds since the epoch, sub-ms, on the same footing as Date.now(). */
const offset = calibrate();
const hiNow = () => performance.timeOrigin + performance.now() - offset;

/** The high-resolution clock's lead over Date.now(), measured where Date.now() ticks. */
function calibrate() {
  const samples = [];
  for (let i = 0; i < 50; i++) {
    const start = Date.now();
    let now = start;
    while (now === start) now = Date.now();
    samples.push(performance.timeOrigin + performance.now() - now);
  }
  return percentile(samples, 50);
}

/** Waits until Date.now() is `ms` past a whole second. */
async function alignTo(ms) {
  const wait = (ms - (Date.now() % 1000) + 1000) % 1000;
  await sleep(wait);
  while (Date.now() % 1000 < ms) {}
}

/**
 * How late each firing's task started: `times` are the start times, `periodMs` the period,
 * `firstDue` the first due time, `stopAt` when the contender was stopped. The n-th firing is
 * compared with start + n × period (n counted, not looked up), so a timer that drifts is
 * charged for it; due times up to 10 ms before the stop with no firing count as dropped.
 */
function analyse(times, periodMs, firstDue, stopAt) {
  const late = times.map((t, n) => t - (firstDue + n * periodMs));
  const due = Math.floor((stopAt - 10 - firstDue) / periodMs) + 1;
  const fired = late.filter((_, n) => firstDue + n * periodMs <= stopAt - 10).length;
  return {
    count: times.length,
    p50: percentile(late, 50),
    p99: percentile(late, 99),
    max: Math.max(...late),
    drift: late[late.length - 1],
    dropped: Math.max(0, due - fired),
  };
}

async function runyardInterval(stopAt) {
  const times = [];
  const scheduler = new Scheduler();
  const schedule = scheduler.add(
    'bench-interval',
    { everyMs: INTERVAL_MS },
    {
      fn: () => {
        times.push(hiNow());
      },
    },
  );
  const firstDue = schedule.nextRunAt.getTime();
  await sleep(stopAt - Date.now());
  await scheduler.stop({ graceMs: 0 });
  return { times, firstDue };
}

async function runyardCron(stopAt) {
  const times = [];
  const scheduler = new Scheduler();
  const schedule = scheduler.add(
    'bench-cron',
    { cron: '* * * * * *', timezone: 'UTC' },
    {
      fn: () => {
        times.push(hiNow());
      },
    },
  );
  const firstDue = schedule.nextRunAt.getTime();
  await sleep(stopAt - Date.now());
  await scheduler.stop({ graceMs: 0 });
  return { times, firstDue };
}

async function cronerCron(stopAt) {
  const times = [];
  const job = new Cron('* * * * * *', { timezone: 'UTC' }, () => {
    times.push(hiNow());
  });
  const firstDue = job.nextRun().getTime();
  await sleep(stopAt - Date.now());
  job.stop();
  return { times, firstDue };
}

async function plainSetInterval(stopAt) {
  const times = [];
  const start = Date.now();
  const timer = setInterval(() => {
    times.push(hiNow());
  }, INTERVAL_MS);
  await sleep(stopAt - Date.now());
  clearInterval(timer);
  return { times, firstDue: start + INTERVAL_MS };
}

console.log(
  `\nPhase A: runyard everyMs ${INTERVAL_MS} beside croner per-second cron, ${seconds} s`,
);
await alignTo(50);
const stopA = Date.now() + durationMs;
const [runyardEvery, croner] = await Promise.all([runyardInterval(stopA), cronerCron(stopA)]);

console.log(`Phase B: setInterval ${INTERVAL_MS} beside runyard per-second cron, ${seconds} s`);
await alignTo(50);
const stopB = Date.now() + durationMs;
const [timerEvery, runyardEveryCron] = await Promise.all([
  plainSetInterval(stopB),
  runyardCron(stopB),
]);

const interval = analyse(runyardEvery.times, INTERVAL_MS, runyardEvery.firstDue, stopA);
const intervalBase = analyse(timerEvery.times, INTERVAL_MS, timerEvery.firstDue, stopB);
const cron = analyse(runyardEveryCron.times, 1000, runyardEveryCron.firstDue, stopB);
const cronBase = analyse(croner.times, 1000, croner.firstDue, stopA);

const ms = (value) => `${fmt(value, 2)} ms`;
const lateness = (r) => `p50 ${ms(r.p50)}, p99 ${ms(r.p99)}`;
const rows = [
  {
    name: `${INTERVAL_MS} ms interval: runyard everyMs lateness`,
    figure: lateness(interval),
    baseline: `setInterval ${lateness(intervalBase)}`,
    ratio: '—',
    goal: 'p99 ≤ 2 ms',
    met: yesNo(interval.p99 <= 2),
  },
  {
    name: `${INTERVAL_MS} ms interval: drift after ${seconds} s`,
    figure: ms(interval.drift),
    baseline: `setInterval ${ms(intervalBase.drift)}`,
    ratio: '—',
    goal: 'within ±2 ms',
    met: yesNo(Math.abs(interval.drift) <= 2),
  },
  {
    name: `${INTERVAL_MS} ms interval: dropped firings`,
    figure: `${interval.dropped} of ${interval.count + interval.dropped}`,
    baseline: `setInterval ${intervalBase.dropped}`,
    ratio: '—',
    goal: '0',
    met: yesNo(interval.dropped === 0),
  },
  {
    name: 'per-second cron: runyard lateness',
    figure: lateness(cron),
    baseline: `croner ${lateness(cronBase)}`,
    ratio: `${fmt(cron.p99 / cronBase.p99, 2)}× p99`,
    goal: 'p99 ≤ 2 ms',
    met: yesNo(cron.p99 <= 2),
  },
  {
    name: `per-second cron: drift after ${seconds} s`,
    figure: ms(cron.drift),
    baseline: `croner ${ms(cronBase.drift)}`,
    ratio: '—',
    goal: 'within ±2 ms',
    met: yesNo(Math.abs(cron.drift) <= 2),
  },
  {
    name: 'per-second cron: dropped firings',
    figure: `${cron.dropped} of ${cron.count + cron.dropped}`,
    baseline: `croner ${cronBase.dropped}`,
    ratio: '—',
    goal: '0',
    met: yesNo(cron.dropped === 0),
  },
];

printTable(
  `Firing lateness over ${seconds} s (how late each task started after its due time)`,
  rows,
);
console.log('');
console.log(
  `- firings: runyard everyMs ${interval.count} (max ${ms(interval.max)} late), setInterval ${intervalBase.count} (max ${ms(intervalBase.max)}), runyard cron ${cron.count} (max ${ms(cron.max)}), croner ${cronBase.count} (max ${ms(cronBase.max)})`,
);
console.log(
  `- clocks: performance.now() calibrated against Date.now() (offset ${fmt(offset, 3)} ms); a due time is start + n × period on Date.now()'s clock`,
);
