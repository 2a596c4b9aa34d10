// How a line of a `runyard batch` file becomes a task: run directly when it is a plain
// command, through the shell when it needs one, and named so that messages make sense.
import { basename } from 'node:path';
import type { ProcessTask } from '../core/types.js';

/** Characters that mean something to the shell: quotes, expansions, redirections, lists. */
const shellSyntax = /[|&;<>()$`\\"'*?[\]{}~#!]/;

/** Shell builtins, which exist only inside a shell (`cd`, `export`, `exit`, ...). */
const builtins = new Set([
  '.',
  ':',
  'alias',
  'bg',
  'break',
  'cd',
  'command',
  'continue',
  'eval',
  'exec',
  'exit',
  'export',
  'fg',
  'hash',
  'jobs',
  'read',
  'readonly',
  'return',
  'set',
  'shift',
  'source',
  'times',
  'trap',
  'type',
  'ulimit',
  'umask',
  'unalias',
  'unset',
  'wait',
]);

/** Longest name kept from a shell line; the full line stays in the run's `command`. */
const maxNameLength = 40;

/**
 * `node encode.js a.mp4` runs `node` directly and is named `node`; `cd out && make` runs
 * through the shell and is named after the whole line (shortened), so its error reads
 * "`cd out && make` exited with code 2", not "`cd` exited".
 */
export function taskOfLine(line: string): ProcessTask {
  const words = line.split(/\s+/);
  const first = words[0]!;
  if (!shellSyntax.test(line) && !first.includes('=') && !builtins.has(first)) {
    return { command: first, args: words.slice(1), name: basename(first) };
  }
  const name = line.length > maxNameLength ? `${line.slice(0, maxNameLength - 1)}…` : line;
  return { command: line, shell: true, name };
}
