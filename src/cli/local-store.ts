/*
 * Opens the store a command names (`--store`, `RUNYARD_STORE`, the default), after settling
 * runs whose owner died.
 */
import { join, resolve } from 'node:path';
import { defaultDatabasePath, defaultHome, openStore } from '../store/open-store.js';
import type { RunStore } from '../store/run-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
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
export async function openRunStore(
  location: StoreLocation,
  options: { backgroundCheckpoints?: boolean } = {},
): Promise<RunStore> {
  const store = await openLocalStore(location.url, options.backgroundCheckpoints ?? false);
  try {
    // Most of the time no run is unfinished: the recovery code (process tables, tree kills,
    // child_process) is then not even loaded, which keeps `ls` and `show` quick to start.
    const unfinished = await store.list({ status: ['queued', 'running'], limit: 1 });
    if (unfinished.runs.length > 0) {
      const [{ recoverRuns }, { currentOwner }] = await Promise.all([
        import('../tasks/recovery.js'),
        import('../process/owner.js'),
      ]);
      await recoverRuns(store, currentOwner());
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/**
 * `openStore(url)`, except that a SQLite store starts no checkpoint thread unless asked: a
 * command that writes a record or two and exits would pay more for that thread (an isolate
 * and a connection of its own, then waiting for it to stop at close) than inline checkpoints
 * cost. openStore takes no store options, so a `sqlite:` URL is read here as it reads it.
 */
async function openLocalStore(url: string, backgroundCheckpoints: boolean): Promise<RunStore> {
  if (backgroundCheckpoints || !url.startsWith('sqlite:')) return openStore(url);
  let path = url.slice('sqlite:'.length);
  if (path.startsWith('//')) path = path.slice(2);
  return new SqliteStore({
    path: path === '' ? defaultDatabasePath() : resolve(path),
    backgroundCheckpoints: false,
  });
}
