import { join } from 'node:path';
import { recoverRuns } from '../patterns/recovery.js';
import { currentOwner } from '../process/owner.js';
import { defaultHome, openStore } from '../store/open-store.js';
import type { RunStore } from '../store/run-store.js';
import type { CliContext } from './context.js';

/** Where a command keeps runs: the store's URL, and the home whose `logs/` holds their output. */
export interface StoreLocation {
  readonly home: string;
  /** `sqlite:<path>` or `memory:`, as `openStore` takes it. */
  readonly url: string;
}

/**
 * `--store`, else `--home`'s `runyard.db`, else RUNYARD_STORE, else `<RUNYARD_HOME or
 * ./.runyard>/runyard.db`; the command's own option before the one given ahead of its name.
 * Log files are in `<home>/logs` whatever the store.
 */
export function storeLocation(
  values: { home?: string | undefined; store?: string | undefined },
  context: CliContext,
): StoreLocation {
  const homeOption = values.home ?? context.globals.home;
  const home = homeOption ?? defaultHome();
  const url =
    values.store ??
    context.globals.store ??
    (homeOption === undefined ? process.env.RUNYARD_STORE || undefined : undefined) ??
    `sqlite:${join(home, 'runyard.db')}`;
  return { home, url };
}

export function logDirOf(home: string): string {
  return join(home, 'logs');
}

/**
 * Opens the store, then settles the runs whose owner died (a `launch` supervisor killed with
 * SIGKILL, a crashed batch): they become `interrupted` and their leftover processes are ended,
 * so what the command reads is true. Owners are checked by pid and start time: cheap.
 */
export async function openRunStore(location: StoreLocation): Promise<RunStore> {
  const store = await openStore(location.url);
  try {
    await recoverRuns(store, currentOwner());
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}
