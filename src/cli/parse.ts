/*
 * Parses a command's arguments with `node:util` `parseArgs`, with "did you mean" errors.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { nearestName } from '../core/validate.js';
import { UsageError } from './usage.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/** Options every store command takes. */
export const storeOptions = {
  home: { type: 'string' },
  store: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * node:util's strict `parseArgs`, with its errors turned into usage errors: an unknown option
 * names the nearest known one (`--timout`: did you mean `--timeout`?).
 *
 * @example
 * const { values, positionals } = parseCommand(argv, { json: { type: 'boolean' } });
 */
export function parseCommand<const O extends OptionsConfig>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageErrorOf(error, options);
  }
}

/** A parseArgs error as a usage error, with a "did you mean" for an unknown option. */
export function usageErrorOf(error: unknown, options: OptionsConfig): UsageError {
  const message = (error as Error).message;
  const unknown = /^Unknown option '([^']+)'/.exec(message)?.[1];
  if (unknown === undefined) return new UsageError(message.replace(/'/g, '`'));
  return unknownOptionError(unknown, options);
}

/** ``Unknown option `--timout`: did you mean `--timeout`?`` when a known option is near. */
export function unknownOptionError(flag: string, options: OptionsConfig): UsageError {
  const near = nearestName(flag.replace(/^-+/, ''), Object.keys(options));
  return new UsageError(`Unknown option \`${flag}\`${near ? `: did you mean \`--${near}\`?` : ''}`);
}

/** Rejects positionals a command does not take, naming them. */
export function noPositionals(positionals: readonly string[]): void {
  if (positionals.length === 0) return;
  const named = positionals.map((p) => `\`${p}\``).join(', ');
  throw new UsageError(`Unexpected argument${positionals.length === 1 ? '' : 's'} ${named}`);
}

/** The one positional a command takes (`show <id>`); a missing one or extras are usage errors. */
export function onePositional(positionals: readonly string[], what: string): string {
  if (positionals.length === 0) throw new UsageError(`Missing the ${what}`);
  noPositionals(positionals.slice(1));
  return positionals[0]!;
}

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

/** A positive integer option (`--jobs 4`, `--from 12`); `undefined` when absent. */
export function parseCount(field: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`Expected \`${field}\` to be a positive integer, got \`${text}\``);
  }
  return value;
}
