/*
 * `advise()` and `explain()`: which pattern fits a described job, with the reasons.
 */
import type { Pattern } from '../core/types.js';
import {
  checkBoolean,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPlainObject,
  invalid,
} from '../core/validate.js';

/** What is known about the work; every field is optional and unknown means "no". */
export interface AdviceRequest {
  /** How long one task is expected to take, in milliseconds. Over 60 s → long-running. */
  readonly expectedDurationMs?: number;
  /** The caller wants the output line by line while it runs. */
  readonly streaming?: boolean;
  /**
   * How many tasks are there to run. More than one → concurrent.
   * @default 1
   */
  readonly taskCount?: number;
  /**
   * The caller waits for the result. `false` → fire-and-forget.
   * @default true
   */
  readonly needsResult?: boolean;
  /** The work repeats on a schedule. → periodic, whatever else is true. */
  readonly recurring?: boolean;
  /** How many calls a minute are expected. Over 10 → pooled. */
  readonly perMinute?: number;
  /** The work keeps a CPU busy (with `inProcess`: → pooled). */
  readonly cpuBound?: boolean;
  /** The work is a JavaScript function in this process, not a program. */
  readonly inProcess?: boolean;
}

export interface Advice {
  /** The recommended pattern: the first selection rule that matches. */
  pattern: Pattern;
  /** One plain sentence for every rule: the one that decided, those passed over, those behind it. */
  reasons: string[];
  /** Other patterns that would also fit, best first; never `pattern` itself. */
  alternatives: { pattern: Pattern; why: string }[];
}

export interface PatternExplanation {
  /** The pattern's name, as `Pattern`. */
  name: Pattern;
  useWhen: string;
  benefits: string[];
  limitations: string[];
  /** A short program using runyard's API for this pattern. */
  example: string;
}

/** Expected durations strictly over this are long-running. */
const longRunningOverMs = 60_000;
/** Call rates strictly over this (per minute) are pooled. */
const pooledOverPerMinute = 10;

const requestKeys = [
  'expectedDurationMs',
  'streaming',
  'taskCount',
  'needsResult',
  'recurring',
  'perMinute',
  'cpuBound',
  'inProcess',
] as const;

const patterns: readonly Pattern[] = [
  'simple',
  'long-running',
  'concurrent',
  'fire-and-forget',
  'periodic',
  'pooled',
];

function validateRequest(req: unknown): AdviceRequest {
  if (req === undefined) return {};
  checkPlainObject('requirements', req);
  const record = req as Record<string, unknown>;
  checkKnownKeys('requirements', record, requestKeys);
  checkNonNegativeNumber('expectedDurationMs', record.expectedDurationMs);
  checkNonNegativeNumber('perMinute', record.perMinute);
  const taskCount = record.taskCount;
  if (
    taskCount !== undefined &&
    (typeof taskCount !== 'number' || !Number.isInteger(taskCount) || taskCount < 0)
  ) {
    throw invalid('taskCount', 'a non-negative integer', taskCount);
  }
  for (const key of ['streaming', 'needsResult', 'recurring', 'cpuBound', 'inProcess'] as const) {
    checkBoolean(key, record[key]);
  }
  return record as AdviceRequest;
}

/** `500 ms`, `30 s`, `60.001 s`. */
function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  return `${Number((ms / 1000).toFixed(3))} s`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** One selection rule: whether it matches, and the facts behind either answer. */
interface RuleOutcome {
  pattern: Pattern;
  matches: boolean;
  /** Why it matches, or why not, in plain words. */
  fact: string;
  /** What the pattern does for this work, said when it is chosen. */
  consequence: string;
  /** Why it would also fit, said when it is an alternative. */
  alternativeWhy: string;
}

function evaluateRules(req: AdviceRequest): RuleOutcome[] {
  const recurring = req.recurring === true;
  const streaming = req.streaming === true;
  const duration = req.expectedDurationMs;
  const isLong = duration !== undefined && duration > longRunningOverMs;
  const tasks = req.taskCount;
  const isMany = tasks !== undefined && tasks > 1;
  const noResult = req.needsResult === false;
  const rate = req.perMinute;
  const isFrequent = rate !== undefined && rate > pooledOverPerMinute;
  const isCpuInProcess = req.cpuBound === true && req.inProcess === true;

  const durationFact =
    duration === undefined
      ? 'no expected duration was given'
      : `expected duration ${formatMs(duration)} is ${isLong ? '' : 'not '}over ${formatMs(longRunningOverMs)}`;
  const longFacts = [
    ...(streaming ? ['the output is streamed'] : []),
    ...(isLong ? [durationFact] : []),
  ];

  const taskFact =
    tasks === undefined
      ? 'one task (no task count was given)'
      : tasks === 0
        ? '0 tasks: advice is for one task when there is none yet'
        : plural(tasks, 'task');

  const rateFact =
    rate === undefined
      ? 'no call rate was given'
      : `${rate} a minute is ${isFrequent ? '' : 'not '}over ${pooledOverPerMinute}`;
  const cpuFact = isCpuInProcess
    ? 'a CPU-bound function runs in process'
    : req.cpuBound === true
      ? 'the CPU-bound work is not an in-process function (a program has its own process)'
      : 'not a CPU-bound in-process function';
  const pooledFacts = [...(isFrequent ? [rateFact] : []), ...(isCpuInProcess ? [cpuFact] : [])];

  return [
    {
      pattern: 'periodic',
      matches: recurring,
      fact: recurring ? 'the work is recurring' : 'not recurring',
      consequence: 'a Scheduler fires it on its schedule and records every run',
      alternativeWhy: 'the work is recurring: a Scheduler can fire it',
    },
    {
      pattern: 'long-running',
      matches: streaming || isLong,
      fact:
        longFacts.length > 0
          ? longFacts.join(' and ')
          : `${durationFact} and the output is not streamed`,
      consequence: 'start() returns a handle with live output and graceful cancellation',
      alternativeWhy: `${longFacts.join(' and ')}: start() gives live output and cancel()`,
    },
    {
      pattern: 'concurrent',
      matches: isMany,
      fact: isMany ? `${taskFact} can run at once` : `${taskFact}, nothing to run side by side`,
      consequence: 'an Executor runs them under its concurrency limit, one result each',
      alternativeWhy: `${taskFact} could run at once`,
    },
    {
      pattern: 'fire-and-forget',
      matches: noResult,
      fact: noResult
        ? 'the result is not needed'
        : req.needsResult === true
          ? 'the result is needed'
          : 'the result is needed (the default)',
      consequence: 'a TaskManager launches it, returns at once and keeps its record in the store',
      alternativeWhy: 'the result is not needed: a TaskManager can launch it and keep its record',
    },
    {
      pattern: 'pooled',
      matches: isFrequent || isCpuInProcess,
      fact: pooledFacts.length > 0 ? pooledFacts.join(' and ') : `${rateFact}, and ${cpuFact}`,
      consequence: isCpuInProcess
        ? 'a ThreadPool takes it off the event loop on warm worker threads'
        : 'a pool of warm workers (ProcessPool or ThreadPool) saves a start-up per call',
      alternativeWhy: `${pooledFacts.join(' and ')}: a pool keeps warm workers`,
    },
  ];
}

/**
 * Recommends one of the six patterns for a piece of work, with the reasons in plain words and
 * the other patterns that would also fit. Selection rules, first match wins: recurring →
 * periodic; streaming or expected duration over 60 s → long-running; more than one task →
 * concurrent; result not needed → fire-and-forget; over 10 a minute or a CPU-bound
 * in-process function → pooled; otherwise simple.
 *
 * @example
 * const advice = advise({ expectedDurationMs: 120_000, taskCount: 3 });
 * advice.pattern; // 'long-running'
 * advice.alternatives[0]; // { pattern: 'concurrent', why: '3 tasks could run at once, each streamed' }
 */
export function advise(req?: AdviceRequest): Advice {
  const checked = validateRequest(req);
  const rules = evaluateRules(checked);
  const chosenIndex = rules.findIndex((rule) => rule.matches);
  const chosen: Pattern = chosenIndex === -1 ? 'simple' : rules[chosenIndex]!.pattern;
  const reasons: string[] = [];
  const alternatives: { pattern: Pattern; why: string }[] = [];

  rules.forEach((rule, index) => {
    if (chosenIndex === -1 || index < chosenIndex) {
      reasons.push(`Not ${rule.pattern}: ${rule.fact}.`);
    } else if (index === chosenIndex) {
      reasons.push(`Chose ${rule.pattern}: ${rule.fact}, so ${rule.consequence}.`);
    } else if (rule.matches) {
      reasons.push(`Also fits ${rule.pattern}, but ${chosen} comes first: ${rule.fact}.`);
      alternatives.push({
        pattern: rule.pattern,
        why:
          rule.pattern === 'concurrent' && chosen === 'long-running'
            ? `${rule.alternativeWhy}, each streamed`
            : rule.alternativeWhy,
      });
    } else {
      reasons.push(`Not ${rule.pattern} either: ${rule.fact}.`);
    }
  });

  if (chosen === 'simple') {
    reasons.push(
      'Chose simple: no rule above matched, so run() runs the task and waits for its result.',
    );
  } else if (chosen === 'long-running' && checked.streaming !== true && alternatives.length === 0) {
    // Long only because of its duration, alone, result awaited: waiting still works.
    alternatives.push({
      pattern: 'simple',
      why: 'only the final result is used: run() with a timeoutMs waits for it, without live output',
    });
  }
  return { pattern: chosen, reasons, alternatives };
}

const explanations: Readonly<Record<Pattern, PatternExplanation>> = {
  simple: {
    name: 'simple',
    useWhen: 'one short task of known length (under 60 s) whose result you wait for',
    benefits: [
      'one call, one awaited RunResult with stdout, stderr and exit code',
      'lowest overhead: no store, no queue',
      'timeoutMs and an AbortSignal still end the whole process tree',
    ],
    limitations: [
      'no output until it ends; the caller waits the whole time',
      'one task at a time unless you combine it with an Executor',
    ],
    example: `import { run } from 'runyard';

const result = await run('git', ['rev-parse', 'HEAD'], { timeoutMs: 10_000 });
if (result.ok) console.log(result.stdout);`,
  },
  'long-running': {
    name: 'long-running',
    useWhen: 'a task over 60 s, or one whose output you want line by line while it runs',
    benefits: [
      'returns a handle at once: id, pid, live lines, result',
      'graceful cancel(): SIGTERM to the process tree, SIGKILL after killGraceMs',
      'output kept in a log file that late readers can replay',
    ],
    limitations: [
      'more moving parts than run(): a handle to keep and a result to await',
      'lives only as long as this process; use a TaskManager for work that must survive it',
    ],
    example: `import { start } from 'runyard';

const handle = start('python3', ['train.py'], { logDir: '.runyard/logs' });
for await (const line of handle.lines()) {
  if (line.text.includes('loss: nan')) await handle.cancel('diverged');
}
const result = await handle.result;`,
  },
  concurrent: {
    name: 'concurrent',
    useWhen: 'several tasks to run at once, under a limit',
    benefits: [
      'a concurrency limit and CPU/memory admission protect the machine',
      'one result per task, in order; a failure never rejects the batch',
      'progress events for a live display',
    ],
    limitations: [
      'more memory and processes at once than running them one by one',
      'the batch lives in this process; launch through a TaskManager for durable runs',
    ],
    example: `import { Executor } from 'runyard';

await using executor = new Executor({ concurrency: 4 });
const results = await executor.runAll(
  ['a.mov', 'b.mov', 'c.mov'].map((file) => ({ command: 'ffmpeg', args: ['-i', file, \`\${file}.mp4\`] })),
  { onProgress: (p) => console.log(\`\${p.done}/\${p.total}\`) },
);`,
  },
  'fire-and-forget': {
    name: 'fire-and-forget',
    useWhen: 'work you launch without waiting for its result: notifications, reports',
    benefits: [
      'returns at once with a run id; the run is recorded in the store',
      'retries with backoff and idempotency keys',
      'recover() settles runs a crashed process left behind',
    ],
    limitations: [
      'the caller does not see failures unless it looks the run up or listens for events',
      'needs a store',
    ],
    example: `import { openStore, TaskManager } from 'runyard';

const manager = new TaskManager({ store: await openStore('sqlite:.runyard/runyard.db') });
const queued = await manager.launch(
  { command: 'node', args: ['notify.js', '--to', 'ops'] },
  { name: 'notify', retries: { attempts: 3, backoffMs: 2000 } },
);
console.log(queued.id);`,
  },
  periodic: {
    name: 'periodic',
    useWhen: 'work on a schedule: maintenance, cleanup, syncs, reports',
    benefits: [
      'cron expressions with time zones, or a fixed interval',
      'overlap protection: a tick is skipped while the previous run goes on',
      'every firing is a run in the store, with its history',
    ],
    limitations: [
      'fires only while the process that runs the Scheduler is up',
      'a missed tick is not run later',
    ],
    example: `import { openStore, Scheduler, TaskManager } from 'runyard';

const manager = new TaskManager({ store: await openStore('sqlite:.runyard/runyard.db') });
const scheduler = new Scheduler({ manager });
scheduler.add('nightly-cleanup', { cron: '0 30 2 * * *' }, { command: './cleanup.sh' });`,
  },
  pooled: {
    name: 'pooled',
    useWhen: 'high-frequency calls (over 10 a minute) or a CPU-bound function in this process',
    benefits: [
      'warm workers: no process or thread start-up per call',
      'CPU-bound functions leave the event loop free',
      'a crashed worker is replaced; its task fails with ERR_WORKER_CRASHED',
    ],
    limitations: [
      'the handler must live in its own module (a file the workers load)',
      'payloads and results are copied between workers',
    ],
    example: `import { ThreadPool } from 'runyard';

// resize.js: export default async function (payload, { signal }) { ...; return result; }
await using pool = new ThreadPool({ filename: new URL('./resize.js', import.meta.url) });
const thumbnail = await pool.run({ path: 'photo.jpg', width: 320 }, { timeoutMs: 5000 });`,
  },
};

/**
 * Describes one pattern: its name, when to use it, benefits, limitations and an example.
 *
 * @example
 * explain('pooled').useWhen; // 'high-frequency calls (over 10 a minute) or ...'
 */
export function explain(pattern: Pattern): PatternExplanation {
  if (typeof pattern !== 'string' || !Object.hasOwn(explanations, pattern)) {
    throw invalid('pattern', `one of ${patterns.join(', ')}`, pattern);
  }
  const explanation = explanations[pattern];
  return {
    ...explanation,
    benefits: [...explanation.benefits],
    limitations: [...explanation.limitations],
  };
}
