import { type ParseArgsConfig, parseArgs } from 'node:util';
import { UsageError } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** node:util's parseArgs, with its errors turned into usage errors. */
export function parseCommandLine<T extends Options>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
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
