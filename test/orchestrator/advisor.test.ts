import { describe, expect, it } from 'vitest';
import type { Pattern } from '../../src/core/types.js';
import { type AdviceRequest, advise, explain } from '../../src/orchestrator/advisor.js';

const patterns: Pattern[] = [
  'simple',
  'long-running',
  'concurrent',
  'fire-and-forget',
  'periodic',
  'pooled',
];

/** [label, requirements, expected pattern, text the deciding reason must contain] */
const scenarios: [string, AdviceRequest, Pattern, string][] = [
  // Simple: nothing else applies.
  ['nothing known', {}, 'simple', 'no rule above matched'],
  ['30 s', { expectedDurationMs: 30_000 }, 'simple', 'no rule above matched'],
  ['exactly 60 s', { expectedDurationMs: 60_000 }, 'simple', 'no rule above matched'],
  ['0 ms', { expectedDurationMs: 0 }, 'simple', 'no rule above matched'],
  ['500 ms', { expectedDurationMs: 500 }, 'simple', 'no rule above matched'],
  ['one task', { taskCount: 1 }, 'simple', 'no rule above matched'],
  ['0 tasks', { taskCount: 0 }, 'simple', 'no rule above matched'],
  ['result needed explicitly', { needsResult: true }, 'simple', 'no rule above matched'],
  ['exactly 10 a minute', { perMinute: 10 }, 'simple', 'no rule above matched'],
  ['9.5 a minute', { perMinute: 9.5 }, 'simple', 'no rule above matched'],
  ['CPU-bound program', { cpuBound: true }, 'simple', 'no rule above matched'],
  ['in-process, not CPU-bound', { inProcess: true }, 'simple', 'no rule above matched'],
  ['CPU-bound, inProcess false', { cpuBound: true, inProcess: false }, 'simple', 'no rule above'],
  [
    'every flag false',
    {
      streaming: false,
      recurring: false,
      cpuBound: false,
      inProcess: false,
      needsResult: true,
    },
    'simple',
    'no rule above matched',
  ],
  [
    'not recurring, 1 task, 60 s',
    {
      recurring: false,
      taskCount: 1,
      expectedDurationMs: 60_000,
    },
    'simple',
    'no rule above matched',
  ],
  [
    '10 a minute, one task, 5 s',
    {
      perMinute: 10,
      taskCount: 1,
      expectedDurationMs: 5000,
    },
    'simple',
    'no rule above matched',
  ],
  // Periodic: first rule, wins over everything.
  ['recurring', { recurring: true }, 'periodic', 'the work is recurring'],
  ['recurring and streaming', { recurring: true, streaming: true }, 'periodic', 'recurring'],
  ['recurring, no result', { recurring: true, needsResult: false }, 'periodic', 'recurring'],
  ['recurring, 2 h', { recurring: true, expectedDurationMs: 7_200_000 }, 'periodic', 'recurring'],
  ['recurring, 5 tasks', { recurring: true, taskCount: 5 }, 'periodic', 'recurring'],
  ['recurring, 100 a minute', { recurring: true, perMinute: 100 }, 'periodic', 'recurring'],
  [
    'recurring, CPU-bound in process',
    {
      recurring: true,
      cpuBound: true,
      inProcess: true,
    },
    'periodic',
    'recurring',
  ],
  [
    'recurring, everything else too',
    {
      recurring: true,
      streaming: true,
      expectedDurationMs: 600_000,
      taskCount: 4,
      needsResult: false,
      perMinute: 60,
      cpuBound: true,
      inProcess: true,
    },
    'periodic',
    'recurring',
  ],
  // Long-running: streaming or strictly over 60 s.
  ['60,001 ms', { expectedDurationMs: 60_001 }, 'long-running', '60.001 s is over 60 s'],
  ['90 s, streaming', { expectedDurationMs: 90_000, streaming: true }, 'long-running', 'streamed'],
  ['90 s', { expectedDurationMs: 90_000 }, 'long-running', '90 s is over 60 s'],
  ['streaming only', { streaming: true }, 'long-running', 'the output is streamed'],
  ['streaming, 10 s', { streaming: true, expectedDurationMs: 10_000 }, 'long-running', 'streamed'],
  ['120 s, 3 tasks', { expectedDurationMs: 120_000, taskCount: 3 }, 'long-running', '120 s'],
  ['2 h', { expectedDurationMs: 7_200_000 }, 'long-running', '7200 s is over 60 s'],
  ['streaming, no result', { streaming: true, needsResult: false }, 'long-running', 'streamed'],
  [
    '5 min, no result',
    { expectedDurationMs: 300_000, needsResult: false },
    'long-running',
    '300 s',
  ],
  ['streaming, 50 a minute', { streaming: true, perMinute: 50 }, 'long-running', 'streamed'],
  [
    '90 s CPU-bound in process',
    {
      expectedDurationMs: 90_000,
      cpuBound: true,
      inProcess: true,
    },
    'long-running',
    '90 s is over 60 s',
  ],
  [
    'streaming, 8 tasks, no result',
    {
      streaming: true,
      taskCount: 8,
      needsResult: false,
    },
    'long-running',
    'streamed',
  ],
  [
    'recurring false, 61 s',
    { recurring: false, expectedDurationMs: 61_000 },
    'long-running',
    '61 s',
  ],
  // Concurrent: more than one task.
  ['2 tasks', { taskCount: 2 }, 'concurrent', '2 tasks can run at once'],
  ['3 tasks, 30 s', { taskCount: 3, expectedDurationMs: 30_000 }, 'concurrent', '3 tasks'],
  ['100 tasks', { taskCount: 100 }, 'concurrent', '100 tasks'],
  ['3 tasks, exactly 60 s', { taskCount: 3, expectedDurationMs: 60_000 }, 'concurrent', '3 tasks'],
  ['4 tasks, no result', { taskCount: 4, needsResult: false }, 'concurrent', '4 tasks'],
  ['4 tasks, 20 a minute', { taskCount: 4, perMinute: 20 }, 'concurrent', '4 tasks'],
  [
    '5 CPU-bound in-process tasks',
    {
      taskCount: 5,
      cpuBound: true,
      inProcess: true,
    },
    'concurrent',
    '5 tasks',
  ],
  ['2 tasks, streaming false', { taskCount: 2, streaming: false }, 'concurrent', '2 tasks'],
  // Fire-and-forget: result not needed.
  ['no result', { needsResult: false }, 'fire-and-forget', 'the result is not needed'],
  ['no result, 1 task', { needsResult: false, taskCount: 1 }, 'fire-and-forget', 'not needed'],
  ['no result, 0 tasks', { needsResult: false, taskCount: 0 }, 'fire-and-forget', 'not needed'],
  [
    'no result, 30 s',
    { needsResult: false, expectedDurationMs: 30_000 },
    'fire-and-forget',
    'not needed',
  ],
  [
    'no result, exactly 60 s',
    {
      needsResult: false,
      expectedDurationMs: 60_000,
    },
    'fire-and-forget',
    'not needed',
  ],
  [
    'no result, 11 a minute',
    { needsResult: false, perMinute: 11 },
    'fire-and-forget',
    'not needed',
  ],
  [
    'no result, CPU-bound in process',
    {
      needsResult: false,
      cpuBound: true,
      inProcess: true,
    },
    'fire-and-forget',
    'not needed',
  ],
  // Pooled: over 10 a minute, or a CPU-bound in-process function.
  ['11 a minute', { perMinute: 11 }, 'pooled', '11 a minute is over 10'],
  ['10.5 a minute', { perMinute: 10.5 }, 'pooled', '10.5 a minute is over 10'],
  ['600 a minute', { perMinute: 600 }, 'pooled', '600 a minute is over 10'],
  [
    'CPU-bound in-process function',
    {
      cpuBound: true,
      inProcess: true,
    },
    'pooled',
    'a CPU-bound function runs in process',
  ],
  [
    'CPU-bound in process, 1 task, 5 s',
    {
      cpuBound: true,
      inProcess: true,
      taskCount: 1,
      expectedDurationMs: 5000,
    },
    'pooled',
    'CPU-bound function',
  ],
  [
    '11 a minute, CPU-bound in process',
    {
      perMinute: 11,
      cpuBound: true,
      inProcess: true,
    },
    'pooled',
    '11 a minute is over 10 and a CPU-bound function',
  ],
  [
    '11 a minute, result needed, 1 task',
    {
      perMinute: 11,
      needsResult: true,
      taskCount: 1,
    },
    'pooled',
    '11 a minute',
  ],
  [
    '20 a minute, exactly 60 s',
    { perMinute: 20, expectedDurationMs: 60_000 },
    'pooled',
    '20 a minute',
  ],
  ['11 a minute, CPU-bound program', { perMinute: 11, cpuBound: true }, 'pooled', '11 a minute'],
];

describe('advise() selection table', () => {
  it('has at least 60 scenarios', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(60);
  });

  it.each(scenarios)('%s: %o → %s', (_label, req, expected, deciding) => {
    const advice = advise(req);
    expect(advice.pattern).toBe(expected);
    expect(advice.reasons.length).toBeGreaterThan(0);
    const chosen = advice.reasons.filter((reason) => reason.startsWith('Chose '));
    expect(chosen).toHaveLength(1);
    expect(chosen[0]).toMatch(new RegExp(`^Chose ${expected}: `));
    expect(chosen[0]).toContain(deciding);
    expect(advice.alternatives.map((a) => a.pattern)).not.toContain(expected);
    expect(new Set(advice.alternatives.map((a) => a.pattern)).size).toBe(
      advice.alternatives.length,
    );
    for (const alternative of advice.alternatives) expect(alternative.why).not.toBe('');
  });
});

describe('advise() reasons and alternatives', () => {
  it('says why every rule before the decision was passed over', () => {
    expect(advise({ expectedDurationMs: 30_000 }).reasons).toEqual([
      'Not periodic: not recurring.',
      'Not long-running: expected duration 30 s is not over 60 s and the output is not streamed.',
      'Not concurrent: one task (no task count was given), nothing to run side by side.',
      'Not fire-and-forget: the result is needed (the default).',
      'Not pooled: no call rate was given, and not a CPU-bound in-process function.',
      'Chose simple: no rule above matched, so run() runs the task and waits for its result.',
    ]);
  });

  it('names the rules behind the decision that also fit', () => {
    const advice = advise({ expectedDurationMs: 120_000, taskCount: 3 });
    expect(advice.pattern).toBe('long-running');
    expect(advice.reasons).toContain(
      'Also fits concurrent, but long-running comes first: 3 tasks can run at once.',
    );
    expect(advice.reasons).toContain(
      'Not fire-and-forget either: the result is needed (the default).',
    );
    expect(advice.alternatives).toEqual([
      { pattern: 'concurrent', why: '3 tasks could run at once, each streamed' },
    ]);
  });

  it('ranks alternatives in rule order', () => {
    const advice = advise({
      recurring: true,
      streaming: true,
      taskCount: 2,
      needsResult: false,
      perMinute: 30,
    });
    expect(advice.pattern).toBe('periodic');
    expect(advice.alternatives.map((a) => a.pattern)).toEqual([
      'long-running',
      'concurrent',
      'fire-and-forget',
      'pooled',
    ]);
    expect(advice.reasons).toHaveLength(5);
  });

  it('offers simple for work that is long only by its duration', () => {
    expect(advise({ expectedDurationMs: 90_000 }).alternatives).toEqual([
      {
        pattern: 'simple',
        why: 'only the final result is used: run() with a timeoutMs waits for it, without live output',
      },
    ]);
    expect(advise({ expectedDurationMs: 90_000, streaming: true }).alternatives).toEqual([]);
  });

  it('explains a CPU-bound program that is not pooled', () => {
    expect(advise({ cpuBound: true }).reasons).toContain(
      'Not pooled: no call rate was given, and the CPU-bound work is not an in-process function (a program has its own process).',
    );
  });

  it('says what 0 tasks means', () => {
    expect(advise({ taskCount: 0 }).reasons[2]).toContain('0 tasks');
  });

  it('takes no argument as no requirements', () => {
    expect(advise().pattern).toBe('simple');
  });

  it('does not mutate the request', () => {
    const req = Object.freeze({ expectedDurationMs: 90_000, taskCount: 2 });
    expect(advise(req).pattern).toBe('long-running');
  });
});

describe('advise() validation', () => {
  it.each([
    ['null', null, 'Expected `requirements` to be an object, got `null` (null)'],
    ['a number', 5, 'Expected `requirements` to be an object, got `5` (number)'],
    ['a string', '90s', 'Expected `requirements` to be an object, got `"90s"` (string)'],
    ['an array', [], 'Expected `requirements` to be an object, got `[]` (array)'],
    [
      'a negative duration',
      { expectedDurationMs: -1 },
      'Expected `expectedDurationMs` to be a non-negative finite number, got `-1` (number)',
    ],
    [
      'an infinite duration',
      { expectedDurationMs: Number.POSITIVE_INFINITY },
      'Expected `expectedDurationMs` to be a non-negative finite number',
    ],
    [
      'a duration string',
      { expectedDurationMs: '90s' },
      'Expected `expectedDurationMs` to be a non-negative finite number, got `"90s"` (string)',
    ],
    [
      'a non-boolean flag',
      { streaming: 'yes' },
      'Expected `streaming` to be a boolean, got `"yes"` (string)',
    ],
    [
      'needsResult 0',
      { needsResult: 0 },
      'Expected `needsResult` to be a boolean, got `0` (number)',
    ],
    ['recurring 1', { recurring: 1 }, 'Expected `recurring` to be a boolean'],
    ['cpuBound null', { cpuBound: null }, 'Expected `cpuBound` to be a boolean'],
    ['inProcess string', { inProcess: 'true' }, 'Expected `inProcess` to be a boolean'],
    [
      'a fractional task count',
      { taskCount: 1.5 },
      'Expected `taskCount` to be a non-negative integer, got `1.5` (number)',
    ],
    [
      'a negative task count',
      { taskCount: -1 },
      'Expected `taskCount` to be a non-negative integer, got `-1` (number)',
    ],
    [
      'a NaN task count',
      { taskCount: Number.NaN },
      'Expected `taskCount` to be a non-negative integer',
    ],
    [
      'a negative rate',
      { perMinute: -3 },
      'Expected `perMinute` to be a non-negative finite number, got `-3` (number)',
    ],
    [
      'an unknown key',
      { duration: 90_000 },
      'Unknown option `requirements.duration`. Known options: expectedDurationMs',
    ],
  ])('refuses %s', (_label, req, message) => {
    let caught: unknown;
    try {
      advise(req as AdviceRequest);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ name: 'RunyardError', code: 'ERR_INVALID' });
    expect((caught as Error).message).toContain(message);
  });
});

describe('explain()', () => {
  it.each(patterns)('gives the five fields for %s', (pattern) => {
    const explanation = explain(pattern);
    expect(Object.keys(explanation).sort()).toEqual(
      ['benefits', 'example', 'limitations', 'name', 'useWhen'].sort(),
    );
    expect(explanation.name).toBe(pattern);
    expect(explanation.useWhen.length).toBeGreaterThan(10);
    expect(explanation.benefits.length).toBeGreaterThanOrEqual(2);
    expect(explanation.limitations.length).toBeGreaterThanOrEqual(2);
    expect(explanation.example).toMatch(/^import \{ [^}]+ \} from 'runyard';\n/);
  });

  it.each([
    ['simple', /\brun\(/],
    ['long-running', /\bstart\(/],
    ['concurrent', /new Executor\(/],
    ['fire-and-forget', /new TaskManager\(/],
    ['periodic', /new Scheduler\(/],
    ['pooled', /new (ThreadPool|ProcessPool)\(|ProcessPool\.(node|python)\(/],
  ] as const)('shows %s with the real API', (pattern, call) => {
    expect(explain(pattern).example).toMatch(call);
  });

  it('imports only names runyard exports', async () => {
    const runyard = (await import('../../src/index.js')) as Record<string, unknown>;
    for (const pattern of patterns) {
      const imported = /^import \{ ([^}]+) \}/.exec(explain(pattern).example)![1]!;
      for (const name of imported.split(',').map((n) => n.trim())) {
        expect(runyard[name], `${pattern}: ${name}`).toBeDefined();
      }
    }
  });

  it('returns a copy the caller may change', () => {
    explain('simple').benefits.push('changed');
    expect(explain('simple').benefits).not.toContain('changed');
  });

  it.each([
    ['an unknown name', 'batch', '`"batch"` (string)'],
    ['undefined', undefined, '`undefined` (undefined)'],
    ['an inherited key', 'toString', '`"toString"` (string)'],
  ])('refuses %s', (_label, value, shown) => {
    expect(() => explain(value as Pattern)).toThrow(
      `Expected \`pattern\` to be one of simple, long-running, concurrent, fire-and-forget, periodic, pooled, got ${shown}`,
    );
    expect(() => explain(value as Pattern)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID' }),
    );
  });
});

describe('docs/advice.md', () => {
  it('shows the alternatives advise() gives', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(new URL('../../docs/advice.md', import.meta.url), 'utf8');
    const rows = text
      .split('\n')
      .filter((line) => line.startsWith('| `{ '))
      .map((line) => line.split('|').map((cell) => cell.trim()));
    expect(rows.length).toBeGreaterThanOrEqual(8);
    for (const [, requirements, pattern, alternatives] of rows) {
      const req = Function(`return (${requirements!.slice(1, -1)})`)() as AdviceRequest;
      const advice = advise(req);
      expect(`\`${advice.pattern}\``, requirements).toBe(pattern);
      const shown = advice.alternatives.map((a) => `\`${a.pattern}\``).join(', ') || '–';
      expect(shown, requirements).toBe(alternatives);
    }
  });
});
