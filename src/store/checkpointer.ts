/*
 * Runs SQLite WAL checkpoints on a worker thread, so a big checkpoint never stalls the
 * event loop of the process that writes runs.
 */
import { Worker } from 'node:worker_threads';
import { driverPath } from './sqlite-driver.js';

/*
 * A checkpoint copies the WAL back into the database file and fsyncs both. SQLite runs it inside
 * whichever commit crosses `wal_autocheckpoint` pages, so one write in a few hundred would stall
 * the event loop for milliseconds. The checkpointer runs it from a worker thread instead, on a
 * connection of its own, in PASSIVE mode (never blocking a writer). The store's own connection
 * keeps a high `wal_autocheckpoint` as a backstop should the worker fall behind or die.
 *
 * The worker is CommonJS source evaluated in the thread: it then runs the same whether runyard
 * is loaded from TypeScript sources or from its build, with better-sqlite3 resolved here.
 */
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.modulePath);
let db;
let timer;
function stop() {
  clearTimeout(timer);
  try { db?.close(); } catch {}
  parentPort.close();
}
function tick() {
  let behind = 0;
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    behind = result.log - result.checkpointed;
  } catch (error) {
    parentPort.postMessage({ type: 'failed', message: String(error?.message ?? error) });
    stop();
    return;
  }
  timer = setTimeout(tick, behind > 0 ? workerData.busyIntervalMs : workerData.idleIntervalMs);
}
parentPort.on('message', (message) => { if (message === 'stop') stop(); });
try {
  db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
  parentPort.postMessage({ type: 'ready' });
  tick();
} catch (error) {
  parentPort.postMessage({ type: 'failed', message: String(error?.message ?? error) });
  stop();
}
`;

export interface CheckpointerOptions {
  path: string;
  /** Called once the worker checkpoints, and again should it stop doing so. */
  onReady(): void;
  onFailure(reason: string): void;
}

/** Checks the WAL this often when the last checkpoint caught up with the writers. */
const IDLE_INTERVAL_MS = 500;
/** And this often while writers keep ahead of it. */
const BUSY_INTERVAL_MS = 25;

/** @internal The worker thread that checkpoints one database's WAL. */
export class Checkpointer {
  readonly #worker: Worker;
  #stopping: Promise<void> | undefined;
  #exited = false;

  constructor(options: CheckpointerOptions) {
    const modulePath = driverPath();
    this.#worker = new Worker(workerSource, {
      eval: true,
      workerData: {
        path: options.path,
        modulePath,
        idleIntervalMs: IDLE_INTERVAL_MS,
        busyIntervalMs: BUSY_INTERVAL_MS,
      },
    });
    let failed = false;
    const fail = (reason: string) => {
      if (failed || this.#stopping) return;
      failed = true;
      options.onFailure(reason);
    };
    this.#worker.on('message', (message: { type: string; message?: string }) => {
      if (message.type === 'ready') options.onReady();
      else fail(message.message ?? 'unknown error');
    });
    this.#worker.on('error', (error) => fail(error.message));
    this.#worker.on('exit', (code) => {
      this.#exited = true;
      fail(`the checkpoint thread exited with code ${code}`);
    });
    // A checkpointer never keeps the process alive: a store left open must not hang it, and
    // nothing is lost at exit (the WAL is durable; the next connection reads it). Last, because
    // adding a 'message' listener to a Worker refs it again.
    this.#worker.unref();
  }

  /** Stops the worker and waits for it to close its connection. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= new Promise<void>((resolve) => {
      if (this.#exited) {
        resolve();
        return;
      }
      // Held open while stopping, so a closing application waits for the connection to close.
      this.#worker.ref();
      this.#worker.once('exit', () => resolve());
      this.#worker.postMessage('stop');
    });
    return this.#stopping;
  }
}
