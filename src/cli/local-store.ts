import { join } from 'node:path';
import { defaultHome, openStore } from '../store/open-store.js';
import type { RunStore } from '../store/run-store.js';

/** Where the local commands keep runs: `--home`, else RUNYARD_HOME, else `./.runyard`. */
export function resolveHome(home: string | undefined): string {
  return home ?? defaultHome();
}

export function logDirOf(home: string): string {
  return join(home, 'logs');
}

export function openLocalStore(home: string): Promise<RunStore> {
  return openStore(`sqlite:${join(home, 'runyard.db')}`);
}
