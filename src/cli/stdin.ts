// Which stdin `runyard run` hands to its program: runyard's own, unless reading it would stop
// runyard. A background job (`runyard run -- make &`) that reads its terminal gets SIGTTIN
// and is stopped by the shell, so its program gets an empty stdin instead, as under nohup.
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';

export function programInput(): Readable | undefined {
  if (!process.stdin.isTTY || isForeground()) return process.stdin;
  return undefined;
}

/** True unless this process is known to be outside its terminal's foreground group. */
function isForeground(): boolean {
  try {
    // /proc/self/stat: `pid (comm) state ppid pgrp session tty_nr tpgid ...`; comm may hold spaces.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[2] === fields[5];
  } catch {
    // Not Linux: nothing tells, so read as before.
    return true;
  }
}
