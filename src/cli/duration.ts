/*
 * Parses durations given on the command line (`90s`, `15m`, `2h`, `7d`); a unit is required.
 */
import { invalid } from '../core/validate.js';

const units: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration such as `500ms`, `30s`, `2m`, `1h30m` or `7d` into milliseconds. A unit is
 * required: a bare `30` could mean seconds or days, and a prune that guessed wrong deletes the
 * history.
 */
export function parseDuration(field: string, text: string): number {
  const trimmed = text.trim();
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = pattern.exec(trimmed); match; match = pattern.exec(trimmed)) {
    total += Number(match[1]) * units[match[2]!]!;
    consumed = pattern.lastIndex;
  }
  if (consumed === 0 || consumed !== trimmed.length) {
    throw invalid(
      field,
      'a duration with a unit (ms, s, m, h or d) such as `30s`, `2m`, `1h30m` or `7d`',
      text,
    );
  }
  return Math.round(total);
}
