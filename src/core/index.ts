/*
 * The core layer as one import: ids, clock, errors, types, timers and argument checks.
 */
export * from './clock.js';
export * from './errors.js';
export * from './ids.js';
export * from './sleep.js';
export * from './types.js';
export * from './validate.js';
