export * from './execute-task.js';
export * from './long-running.js';
export * from './simple.js';
export type { RunOptions, StartOptions } from './task-options.js';
