/**
 * The thread side of `ThreadPool`: piscina calls this module's default export with each batch
 * of tasks (see `thread-pool-protocol.ts`), and it calls the named export (the pool's, or the
 * run's `name`) of the pool's task module as `task(payload, { signal })` for each.
 *
 * Tasks of a batch run one after the other. When one returns a promise, the tasks after it are
 * handed back unstarted, the results before it are sent ahead, and the batch waits for the
 * promise; meanwhile the thread takes other batches, so async tasks interleave.
 */
import { BroadcastChannel, parentPort, threadId, workerData } from 'node:worker_threads';
import {
  BATCH_STRIDE,
  type CancelMessage,
  type CancelReason,
  FAILED,
  NOT_STARTED,
  OK,
  SKIPPED,
  type TaskFailure,
  type WorkerSetup,
} from './protocol.js';

/** What the task function receives besides its payload. */
interface ThreadTaskContext {
  /** Aborted when the run is cancelled, times out or the pool is closed with `force`. */
  readonly signal: AbortSignal;
}

type TaskFunction = (payload: unknown, context: ThreadTaskContext) => unknown;

const setup = (workerData as { runyardThreadPool?: WorkerSetup } | null)?.runyardThreadPool;
if (setup === undefined) throw new Error('thread-worker.js runs inside a ThreadPool thread only');
const { cells, times, slots } = setup;

/** A task's context; its `AbortController` is made only when the task reads `signal`. */
class Context implements ThreadTaskContext {
  #controller: AbortController | undefined;
  #reason: CancelReason | undefined;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(abortReason(this.#reason));
    }
    return this.#controller.signal;
  }

  abort(reason: CancelReason): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(abortReason(reason));
  }
}

function abortReason(reason: CancelReason): DOMException {
  if (reason === 'timeout') return new DOMException('The task timed out', 'TimeoutError');
  if (reason === 'close') return new DOMException('The thread pool was closed', 'AbortError');
  return new DOMException('The task was cancelled', 'AbortError');
}

/**
 * Synchronous tasks share one context: no abort can reach a task that never yields. A task
 * that returns a promise keeps the context it got, and a new one is made for the next.
 */
let spare = new Context();
/** Tasks waiting on a promise, by `seq`: only they can still see an abort. */
const running = new Map<number, Context>();

const channel = new BroadcastChannel(setup.channel);
// The pool ends its threads itself; the channel must not keep one alive.
channel.unref();
channel.onmessage = (event) => {
  const message = (event as unknown as { data: CancelMessage }).data;
  running.get(message.id)?.abort(message.reason);
};

let exports: Record<string, unknown> | undefined;
let loadError: unknown;
try {
  exports = (await import(setup.filename)) as Record<string, unknown>;
} catch (error) {
  // Every task on this thread fails with it, as its own error.
  loadError = error;
}
/** The pool's own export, looked up once; others by name on each task. */
let ownTask: TaskFunction | undefined;

/** The export named `name` (the pool's when `undefined`); throws when it is not a function. */
function taskFunction(name: string | undefined): TaskFunction {
  if (name === undefined && ownTask !== undefined) return ownTask;
  if (exports === undefined) throw loadError;
  const exportName = name ?? setup!.exportName;
  const value = Object.hasOwn(exports, exportName) ? exports[exportName] : undefined;
  if (typeof value !== 'function') {
    const which = exportName === 'default' ? 'The default export' : `The export \`${exportName}\``;
    throw new TypeError(`${which} of ${setup!.filename} is not a function (got ${typeof value})`);
  }
  if (name === undefined) ownTask = value as TaskFunction;
  return value as TaskFunction;
}

/** The batch being run, or the last one: if the thread exits, its results go out first. */
let lastBatch: unknown[] | undefined;
let lastResults: unknown[] | undefined;
let lastDone = 0;

process.on('exit', () => {
  if (lastBatch !== undefined) sendAhead(lastBatch, lastResults!, lastDone, lastDone);
});

// An error nothing caught (thrown from a timer a task left, or piscina failing to send a
// result that does not clone) would end the thread with an 'error' event, which can reach
// the pool before the messages the thread sent last. Exiting instead keeps them in order:
// the pool learns why, then the results the 'exit' hook sends, then the exit.
process.on('uncaughtException', (error) => {
  try {
    parentPort?.postMessage({ runyardCrash: { threadId, error: failure(error) } });
  } finally {
    process.exit(1);
  }
});

export default function runBatch(batch: unknown[]): unknown[] | Promise<unknown[]> {
  const began = performance.now();
  const count = batch.length / BATCH_STRIDE;
  const results = new Array<unknown>(count * 2 + 2);
  lastBatch = batch;
  lastResults = results;
  lastDone = 0;
  for (let i = 0; i < count; i++) {
    const at = i * BATCH_STRIDE;
    const seq = batch[at] as number;
    const slot = batch[at + 1] as number;
    // The start time first: the pool reads it once it sees the thread id.
    times[slot] = Date.now();
    Atomics.store(cells, slot, threadId);
    if (Atomics.load(cells, slots + slot) === seq) {
      results[2 * i] = SKIPPED;
      lastDone = i + 1;
      continue;
    }
    let value: unknown;
    try {
      value = taskFunction(batch[at + 3] as string | undefined)(batch[at + 2], spare);
    } catch (error) {
      results[2 * i] = FAILED;
      results[2 * i + 1] = failure(error);
      lastDone = i + 1;
      continue;
    }
    if (isThenable(value)) return awaitTask(batch, results, i, value, began);
    results[2 * i] = OK;
    results[2 * i + 1] = value;
    lastDone = i + 1;
  }
  results[count * 2] = performance.now() - began;
  results[count * 2 + 1] = 0;
  return results;
}

/** Task `index` of the batch returned a promise: the rest go back, the batch waits for it. */
function awaitTask(
  batch: unknown[],
  results: unknown[],
  index: number,
  promise: PromiseLike<unknown>,
  began: number,
): Promise<unknown[]> {
  const count = batch.length / BATCH_STRIDE;
  const seq = batch[index * BATCH_STRIDE] as number;
  running.set(seq, spare);
  spare = new Context();
  for (let j = index + 1; j < count; j++) results[2 * j] = NOT_STARTED;
  // The tasks before it are done and those after it will not start here: the pool hears of
  // both now, not when the promise settles.
  sendAhead(batch, results, index, count);
  lastBatch = undefined;
  return Promise.resolve(promise)
    .then(
      (value) => {
        results[2 * index] = OK;
        results[2 * index + 1] = value;
      },
      (error: unknown) => {
        results[2 * index] = FAILED;
        results[2 * index + 1] = failure(error);
      },
    )
    .then(() => {
      running.delete(seq);
      results[count * 2] = performance.now() - began;
      results[count * 2 + 1] = 1;
      return results;
    });
}

/**
 * Posts on `parentPort`, ahead of the batch, the results of its first `done` tasks and the
 * tasks from `done` to `end` that will not start.
 */
function sendAhead(batch: unknown[], results: unknown[], done: number, end: number): void {
  const entries: unknown[] = [];
  for (let i = 0; i < end; i++) {
    const status = results[2 * i];
    if (i < done ? status !== OK && status !== FAILED : status !== NOT_STARTED) continue;
    entries.push(batch[i * BATCH_STRIDE], batch[i * BATCH_STRIDE + 1], status, results[2 * i + 1]);
  }
  if (entries.length === 0 || parentPort === null) return;
  try {
    parentPort.postMessage({ runyardResults: entries });
  } catch {
    // A value that does not clone: send them one by one, that one as its task's failure.
    for (let i = 0; i < entries.length; i += 4) {
      const entry = entries.slice(i, i + 4);
      try {
        parentPort.postMessage({ runyardResults: entry });
      } catch (error) {
        entry[2] = FAILED;
        entry[3] = failure(error, 'The task returned a value that cannot be sent to the pool: ');
        parentPort.postMessage({ runyardResults: entry });
      }
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

function failure(error: unknown, prefix = ''): TaskFailure {
  const result: TaskFailure = { name: 'Error', message: '' };
  if (typeof error === 'object' && error !== null) {
    const { name, message, stack, code } = error as Partial<Record<string, unknown>>;
    if (typeof name === 'string') result.name = name;
    result.message = typeof message === 'string' ? message : safeString(error);
    if (typeof stack === 'string') result.stack = stack;
    if (typeof code === 'string') result.code = code;
  } else {
    result.message = safeString(error);
  }
  result.message = prefix + result.message;
  return result;
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
