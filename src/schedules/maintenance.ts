/*
 * `addMaintenance()` and its jobs: pruning runs and orphan logs, recovering runs, optimizing.
 * Kept apart from the scheduler core, since these are ordinary schedules built on its public API.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskContext } from '../core/types.js';
import {
  checkArgString,
  checkKnownKeys,
  checkNonNegativeNumber,
  checkPlainObject,
  invalid,
} from '../core/validate.js';
import { currentOwner } from '../process/owner.js';
import type { RunStore } from '../store/run-store.js';
import { isRunId } from '../store/validate-record.js';
import { recoverRuns } from '../tasks/recovery.js';
import type { Schedule, Scheduler } from './scheduler.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The names of the built-in maintenance schedules. */
export const maintenanceJobs = {
  pruneRuns: 'maintenance.prune-runs',
  pruneLogs: 'maintenance.prune-logs',
  recoverRuns: 'maintenance.recover-runs',
  optimizeStore: 'maintenance.optimize-store',
} as const;

export type MaintenanceJob = keyof typeof maintenanceJobs;

/** The documented defaults, for docs tests. */
export const maintenanceDefaults = {
  retentionDays: 30,
  keepLast: 0,
  orphanLogMinAgeMs: HOUR,
  everyMs: {
    pruneRuns: HOUR,
    pruneLogs: 6 * HOUR,
    recoverRuns: 5 * 60_000,
    optimizeStore: DAY,
  },
} as const;

export interface MaintenanceOptions {
  /** The store whose runs are pruned and recovered. */
  readonly store: RunStore;
  /** Where the runs' log files are (`<home>/logs`): `<runId>.log`. */
  readonly logDir: string;
  /** Finished runs created longer ago than this are deleted, with their log files. @default 30 */
  readonly retentionDays?: number;
  /** Keep the newest this many finished runs of each name, however old. @default 0 */
  readonly keepLast?: number;
  /**
   * A log file no run owns is deleted only once it has not changed for this long: a run being
   * recorded right now, or written without a store, keeps its log.
   * @default 3_600_000 (1 hour)
   */
  readonly orphanLogMinAgeMs?: number;
  /**
   * How often each job runs, in ms.
   * @default { pruneRuns: 3_600_000, pruneLogs: 21_600_000, recoverRuns: 300_000, optimizeStore: 86_400_000 }
   */
  readonly everyMs?: Readonly<Partial<Record<MaintenanceJob, number>>>;
}

export interface PruneRunsResult {
  /** Runs deleted from the store. */
  runs: number;
  /** Their log files deleted (a run that printed nothing has none). */
  logFiles: number;
  /** The deleted runs' ids, newest first. */
  ids: string[];
  /** Log files that could not be deleted, with why; the others still were. */
  errors: string[];
}

/**
 * Deletes finished runs created more than `olderThanMs` ago (keeping the newest `keepLast` of
 * each name) and their log files. The maintenance job and `runyard prune` both call it.
 *
 * @example
 * const { runs, logFiles } = await pruneRuns({ store, logDir: '.runyard/logs', olderThanMs: 30 * 86_400_000 });
 */
export async function pruneRuns(options: {
  readonly store: RunStore;
  readonly logDir: string;
  readonly olderThanMs: number;
  readonly keepLast?: number;
}): Promise<PruneRunsResult> {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, ['store', 'logDir', 'olderThanMs', 'keepLast']);
  checkArgString('logDir', options.logDir, { nonEmpty: true });
  checkNonNegativeNumber('olderThanMs', options.olderThanMs);
  if (options.olderThanMs === undefined) {
    throw invalid('olderThanMs', 'a non-negative number of ms', options.olderThanMs);
  }
  const ids = await options.store.prune({
    olderThan: options.olderThanMs,
    keepLast: options.keepLast ?? maintenanceDefaults.keepLast,
  });
  const result: PruneRunsResult = { runs: ids.length, logFiles: 0, ids, errors: [] };
  for (const id of ids) {
    // An id that could name a path outside the folder never reaches unlink.
    if (!isRunId(id)) continue;
    const outcome = await removeFile(join(options.logDir, `${id}.log`));
    if (outcome === 'removed') result.logFiles++;
    else if (outcome !== 'missing') result.errors.push(outcome);
  }
  return result;
}

/** `<UUIDv7>.log`: the only files `removeOrphanLogs` ever deletes. */
const runLogName = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.log$/;

/**
 * Deletes the log files of runs the store does not know (deleted runs, runs of a removed
 * store). Only files named `<run id>.log` with a runyard run id are looked at; one whose run
 * exists, whatever its status, is kept, and so is one changed within `minAgeMs`. A missing
 * folder is not an error.
 */
export async function removeOrphanLogs(options: {
  readonly store: RunStore;
  readonly logDir: string;
  /** @default 3_600_000 */
  readonly minAgeMs?: number;
  /** @default Date.now() */
  readonly now?: number;
}): Promise<{ logFiles: number; errors: string[] }> {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, ['store', 'logDir', 'minAgeMs', 'now']);
  checkArgString('logDir', options.logDir, { nonEmpty: true });
  checkNonNegativeNumber('minAgeMs', options.minAgeMs);
  const minAgeMs = options.minAgeMs ?? maintenanceDefaults.orphanLogMinAgeMs;
  const now = options.now ?? Date.now();
  const result = { logFiles: 0, errors: [] as string[] };
  let names: string[];
  try {
    names = await readdir(options.logDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result;
    throw error;
  }
  for (const name of names) {
    if (!runLogName.test(name)) continue;
    const id = name.slice(0, -'.log'.length);
    if ((await options.store.get(id)) !== undefined) continue;
    const path = join(options.logDir, name);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch {
      continue; // Gone meanwhile.
    }
    if (!info.isFile() || now - info.mtimeMs < minAgeMs) continue;
    // Its run may have been recorded since the first look.
    if ((await options.store.get(id)) !== undefined) continue;
    const outcome = await removeFile(path);
    if (outcome === 'removed') result.logFiles++;
    else if (outcome !== 'missing') result.errors.push(outcome);
  }
  return result;
}

/**
 * Marks runs whose owner process died while they ran `interrupted` and ends their leftover
 * process trees (`recoverRuns` without requeueing). Queued program runs of a dead owner are
 * left queued for a `TaskManager.recover()` to start again; queued function runs, which
 * cannot outlive their process, are marked `interrupted`.
 */
export async function recoverStaleRuns(
  store: RunStore,
): Promise<{ interrupted: number; orphansEnded: number }> {
  const { interrupted, orphansEnded } = await recoverRuns(store, currentOwner(), {
    leaveQueued: true,
  });
  return { interrupted, orphansEnded };
}

/**
 * Refreshes the database's query planner statistics (SQLite's `PRAGMA optimize`) when the
 * store can; false for stores that have nothing to optimize.
 */
export async function optimizeStore(store: RunStore): Promise<boolean> {
  const optimizable = store as RunStore & { optimize?: () => Promise<void> };
  if (typeof optimizable.optimize !== 'function') return false;
  await optimizable.optimize();
  return true;
}

/**
 * Registers the built-in maintenance jobs on a scheduler, each a schedule of its own that can
 * be paused or triggered like any other:
 *
 * | schedule | every | does |
 * |---|---|---|
 * | `maintenance.prune-runs` | 1 h | `pruneRuns()`: finished runs older than `retentionDays`, past the newest `keepLast` of each name, and their log files |
 * | `maintenance.prune-logs` | 6 h | `removeOrphanLogs()`: log files no run owns |
 * | `maintenance.recover-runs` | 5 min | `recoverStaleRuns()`: runs of dead owners marked `interrupted` |
 * | `maintenance.optimize-store` | 24 h | `PRAGMA optimize` (only for a store that has `optimize()`, such as `SqliteStore`) |
 *
 * @example
 * const scheduler = new Scheduler({ manager });
 * addMaintenance(scheduler, { store, logDir: '.runyard/logs', retentionDays: 14, keepLast: 20 });
 */
export function addMaintenance(scheduler: Scheduler, options: MaintenanceOptions): Schedule[] {
  checkPlainObject('options', options);
  checkKnownKeys('options', options, [
    'store',
    'logDir',
    'retentionDays',
    'keepLast',
    'orphanLogMinAgeMs',
    'everyMs',
  ]);
  if (typeof options?.store?.prune !== 'function') {
    throw invalid('store', 'a RunStore', options?.store);
  }
  checkArgString('logDir', options.logDir, { nonEmpty: true });
  checkNonNegativeNumber('retentionDays', options.retentionDays);
  if (
    options.keepLast !== undefined &&
    (!Number.isSafeInteger(options.keepLast) || options.keepLast < 0)
  ) {
    throw invalid('keepLast', 'a non-negative integer', options.keepLast);
  }
  checkNonNegativeNumber('orphanLogMinAgeMs', options.orphanLogMinAgeMs);
  checkPlainObject('everyMs', options.everyMs);
  checkKnownKeys('everyMs', options.everyMs, Object.keys(maintenanceJobs));
  for (const [job, value] of Object.entries(options.everyMs ?? {})) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
      throw invalid(`everyMs.${job}`, 'a positive number of milliseconds', value);
    }
  }
  for (const name of Object.values(maintenanceJobs)) {
    if (scheduler.get(name)) throw invalid('name', 'a name no other schedule has', name);
  }
  const { store, logDir } = options;
  const retentionMs = (options.retentionDays ?? maintenanceDefaults.retentionDays) * DAY;
  const keepLast = options.keepLast ?? maintenanceDefaults.keepLast;
  const every = (job: MaintenanceJob) => ({
    everyMs: options.everyMs?.[job] ?? maintenanceDefaults.everyMs[job],
  });
  const schedules = [
    scheduler.add(maintenanceJobs.pruneRuns, every('pruneRuns'), {
      name: maintenanceJobs.pruneRuns,
      fn: async (ctx: TaskContext) => {
        const result = await pruneRuns({ store, logDir, olderThanMs: retentionMs, keepLast });
        ctx.log(`deleted ${result.runs} runs and ${result.logFiles} log files`);
        for (const error of result.errors) ctx.log(error);
        return { runs: result.runs, logFiles: result.logFiles };
      },
    }),
    scheduler.add(maintenanceJobs.pruneLogs, every('pruneLogs'), {
      name: maintenanceJobs.pruneLogs,
      fn: async (ctx: TaskContext) => {
        const result = await removeOrphanLogs({
          store,
          logDir,
          minAgeMs: options.orphanLogMinAgeMs ?? maintenanceDefaults.orphanLogMinAgeMs,
        });
        ctx.log(`deleted ${result.logFiles} log files no run owns`);
        for (const error of result.errors) ctx.log(error);
        return result;
      },
    }),
    scheduler.add(maintenanceJobs.recoverRuns, every('recoverRuns'), {
      name: maintenanceJobs.recoverRuns,
      fn: async (ctx: TaskContext) => {
        const result = await recoverStaleRuns(store);
        ctx.log(`marked ${result.interrupted} runs of dead owners interrupted`);
        return result;
      },
    }),
  ];
  if (typeof (store as { optimize?: unknown }).optimize === 'function') {
    schedules.push(
      scheduler.add(maintenanceJobs.optimizeStore, every('optimizeStore'), {
        name: maintenanceJobs.optimizeStore,
        fn: async (ctx: TaskContext) => {
          await optimizeStore(store);
          ctx.log('optimized the database');
        },
      }),
    );
  }
  return schedules;
}

/** Deletes a file: `'removed'`, `'missing'`, or why it could not be. */
async function removeFile(path: string): Promise<string> {
  try {
    await unlink(path);
    return 'removed';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    return `could not delete ${path}: ${(error as Error).message}`;
  }
}
