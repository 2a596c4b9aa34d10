export * from './core/index.js';
export { OutputLog, type OutputLogOptions, readLogFile } from './output/index.js';
export { type RunHandle, start } from './patterns/long-running.js';
export { run } from './patterns/simple.js';
export type { RunOptions, StartOptions } from './patterns/task-options.js';
