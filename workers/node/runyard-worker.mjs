#!/usr/bin/env node
// runyard warm worker for Node.js.
//
// Usage: node runyard-worker.mjs <handler>
//   <handler> is `./file.mjs#exportName`: a path (relative to the working directory, or
//   absolute), a file: URL or a package name, then `#` and the export to call; without
//   `#name`, the default export.
//
// Imports the handler once, says it is ready, then calls handler(payload) for every task it
// reads from stdin and answers on stdout, one JSON object per line (see workers/PROTOCOL.md).
// The handler may return a value or a promise; the value must be JSON serialisable. One task
// runs at a time; tasks that arrive meanwhile wait their turn.
//
// stdout carries the protocol only: `process.stdout.write`, and with it `console.log`, is
// replaced, so what the handler prints while a task runs becomes that task's `log` messages
// (and goes to stderr between tasks). A child process the handler starts with inherited stdio
// would still write to the real stdout: give it 'pipe' or 'ignore'.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const PROTOCOL_VERSION = 1;

const stdout = process.stdout;
const writeProtocol = stdout.write.bind(stdout);
/** Sends one protocol message as one line. */
const send = (message) => writeProtocol(`${JSON.stringify(message)}\n`);

/** The id of the task that runs, or undefined between tasks. */
let currentId;
let pendingText = '';

function emitLog(id, line) {
  if (id === undefined) process.stderr.write(`${line}\n`);
  else send({ id, log: line });
}

/** Stands in for `process.stdout.write`: complete lines become log messages. */
function writeAsLog(chunk, encoding, callback) {
  const text =
    typeof chunk === 'string'
      ? chunk
      : Buffer.from(chunk).toString(typeof encoding === 'string' ? encoding : 'utf8');
  // Only the new text is searched, so a long line written in many pieces costs linear time.
  let start = 0;
  for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', start)) {
    emitLog(currentId, pendingText + text.slice(start, newline));
    pendingText = '';
    start = newline + 1;
  }
  pendingText += start === 0 ? text : text.slice(start);
  const done = typeof encoding === 'function' ? encoding : callback;
  if (typeof done === 'function') queueMicrotask(done);
  return true;
}

function flushLog() {
  if (pendingText === '') return;
  const rest = pendingText;
  pendingText = '';
  emitLog(currentId, rest);
}

function describe(error) {
  if (error instanceof Error) {
    return { type: error.name, message: error.message, stack: error.stack };
  }
  return { type: typeof error, message: String(error) };
}

async function loadHandler(spec) {
  const hash = spec.lastIndexOf('#');
  const target = hash === -1 ? spec : spec.slice(0, hash);
  const exportName = hash === -1 ? 'default' : spec.slice(hash + 1);
  if (target === '' || exportName === '') {
    throw new Error(
      `Expected the handler as \`./file.mjs#exportName\`, got ${JSON.stringify(spec)}`,
    );
  }
  const isPath = target.startsWith('.') || isAbsolute(target);
  const module = await import(isPath ? pathToFileURL(resolve(target)).href : target);
  const handler = module[exportName];
  if (typeof handler !== 'function') {
    throw new TypeError(`${spec}: the export \`${exportName}\` is not a function`);
  }
  return handler;
}

async function runTask(handler, line) {
  const task = JSON.parse(line);
  currentId = task.id;
  let answer;
  try {
    answer = JSON.stringify({ id: task.id, ok: true, result: await handler(task.payload) });
  } catch (error) {
    // A throw, a rejection, or a result JSON cannot hold (a BigInt, a cycle).
    answer = JSON.stringify({ id: task.id, ok: false, error: describe(error) });
  }
  flushLog();
  currentId = undefined;
  writeProtocol(`${answer}\n`);
}

async function main() {
  const spec = process.argv[2];
  if (spec === undefined || process.argv.length !== 3) {
    process.stderr.write('usage: runyard-worker.mjs ./file.mjs#exportName\n');
    process.exit(2);
  }
  stdout.write = writeAsLog;

  let handler;
  try {
    handler = await loadHandler(spec);
  } catch (error) {
    // Before the ready line: the pool reports this stderr as the reason the worker failed.
    process.stderr.write(`runyard worker: could not load the handler ${spec}\n`);
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
    process.exit(1);
  }

  const lines = [];
  let running = false;
  let ended = false;
  /** The parts of the unfinished line: a large task arrives in many chunks. */
  const parts = [];
  const drain = async () => {
    if (running) return;
    running = true;
    while (lines.length > 0) await runTask(handler, lines.shift());
    running = false;
    if (ended) process.exit(0);
  };
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (text) => {
    // Only the new chunk is searched, so a task line of many megabytes costs linear time.
    let start = 0;
    for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n', start)) {
      parts.push(text.slice(start, newline));
      const line = parts.join('');
      parts.length = 0;
      if (line.trim() !== '') lines.push(line);
      start = newline + 1;
    }
    if (start < text.length) parts.push(start === 0 ? text : text.slice(start));
    void drain();
  });
  process.stdin.on('end', () => {
    ended = true;
    void drain();
  });
  send({ ready: true, pid: process.pid, protocol: PROTOCOL_VERSION });
}

await main();
