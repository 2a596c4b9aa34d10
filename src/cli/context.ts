// What `main` hands every command: the global options given before the command name, and the
// one router of stop signals. Apart so commands do not import `main`, which runs on import.
import type { Stops } from './interrupt.js';

export interface CliContext {
  /** `runyard --store <url> …` and `runyard --home <dir> …`: a command's own options win. */
  readonly globals: { readonly store?: string; readonly home?: string };
  readonly stops: Stops;
}

export type CommandHandler = (argv: string[], context: CliContext) => Promise<number>;
