import { UsageError } from './usage.js';

/**
 * Runs node:util's `parseArgs`, turning its errors into usage errors.
 *
 * @example
 * const { values } = usageErrors(() => parseArgs({ args: argv, options: { json: { type: 'boolean' } } }));
 */
export function usageErrors<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Options every store command takes. */
export const storeOptions = {
  home: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `key=value` pairs from repeated options (`--label a=b --label c=d`). */
export function parsePairs(field: string, values: string[] | undefined): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const text of values ?? []) {
    const at = text.indexOf('=');
    if (at <= 0) throw new UsageError(`Expected \`${field}\` as key=value, got \`${text}\``);
    pairs[text.slice(0, at)] = text.slice(at + 1);
  }
  return pairs;
}

export function parseCount(field: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    throw new UsageError(`Expected \`${field}\` to be a positive integer, got \`${text}\``);
  }
  return value;
}
