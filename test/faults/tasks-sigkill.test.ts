// SIGKILL of a TaskManager's process at random moments, each followed by recover() in a new
// process on the same SQLite store: nothing of the killed process is left running, no run
// executes twice at once, and every run settles. Apart because each trial is two real runners.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { isTerminalStatus, type RunRecord } from '../../src/core/types.js';
import {
  createReadBuffer,
  isDeadState,
  matchEnviron,
  readProcessTable,
} from '../../src/process/process-table.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const runnerFixture = join(import.meta.dirname, '..', 'fixtures', 'sigkill-runner.mjs');
/** Every process of a trial inherits it, so whatever a trial leaves can be found and ended. */
const trialVariable = 'SIGKILL_SUITE_TRIAL';

/** The seed of every random kill delay: set SIGKILL_SEED to replay a run of the suite. */
const seed = process.env.SIGKILL_SEED ? Number(process.env.SIGKILL_SEED) : randomInt(1, 2 ** 31);

/** mulberry32: a small seeded generator, so one seed gives the same delays every time. */
function seededRandom(start: number): () => number {
  let state = start >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

type RunPlan =
  | {
      kind: 'process';
      /** How long the run's first execution lives; later ones live `holdAgain`. */
      hold: number;
      holdAgain?: number;
      /** A child tree with a setsid escapee below the run's process. */
      tree?: boolean;
      failFirst?: number;
      retries?: { attempts: number; backoffMs: number };
      /** The first execution SIGKILLs its runner as soon as it starts. */
      killRunner?: boolean;
      /** The run's process exits once its runner died, leaving its tree behind. */
      exitWhenOrphaned?: boolean;
    }
  | { kind: 'function'; hold: number };

/** A runner or span event the suite waits for. `index` is the run's place in `runs`. */
interface Anchor {
  source: 'launch' | 'span';
  event: string;
  index?: number;
  status?: string;
  waitingFor?: string;
  attempt?: number;
}

interface TrialPlan {
  name: string;
  concurrency: number;
  runs: RunPlan[];
  /** The store waits this long before recording `running`: the spawn-to-running window. */
  slowRunningMs?: number;
  /** The store waits this long before a terminal record: the child-ended-to-recorded window. */
  slowFinishMs?: number;
  /** The suite kills the runner a random delay in `delayMs` after `after`; or a child does. */
  kill: { after: Anchor; delayMs: [number, number] } | 'by-child';
  /** recover() starts once this happened (an orphan exiting by itself, say). */
  recoverAfter?: Anchor;
  /**
   * Where the kill must have left a run, so the trial cannot pass without testing its moment:
   * its stored status (and why it waits), and whether processes of it still ran.
   */
  moment?: { index: number; status: string; waitingFor?: string; live: boolean };
}

interface Trial extends TrialPlan {
  number: number;
  delayMs: number | undefined;
}

const mix: RunPlan[] = [
  { kind: 'process', hold: 800, tree: true },
  { kind: 'process', hold: 300 },
  { kind: 'function', hold: 600 },
  { kind: 'process', hold: 100, failFirst: 1, retries: { attempts: 3, backoffMs: 200 } },
  { kind: 'process', hold: 100 },
];
const forever = 20_000;

const plans: TrialPlan[] = [
  {
    name: 'just after launch',
    concurrency: 2,
    runs: mix,
    kill: { after: { source: 'launch', event: 'created', index: 0 }, delayMs: [0, 60] },
  },
  {
    name: 'once every run is recorded',
    concurrency: 2,
    runs: mix,
    kill: { after: { source: 'launch', event: 'launched' }, delayMs: [0, 100] },
  },
  {
    name: 'between spawn and `running` (a slow store), a tree beside',
    concurrency: 2,
    slowRunningMs: 1000,
    runs: [
      { kind: 'process', hold: forever, holdAgain: 100 },
      { kind: 'process', hold: forever, holdAgain: 100, tree: true },
    ],
    kill: {
      after: { source: 'launch', event: 'writing', index: 0, status: 'running' },
      delayMs: [0, 400],
    },
    moment: { index: 0, status: 'queued', live: true },
  },
  {
    name: 'a child kills its runner at once, before `running` is recorded (a slow store)',
    concurrency: 1,
    slowRunningMs: 1000,
    runs: [
      { kind: 'process', hold: forever, holdAgain: 100, killRunner: true },
      { kind: 'process', hold: 100 },
    ],
    kill: 'by-child',
    moment: { index: 0, status: 'queued', live: true },
  },
  {
    name: 'a child kills its runner at once (the store at its own pace)',
    concurrency: 1,
    runs: [
      { kind: 'process', hold: forever, holdAgain: 100, killRunner: true },
      { kind: 'process', hold: 100 },
    ],
    kill: 'by-child',
  },
  {
    name: 'while running: a tree with a setsid escapee, a process and a function beside it',
    concurrency: 3,
    runs: [
      { kind: 'process', hold: forever, tree: true },
      { kind: 'process', hold: forever },
      { kind: 'function', hold: forever },
    ],
    kill: { after: { source: 'span', event: 'tree', index: 0 }, delayMs: [0, 300] },
    moment: { index: 0, status: 'running', live: true },
  },
  {
    name: 'while running: the direct child exits once orphaned, its setsid escapee lives on',
    concurrency: 1,
    runs: [{ kind: 'process', hold: forever, tree: true, exitWhenOrphaned: true }],
    kill: { after: { source: 'span', event: 'tree', index: 0 }, delayMs: [0, 200] },
    recoverAfter: { source: 'span', event: 'end', index: 0 },
    moment: { index: 0, status: 'running', live: true },
  },
  {
    name: 'while running, process runs queued behind a concurrency of 1',
    concurrency: 1,
    runs: [
      { kind: 'process', hold: forever },
      { kind: 'process', hold: 100 },
      { kind: 'process', hold: 100, tree: true },
    ],
    kill: {
      after: { source: 'launch', event: 'wrote', index: 0, status: 'running' },
      delayMs: [0, 400],
    },
    moment: { index: 0, status: 'running', live: true },
  },
  {
    name: 'function runs running and queued, a process run behind them',
    concurrency: 1,
    runs: [
      { kind: 'function', hold: forever },
      { kind: 'function', hold: 100 },
      { kind: 'process', hold: 100 },
    ],
    kill: {
      after: { source: 'launch', event: 'wrote', index: 0, status: 'running' },
      delayMs: [0, 300],
    },
    moment: { index: 0, status: 'running', live: false },
  },
  {
    name: 'while retrying, in backoff',
    concurrency: 1,
    runs: [
      { kind: 'process', hold: 50, failFirst: 1, retries: { attempts: 3, backoffMs: 1000 } },
      { kind: 'process', hold: 100 },
    ],
    kill: {
      after: { source: 'launch', event: 'wrote', index: 0, waitingFor: 'retry-backoff' },
      delayMs: [0, 600],
    },
    moment: { index: 0, status: 'queued', waitingFor: 'retry-backoff', live: false },
  },
  {
    name: 'while retrying, the second try running',
    concurrency: 1,
    runs: [{ kind: 'process', hold: 1000, failFirst: 1, retries: { attempts: 3, backoffMs: 50 } }],
    kill: {
      after: { source: 'launch', event: 'wrote', index: 0, status: 'running', attempt: 2 },
      delayMs: [0, 400],
    },
    moment: { index: 0, status: 'running', live: true },
  },
  {
    name: 'while finishing: the child ended, its terminal record not yet written (a slow store)',
    concurrency: 2,
    slowFinishMs: 1000,
    runs: [
      { kind: 'process', hold: 200, tree: true },
      { kind: 'function', hold: 200 },
    ],
    kill: {
      after: { source: 'launch', event: 'writing', index: 0, status: 'succeeded' },
      delayMs: [0, 400],
    },
    moment: { index: 0, status: 'running', live: false },
  },
  {
    name: "while finishing: around the child's exit, its tree being ended",
    concurrency: 1,
    runs: [{ kind: 'process', hold: 300, tree: true }],
    kill: { after: { source: 'span', event: 'end', index: 0 }, delayMs: [0, 30] },
  },
  {
    name: 'at any moment',
    concurrency: 2,
    runs: mix,
    kill: { after: { source: 'launch', event: 'launched' }, delayMs: [0, 1500] },
  },
];

const random = seededRandom(seed);
const trials: Trial[] = plans.map((plan, at) => ({
  ...plan,
  number: at + 1,
  delayMs:
    plan.kill === 'by-child'
      ? undefined
      : Math.round(plan.kill.delayMs[0] + random() * (plan.kill.delayMs[1] - plan.kill.delayMs[0])),
}));

/** What one trial started, so `afterEach` ends it even when an assertion failed. */
interface Started {
  dir: string;
  marker: string;
  children: ChildProcess[];
  events?: TrialEvents;
}
let started: Started | undefined;

afterEach(async () => {
  const trial = started;
  started = undefined;
  if (!trial) return;
  trial.events?.stop();
  for (const child of trial.children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await endMarked(trial.marker);
  await rm(trial.dir, { recursive: true, force: true });
});

describe(`SIGKILL of a TaskManager's process, then recover() (seed ${seed}: replay with SIGKILL_SEED=${seed})`, () => {
  for (const trial of trials) {
    const when =
      trial.kill === 'by-child'
        ? 'killed by its child'
        : `killed ${trial.delayMs} ms after ${describeAnchor(trial.kill.after)}`;
    it(`trial ${trial.number}: ${trial.name}, ${when}`, () => runTrial(trial));
  }
});

interface TrialEvent {
  source: 'launch' | 'recover' | 'span';
  event: string;
  index?: number;
  id?: string;
  run?: string;
  status?: string;
  waitingFor?: string;
  attempt?: number;
  pid?: number;
  ppid?: number;
  at?: number;
  execution?: number;
  others?: number[];
  how?: string;
  code?: number;
  summary?: unknown;
  outlived?: number[];
}

/** Runner lines and span lines of one trial, in the order the suite saw them. */
class TrialEvents {
  readonly all: TrialEvent[] = [];
  readonly indexOf = new Map<string, number>();
  readonly #spans: string;
  readonly #listeners = new Set<() => void>();
  readonly #poller: NodeJS.Timeout;
  #consumed = 0;

  constructor(spans: string) {
    this.#spans = spans;
    // The span file is written by many processes; polling it is the plain way to follow it.
    this.#poller = setInterval(() => this.readSpans(), 5);
  }

  follow(child: ChildProcess, source: 'launch' | 'recover'): void {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{')) this.#push({ ...(JSON.parse(line) as TrialEvent), source });
    });
  }

  readSpans(): void {
    let text: string;
    try {
      text = readFileSync(this.#spans, 'utf8');
    } catch {
      return;
    }
    const end = text.lastIndexOf('\n') + 1;
    if (end <= this.#consumed) return;
    const fresh = text.slice(this.#consumed, end);
    this.#consumed = end;
    for (const line of fresh.split('\n')) {
      if (line) this.#push({ ...(JSON.parse(line) as TrialEvent), source: 'span' });
    }
  }

  stop(): void {
    clearInterval(this.#poller);
    this.readSpans();
  }

  /** Resolves with the first event matching `anchor`; rejects after `timeoutMs` or `unless`. */
  until(anchor: Anchor, timeoutMs: number, unless?: Promise<string>): Promise<TrialEvent> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.all.find((event) => this.#matches(event, anchor));
        if (!found) return;
        done();
        resolve(found);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${describeAnchor(anchor)} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      void unless?.then((why) => {
        done();
        reject(new Error(`${why} before ${describeAnchor(anchor)}`));
      });
      this.#listeners.add(check);
      check();
    });
  }

  #matches(event: TrialEvent, anchor: Anchor): boolean {
    if (event.source !== anchor.source || event.event !== anchor.event) return false;
    const index = event.index ?? this.indexOf.get(event.run ?? '');
    if (anchor.index !== undefined && index !== anchor.index) return false;
    return (['status', 'waitingFor', 'attempt'] as const).every(
      (key) => anchor[key] === undefined || anchor[key] === event[key],
    );
  }

  #push(event: TrialEvent): void {
    this.all.push(event);
    if (event.event === 'created' && event.id !== undefined && event.index !== undefined) {
      this.indexOf.set(event.id, event.index);
    }
    for (const listener of this.#listeners) listener();
  }
}

interface Runner {
  child: ChildProcess;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function startRunner(mode: 'launch' | 'recover', configFile: string, trial: Started): Runner {
  const child = spawn(process.execPath, [runnerFixture, mode, configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, [trialVariable]: trial.marker },
  });
  trial.children.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  trial.events!.follow(child, mode);
  // 'close', not 'exit': every line it printed has been read by then.
  const exit = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return { child, exit, stderr: () => stderr.trim() };
}

async function runTrial(trial: Trial): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'runyard-sigkill-'));
  const run: Started = {
    dir,
    marker: `${process.pid}-${trial.number}-${Date.now()}`,
    children: [],
  };
  started = run;
  const db = join(dir, 'runyard.db');
  const spans = join(dir, 'spans.ndjson');
  const configFile = join(dir, 'config.json');
  const config = {
    db,
    logDir: join(dir, 'logs'),
    spans,
    concurrency: trial.concurrency,
    slowRunningMs: trial.slowRunningMs ?? 0,
    slowFinishMs: trial.slowFinishMs ?? 0,
    runs: trial.runs,
  };
  await writeFile(configFile, JSON.stringify(config));
  const events = new TrialEvents(spans);
  run.events = events;
  const context = [`trial ${trial.number} (${trial.name}), seed ${seed}`];
  const violations: string[] = [];

  const launch = startRunner('launch', configFile, run);
  const launchEnded = launch.exit.then(
    ({ code, signal }) => `the runner ended (code ${code}, signal ${signal}): ${launch.stderr()}`,
  );
  if (trial.kill === 'by-child') {
    await bounded(launch.exit, 20_000, 'the runner was not killed by its child');
  } else {
    await events.until(trial.kill.after, 20_000, launchEnded);
    await new Promise((resolve) => setTimeout(resolve, trial.delayMs));
    launch.child.kill('SIGKILL');
  }
  const launchExit = await launch.exit;
  if (launchExit.signal !== 'SIGKILL') {
    violations.push(`the runner ended by itself before the kill: ${await launchEnded}`);
  }
  if (trial.recoverAfter) await events.until(trial.recoverAfter, 10_000);

  // The store and /proc as the crash left them.
  events.readSpans();
  const before = await readRuns(db);
  const liveAtCrash = markedProcesses(run.marker);
  context.push(`at the kill: ${describeRuns(before, liveAtCrash, trial)}`);
  if (trial.moment) violations.push(...missedMoment(trial.moment, before, liveAtCrash, trial));

  const crashProcesses = [...liveAtCrash.values()].flat();
  await writeFile(configFile, JSON.stringify({ ...config, crashProcesses }));
  const recover = startRunner('recover', configFile, run);
  const recoverExit = await bounded(recover.exit, 40_000, 'recover() did not finish');
  const recovered = events.all.find((e) => e.source === 'recover' && e.event === 'recovered');
  if (recoverExit.code !== 0) {
    violations.push(`the recovering runner failed (code ${recoverExit.code}): ${recover.stderr()}`);
  } else if (!events.all.some((e) => e.source === 'recover' && e.event === 'settled')) {
    violations.push('runs were still active 15 s after recover()');
  }
  for (const pid of recovered?.outlived ?? []) {
    const left = crashProcesses.find((p) => p.pid === pid)!;
    violations.push(
      `recover() returned while pid ${pid} (${shortCommand(left.command)}) of ${labelRun(
        left.runId ?? '',
        before,
        trial,
      )}, left by the crash, still ran`,
    );
  }
  events.stop();
  const after = await readRuns(db);
  context.push(
    `recover() said ${JSON.stringify(recovered?.summary)}; after: ${describeRuns(after, new Map(), trial)}`,
  );

  const pids = { launch: launch.child.pid!, recover: recover.child.pid! };
  const executions = executionsOf(events.all);
  const label = (id: string) => labelRun(id, before, trial);
  violations.push(...(await leftovers(run.marker, label)));
  violations.push(...overlaps(executions, pids, label));
  violations.push(...outcomes({ trial, before, after, liveAtCrash, executions, pids, label }));
  console.info(`[sigkill] ${context.join('\n  ')}\n  violations: ${violations.length}`);
  expect(violations, context.join('\n')).toEqual([]);
}

/** The kill must land where the trial says, or the trial tests another moment than its name. */
function missedMoment(
  moment: NonNullable<TrialPlan['moment']>,
  runs: RunRecord[],
  live: Map<string, LiveProcess[]>,
  trial: Trial,
): string[] {
  const record = runs.find((r) => Number(r.labels?.index) === moment.index);
  const alive = record !== undefined && (live.get(record.id)?.length ?? 0) > 0;
  if (
    record?.status === moment.status &&
    (moment.waitingFor === undefined || record.waitingFor === moment.waitingFor) &&
    alive === moment.live
  ) {
    return [];
  }
  const wanted = `${moment.status}${moment.waitingFor ? `/${moment.waitingFor}` : ''} with ${
    moment.live ? 'its processes alive' : 'no process alive'
  }`;
  const got = record ? describeRuns([record], live, trial) : 'not recorded';
  return [`the kill missed its moment: run ${moment.index} should be ${wanted}, it is ${got}`];
}

interface Execution {
  run: string;
  pid: number;
  start: TrialEvent;
  end?: TrialEvent;
}

/** One entry per process (or function call) that ran a run, from the span lines. */
function executionsOf(events: TrialEvent[]): Map<string, Execution[]> {
  const byRun = new Map<string, Execution[]>();
  for (const event of events) {
    if (event.source !== 'span' || event.run === undefined || event.pid === undefined) continue;
    const list = byRun.get(event.run) ?? [];
    byRun.set(event.run, list);
    if (event.event === 'start') list.push({ run: event.run, pid: event.pid, start: event });
    if (event.event === 'end') {
      const execution = list.find((e) => e.pid === event.pid && e.end === undefined);
      if (execution) execution.end = event;
    }
  }
  for (const list of byRun.values()) list.sort((a, b) => a.start.at! - b.start.at!);
  return byRun;
}

function byWhom(ppid: number | undefined, pids: { launch: number; recover: number }): string {
  if (ppid === pids.launch) return 'the killed runner';
  if (ppid === pids.recover) return 'the recovering runner';
  return `pid ${ppid}`;
}

/** Nothing run twice at once: each start saw no live process of its run, and no span crosses. */
function overlaps(
  executions: Map<string, Execution[]>,
  pids: { launch: number; recover: number },
  label: (id: string) => string,
): string[] {
  const found: string[] = [];
  for (const [id, list] of executions) {
    for (const [at, current] of list.entries()) {
      const { start } = current;
      const who = `execution ${start.execution} (pid ${current.pid}, started by ${byWhom(start.ppid, pids)})`;
      if (start.others && start.others.length > 0) {
        found.push(
          `${label(id)}: ${who} began while pid ${start.others.join(', ')} of the same run still ran`,
        );
      }
      const previous = list[at - 1];
      if (previous?.end && previous.end.at! > start.at!) {
        found.push(`${label(id)}: ${who} began before pid ${previous.pid} of the same run ended`);
      }
    }
  }
  return found;
}

/** Every run settled, as its state at the crash says it must. */
function outcomes(facts: {
  trial: Trial;
  before: RunRecord[];
  after: RunRecord[];
  liveAtCrash: Map<string, LiveProcess[]>;
  executions: Map<string, Execution[]>;
  pids: { launch: number; recover: number };
  label: (id: string) => string;
}): string[] {
  const { trial, before, after, liveAtCrash, executions, pids, label } = facts;
  const found: string[] = [];
  const final = new Map(after.map((record) => [record.id, record]));
  for (const crashed of before) {
    const plan = trial.runs[Number(crashed.labels?.index)]!;
    const record = final.get(crashed.id);
    const name = label(crashed.id);
    if (!record) {
      found.push(`${name} is gone from the store`);
      continue;
    }
    const runs = executions.get(crashed.id) ?? [];
    const was = `${crashed.status}${crashed.waitingFor ? ` (${crashed.waitingFor})` : ''}`;
    if (!isTerminalStatus(record.status)) {
      found.push(`${name} is still ${record.status} after recover(); it was ${was} at the kill`);
      continue;
    }
    if (isTerminalStatus(crashed.status)) {
      if (record.status !== crashed.status) {
        found.push(`${name} was ${crashed.status} at the kill, then became ${record.status}`);
      }
      continue;
    }
    const alive = liveAtCrash.get(crashed.id) ?? [];
    const startedByKilled = runs.filter((e) => e.start.ppid === pids.launch);
    if (plan.kind === 'function') {
      if (record.status !== 'interrupted') {
        found.push(
          `${name} was ${was} at the kill; it should be interrupted, it is ${record.status}`,
        );
      }
    } else if (
      crashed.status === 'queued' &&
      alive.length === 0 &&
      (startedByKilled.length === 0 || crashed.waitingFor === 'retry-backoff')
    ) {
      // Nothing of it ran at the crash: recover() takes it over and runs it to its end.
      const finished = runs.some(
        (e) => e.start.ppid === pids.recover && e.end?.how === 'exit' && e.end.code === 0,
      );
      if (record.status !== 'succeeded' || !finished) {
        found.push(
          `${name} was ${was} with nothing running at the kill: it should have been requeued and run to its end, but it is ${record.status}${finished ? '' : ' and the recovering runner never ran it through'}`,
        );
      }
    } else if (record.status !== 'interrupted' && record.status !== 'succeeded') {
      found.push(`${name} was ${was} at the kill; it ended ${record.status}`);
    }
    if (record.status === 'succeeded' && plan.kind === 'process') {
      const clean = runs.find(
        (e) => e.pid === record.pid && e.end?.how === 'exit' && e.end.code === 0,
      );
      if (!clean) {
        found.push(
          `${name} is recorded succeeded with pid ${record.pid}, but no execution of that pid ended cleanly`,
        );
      }
      const attempts = plan.retries?.attempts ?? 1;
      if (record.attempt > attempts) {
        found.push(`${name} is at attempt ${record.attempt} of ${attempts}`);
      }
    }
  }
  return found;
}

interface LiveProcess {
  pid: number;
  startTime: number;
  runId: string | undefined;
  command: string;
}

/** Live processes of a trial (zombies are dead), grouped by the run whose marker they carry. */
function markedProcesses(marker: string): Map<string, LiveProcess[]> {
  const byRun = new Map<string, LiveProcess[]>();
  for (const found of findMarked(marker)) {
    const key = found.runId ?? '';
    byRun.set(key, [...(byRun.get(key) ?? []), found]);
  }
  return byRun;
}

function findMarked(marker: string): LiveProcess[] {
  const entry = Buffer.from(`${trialVariable}=${marker}`);
  const buffer = createReadBuffer();
  const found: LiveProcess[] = [];
  for (const info of readProcessTable().values()) {
    if (isDeadState(info.state) || !matchEnviron(info.pid, entry, buffer)) continue;
    let environ: string[] = [];
    let command = '?';
    try {
      environ = readFileSync(`/proc/${info.pid}/environ`, 'utf8').split('\0');
      command = readFileSync(`/proc/${info.pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    const runId = environ.find((e) => e.startsWith('RUNYARD_RUN_ID='))?.slice(15);
    found.push({ pid: info.pid, startTime: info.startTime, runId, command });
  }
  return found;
}

/** Nothing of the trial is left once recover() is done (a few seconds for the last exits). */
async function leftovers(marker: string, label: (id: string) => string): Promise<string[]> {
  const deadline = Date.now() + 3000;
  let left = findMarked(marker);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    left = findMarked(marker);
  }
  return left.map(
    (p) =>
      `pid ${p.pid} (${shortCommand(p.command)}) of ${
        p.runId ? label(p.runId) : 'no run'
      } still runs after recover()`,
  );
}

/** SIGKILLs everything a trial left, until none is left. */
async function endMarked(marker: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let left = findMarked(marker); left.length > 0; left = findMarked(marker)) {
    if (Date.now() > deadline) {
      throw new Error(`could not end ${left.map((p) => `${p.pid} (${p.command})`).join(', ')}`);
    }
    for (const { pid } of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `node sigkill-span.js spans.ndjson 300` for `/usr/bin/node /tmp/…/sigkill-span.js …`. */
function shortCommand(command: string): string {
  return command.replace(/\S*\//g, '');
}

async function readRuns(path: string): Promise<RunRecord[]> {
  const store = new SqliteStore({ path, backgroundCheckpoints: false });
  try {
    const { runs } = await store.list({ limit: 1000 });
    return runs.sort((a, b) => Number(a.labels?.index) - Number(b.labels?.index));
  } finally {
    await store.close();
  }
}

function labelRun(id: string, runs: RunRecord[], trial: Trial): string {
  const index = Number(runs.find((r) => r.id === id)?.labels?.index);
  const plan = trial.runs[index];
  if (!plan) return `run ${id}`;
  const traits =
    plan.kind === 'function'
      ? ['function']
      : [
          'process',
          ...(plan.tree ? ['tree with a setsid escapee'] : []),
          ...(plan.retries ? [`${plan.retries.attempts} attempts`] : []),
          ...(plan.killRunner ? ['kills its runner'] : []),
        ];
  return `run ${index} (${traits.join(', ')})`;
}

function describeRuns(runs: RunRecord[], live: Map<string, LiveProcess[]>, trial: Trial): string {
  if (runs.length === 0) return 'no run recorded';
  return runs
    .map((record) => {
      const alive = live.get(record.id)?.length ?? 0;
      return `${labelRun(record.id, runs, trial)} ${record.status}${
        record.waitingFor ? `/${record.waitingFor}` : ''
      } attempt ${record.attempt}${alive > 0 ? `, ${alive} live process(es)` : ''}`;
    })
    .join('; ');
}

function describeAnchor(anchor: Anchor): string {
  const what = [
    anchor.status && `status ${anchor.status}`,
    anchor.waitingFor && `waiting for ${anchor.waitingFor}`,
    anchor.attempt && `attempt ${anchor.attempt}`,
  ].filter(Boolean);
  const of = anchor.index === undefined ? '' : ` of run ${anchor.index}`;
  const verb =
    anchor.source === 'span'
      ? `the span line \`${anchor.event}\``
      : `the runner's \`${anchor.event}\``;
  return `${verb}${what.length > 0 ? ` (${what.join(', ')})` : ''}${of}`;
}

async function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
