export { formatLogLine, readLogFile, streamCodes, streamLogFile } from './log-file.js';
export { OutputLog, type OutputLogOptions } from './output-log.js';
