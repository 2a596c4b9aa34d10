/*
 * The output layer as one import: `OutputLog`, `OutputBatch` and the log-file readers.
 */
export { readLogFile, streamCodes, streamLogFile } from './log-file.js';
export { OutputBatch } from './output-batch.js';
export { OutputLog, type OutputLogOptions } from './output-log.js';
