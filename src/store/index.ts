export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { defaultDatabasePath, defaultHome, logPath, openStore } from './open-store.js';
export type {
  PruneOptions,
  RunPage,
  RunPatch,
  RunQuery,
  RunStats,
  RunStore,
} from './run-store.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
