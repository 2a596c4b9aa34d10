export * from './line-splitter.js';
export * from './spawn-process.js';
export * from './tree-kill.js';
