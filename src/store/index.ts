/*
 * The store layer as one import: `RunStore`, `MemoryStore`, `SqliteStore`, `openStore`.
 */
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { defaultDatabasePath, defaultHome, logPath, openStore } from './open-store.js';
export type {
  PruneOptions,
  RunPage,
  RunPatch,
  RunQuery,
  RunStats,
  RunStore,
  StoreHealth,
  UpdateOptions,
} from './run-store.js';
export type { SqliteStoreOptions } from './sqlite-options.js';
export { SqliteStore } from './sqlite-store.js';
