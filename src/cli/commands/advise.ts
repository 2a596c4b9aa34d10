/*
 * `runyard advise`: prints which pattern suits a described job, and why.
 */
import { type AdviceRequest, advise } from '../../orchestrator/advisor.js';
import { parseDuration } from '../duration.js';
import { noPositionals, parseCommand } from '../parse.js';
import { exitCodes, printUsage, UsageError } from '../usage.js';

export const adviseUsage = `Usage: runyard advise [--duration 2m] [--streaming] [--tasks n] [--no-result]
                      [--recurring] [--per-minute n] [--cpu-bound] [--in-process] [--json]

Recommends one of the six patterns for a piece of work, with the reason for every rule and
the other patterns that would also fit. Rules, first match wins: recurring → periodic;
streaming or over 60 s → long-running; more than one task → concurrent; result not needed →
fire-and-forget; over 10 a minute or a CPU-bound in-process function → pooled; else simple.

Options:
  --duration <d>      expected duration of one task: 500ms, 30s, 2m, 1h30m (a unit is required)
  --streaming         the output is wanted line by line while it runs
  --tasks <n>         how many tasks there are (0 or more)
  --no-result         nobody waits for the result
  --recurring         the work repeats on a schedule
  --per-minute <n>    expected calls a minute
  --cpu-bound         the work keeps a CPU busy
  --in-process        the work is a JavaScript function in this process
  --json              print { pattern, reasons, alternatives } as JSON`;

function parseNumber(
  field: string,
  text: string | undefined,
  integer: boolean,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (
    text.trim() === '' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (integer && !Number.isInteger(value))
  ) {
    throw new UsageError(
      `Expected \`${field}\` to be a non-negative ${integer ? 'integer' : 'number'}, got \`${text}\``,
    );
  }
  return value;
}

export async function adviseCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommand(argv, {
    duration: { type: 'string' },
    streaming: { type: 'boolean' },
    tasks: { type: 'string' },
    'no-result': { type: 'boolean' },
    recurring: { type: 'boolean' },
    'per-minute': { type: 'string' },
    'cpu-bound': { type: 'boolean' },
    'in-process': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return printUsage(adviseUsage);
  noPositionals(positionals);
  const request: AdviceRequest = {
    ...(values.duration !== undefined && {
      expectedDurationMs: parseDuration('--duration', values.duration),
    }),
    ...(values.streaming && { streaming: true }),
    ...(values.tasks !== undefined && { taskCount: parseNumber('--tasks', values.tasks, true) }),
    ...(values['no-result'] && { needsResult: false }),
    ...(values.recurring && { recurring: true }),
    ...(values['per-minute'] !== undefined && {
      perMinute: parseNumber('--per-minute', values['per-minute'], false),
    }),
    ...(values['cpu-bound'] && { cpuBound: true }),
    ...(values['in-process'] && { inProcess: true }),
  };
  const advice = advise(request);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(advice, null, 2)}\n`);
    return exitCodes.ok;
  }
  const lines = [`Recommended: ${advice.pattern}`, '', 'Reasons:'];
  for (const reason of advice.reasons) lines.push(`  - ${reason}`);
  lines.push('', 'Alternatives:');
  if (advice.alternatives.length === 0) lines.push('  none');
  advice.alternatives.forEach((alternative, index) => {
    lines.push(`  ${index + 1}. ${alternative.pattern}: ${alternative.why}`);
  });
  process.stdout.write(`${lines.join('\n')}\n`);
  return exitCodes.ok;
}
