import { describe, expect, it } from 'vitest';
import type { Advice } from '../../src/orchestrator/advisor.js';
import { runCli } from '../helpers/cli.js';

function runyard(args: string[]) {
  return runCli(args);
}

describe('runyard advise', () => {
  it('prints the recommendation, its reasons and the alternatives', async () => {
    const { code, stdout } = await runyard(['advise', '--duration', '2m', '--tasks', '3']);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^Recommended: long-running\n\nReasons:\n {2}- Not periodic: not recurring\.\n/,
    );
    expect(stdout).toContain('  - Chose long-running: expected duration 120 s is over 60 s');
    expect(stdout).toContain(
      '\nAlternatives:\n  1. concurrent: 3 tasks could run at once, each streamed\n',
    );
  });

  it('says so when there is no alternative', async () => {
    const { code, stdout } = await runyard(['advise', '--duration', '30s']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Recommended: simple\n/);
    expect(stdout).toContain('Alternatives:\n  none\n');
  });

  it.each([
    [['--recurring', '--streaming'], 'periodic'],
    [['--duration', '60s'], 'simple'],
    [['--duration', '60001ms'], 'long-running'],
    [['--streaming'], 'long-running'],
    [['--tasks', '2'], 'concurrent'],
    [['--no-result', '--tasks', '1'], 'fire-and-forget'],
    [['--per-minute', '11'], 'pooled'],
    [['--per-minute', '10'], 'simple'],
    [['--cpu-bound', '--in-process'], 'pooled'],
    [['--cpu-bound'], 'simple'],
    [['--tasks', '0'], 'simple'],
  ])('%j → %s as JSON', async (flags, pattern) => {
    const { code, stdout } = await runyard(['advise', ...flags, '--json']);
    expect(code).toBe(0);
    const advice = JSON.parse(stdout) as Advice;
    expect(advice.pattern).toBe(pattern);
    expect(advice.reasons.some((r) => r.startsWith(`Chose ${pattern}: `))).toBe(true);
    expect(Array.isArray(advice.alternatives)).toBe(true);
  });

  it.each([
    [['--duration', '2q'], 'Expected `--duration` to be a duration'],
    [['--duration=-5s'], 'Expected `--duration` to be a duration'],
    [['--tasks', 'x'], 'Expected `--tasks` to be a non-negative integer, got `x`'],
    [['--tasks', '1.5'], 'Expected `--tasks` to be a non-negative integer, got `1.5`'],
    [['--tasks=-1'], 'Expected `--tasks` to be a non-negative integer, got `-1`'],
    [['--per-minute', 'fast'], 'Expected `--per-minute` to be a non-negative number, got `fast`'],
    [['--per-minute', ''], 'Expected `--per-minute` to be a non-negative number'],
    [['--frequent'], 'Unknown option `--frequent`'],
    [['extra'], 'Unexpected argument `extra`'],
  ])('%j exits 2 with the usage', async (flags, message) => {
    const { code, stdout, stderr } = await runyard(['advise', ...flags]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(`runyard advise: ${message}`);
    expect(stderr).toContain('Usage: runyard advise [--duration 2m]');
  });

  it('prints its usage with --help', async () => {
    const { code, stdout } = await runyard(['advise', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: runyard advise /);
  });

  it('is listed in the main usage', async () => {
    const { stdout } = await runyard(['--help']);
    expect(stdout).toContain('  advise [--duration 2m]');
  });
});
