/*
 * `PoolThreads`: a `ThreadPool`'s threads, batching small tasks to each and replacing one
 * that crashed or had to be terminated.
 */
import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { RunyardError } from '../../core/errors.js';
import { maxTimerDelayMs, setLongTimeout } from '../../core/timers.js';
import {
  BATCH_STRIDE,
  type CancelMessage,
  FAILED,
  isCrashMessage,
  isResultsMessage,
  NOT_STARTED,
  OK,
  type TaskFailure,
} from './protocol.js';
import {
  crashed,
  invalidPayload,
  type PoolTask,
  type Reason,
  RUNNING,
  reasonError,
  Slots,
  taskFailed,
} from './slots.js';
import {
  moduleUrl,
  type ThreadPoolSettings,
  threadPoolDefaults,
  threadWorkerPath,
} from './thread-pool-options.js';

/** What the threads tell the pool that owns the queue. */
export interface ThreadsHost {
  readonly name: string;
  /** Ends a task; `error` undefined resolves it with `value`. */
  settle(task: PoolTask, error: RunyardError | undefined, value: unknown, startedAt?: number): void;
  /** Tasks that never started, back to the front of the queue in this order. */
  requeue(tasks: PoolTask[]): void;
  /** Room for more batches. */
  wake(): void;
}

type PiscinaOptions = NonNullable<ConstructorParameters<typeof Piscina>[0]>;
type PiscinaRunOptions = NonNullable<Parameters<Piscina['run']>[1]>;
const noop = () => {};

/**
 * The threads of a `ThreadPool`, on piscina: hands tasks over in batches, takes their results
 * back (from the batch, or sent ahead of it), and cancels, times out and terminates.
 */
export class PoolThreads {
  readonly piscina: Piscina;
  readonly #host: ThreadsHost;
  readonly #settings: ThreadPoolSettings;
  readonly #channel: BroadcastChannel;
  readonly #slots: Slots;
  /** Batches the threads may hold at once: `maxThreads × concurrentTasksPerWorker`. */
  readonly #capacity: number;
  #batches = 0;
  /** Tasks per batch: grows while batches run short, shrinks when they run long. */
  #batchLimit = 1;
  /** Off for good once a task returned a promise: async tasks go one to a batch. */
  #batching = true;
  #seq = 0;
  running = 0;
  restarts = 0;
  /** Threads being terminated, with the task they were ended for: they get no new batch. */
  readonly #ending = new Map<number, string>();
  /** Threads counted in `restarts`, until all their tasks have been told. */
  readonly #dead = new Set<number>();
  /** Why threads are ending: the uncaught error each reported before it exited. */
  readonly #uncaught = new Map<number, TaskFailure>();

  constructor(host: ThreadsHost, settings: ThreadPoolSettings) {
    this.#host = host;
    this.#settings = settings;
    this.#capacity = settings.maxThreads * settings.concurrentTasksPerWorker;
    this.#slots = new Slots(this.#capacity * threadPoolDefaults.maxBatch);
    const channel = `runyard-thread-pool-${randomUUID()}`;
    this.#channel = new BroadcastChannel(channel);
    this.#channel.unref();
    this.piscina = new Piscina({
      filename: threadWorkerPath(),
      minThreads: settings.minThreads,
      maxThreads: settings.maxThreads,
      // piscina's timer would take 2³¹ ms or more as 1 ms: so long an idle time is for good.
      idleTimeout: settings.idleTimeoutMs >= maxTimerDelayMs ? Infinity : settings.idleTimeoutMs,
      concurrentTasksPerWorker: settings.concurrentTasksPerWorker,
      // A thread gets its batches as 'message' events, each followed by the microtasks that
      // send its results, rather than piscina's default of reading every waiting batch in one
      // synchronous loop and answering after: so when a task ends its thread, the batches
      // before its own have answered already.
      atomics: 'disabled',
      resourceLimits: settings.resourceLimits,
      loadBalancer: this.#balancer(settings.concurrentTasksPerWorker),
      workerData: {
        runyardThreadPool: {
          filename: moduleUrl(settings.filename),
          exportName: settings.exportName,
          channel,
          cells: this.#slots.cells,
          times: this.#slots.times,
          slots: this.#slots.size,
        },
      },
    });
    this.piscina.on('message', (message: unknown) => {
      if (isCrashMessage(message)) {
        this.#onCrashMessage(message.runyardCrash.threadId, message.runyardCrash.error);
        return;
      }
      if (!isResultsMessage(message)) return;
      const entries = message.runyardResults;
      let again: PoolTask[] | undefined;
      for (let i = 0; i + 3 < entries.length; i += 4) {
        const slot = entries[i + 1] as number;
        const task = this.#slots.tasks[slot];
        if (task === undefined) continue;
        if (this.#outcome(task, entries[i] as number, slot, entries[i + 2], entries[i + 3])) {
          again = pushed(again, task);
        }
      }
      if (again !== undefined) {
        this.#requeue(again);
        host.wake();
      }
    });
    // A thread that died with no task of ours, other than by an uncaught error.
    this.piscina.on('error', (error: unknown) => {
      this.restarts++;
      console.error(`runyard: a thread of the pool \`${host.name}\` died while idle`, error);
    });
  }

  /** A thread reports the uncaught error it is about to exit for. */
  #onCrashMessage(thread: number, error: TaskFailure): void {
    if (this.#uncaught.has(thread)) return;
    this.#uncaught.set(thread, error);
    this.restarts++;
    // Kept until the thread's tasks have been told, which is when it has exited.
    const worker = this.piscina.threads.find((candidate) => candidate.threadId === thread);
    worker?.once('exit', () => setImmediate(() => this.#uncaught.delete(thread)));
    if (this.#uncaught.size > 64) this.#uncaught.delete(this.#uncaught.keys().next().value!);
    for (let slot = 0; slot < this.#slots.size; slot++) {
      if (this.#slots.tasks[slot] !== undefined && this.#slots.threadOf(slot) === thread) return;
    }
    // No task of ours ran there: an error thrown from a timer a task left behind.
    console.error(
      `runyard: a thread of the pool \`${this.#host.name}\` died while idle: ${error.name}: ${error.message}`,
    );
  }

  /** How many tasks the threads would take now. */
  get room(): number {
    return (this.#capacity - this.#batches) * (this.#batching ? this.#batchLimit : 1);
  }

  /** Whether another batch fits, and how many tasks it may carry. */
  nextBatchSize(): number {
    if (this.#batches >= this.#capacity) return 0;
    return this.#batching ? this.#batchLimit : 1;
  }

  /** The tasks the threads hold now. */
  *held(): Iterable<PoolTask> {
    for (const task of this.#slots.tasks) if (task !== undefined) yield task;
  }

  send(tasks: PoolTask[]): void {
    const batch = new Array<unknown>(tasks.length * BATCH_STRIDE);
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!;
      const slot = this.#slots.take(task);
      // A 32-bit sequence, as it must fit the shared cells; never 0.
      this.#seq = (this.#seq + 1) | 0 || 1;
      task.state = RUNNING;
      task.slot = slot;
      task.seq = this.#seq;
      this.running++;
      batch[i * BATCH_STRIDE] = this.#seq;
      batch[i * BATCH_STRIDE + 1] = slot;
      batch[i * BATCH_STRIDE + 2] = task.payload;
      batch[i * BATCH_STRIDE + 3] = task.exportName;
      if (task.timeoutMs > 0) this.#armTimeout(task, this.#seq, task.timeoutMs);
    }
    this.#batches++;
    // A task with a transfer list travels alone (see `run()`).
    const transferList = tasks[0]!.transferList as PiscinaRunOptions['transferList'];
    this.piscina.run(batch, transferList === undefined ? undefined : { transferList }).then(
      (results: unknown[]) => this.#onBatch(tasks, batch, results),
      (error: unknown) => this.#onBatchError(tasks, batch, error),
    );
  }

  /**
   * Cancels a task the threads hold (the first reason wins): a thread that has not started
   * it skips it; a running one sees its signal aborted, and its thread is terminated if it
   * has not settled `cancelGraceMs` later.
   */
  cancel(task: PoolTask, reason: Reason, detail: unknown): void {
    if (task.state !== RUNNING || task.reason !== undefined) return;
    task.reason = reason;
    task.detail = detail;
    this.clearTimers(task);
    if (!this.#slots.cancel(task.slot, task.seq)) {
      this.#host.settle(task, reasonError(task, this.#host.name, reason, detail), undefined);
      return;
    }
    this.#channel.postMessage({ id: task.seq, reason } satisfies CancelMessage);
    task.graceTimer = setLongTimeout(() => this.#terminate(task), this.#settings.cancelGraceMs);
  }

  clearTimers(task: PoolTask): void {
    if (task.timer !== undefined) {
      task.timer.clear();
      task.timer = undefined;
    }
    if (task.graceTimer !== undefined) {
      task.graceTimer.clear();
      task.graceTimer = undefined;
    }
  }

  /** Ends every thread; bounded, as a thread stuck in a system call may not end. */
  async destroy(): Promise<void> {
    await withTimeout(this.piscina.destroy(), threadPoolDefaults.terminateTimeoutMs);
    this.#channel.close();
  }

  /** piscina's least-busy choice, leaving out threads being terminated. */
  #balancer(maximumUsage: number): PiscinaOptions['loadBalancer'] {
    const ending = this.#ending;
    return ((_task: unknown, workers: readonly { id: number; currentUsage: number }[]) => {
      let candidate = null;
      let lowest = maximumUsage;
      for (const worker of workers) {
        if (ending.size > 0 && ending.has(worker.id)) continue;
        const usage = worker.currentUsage;
        if (usage === 0) return worker;
        if (usage < lowest) {
          candidate = worker;
          lowest = usage;
        }
      }
      return candidate;
    }) as PiscinaOptions['loadBalancer'];
  }

  #onBatch(tasks: PoolTask[], batch: unknown[], results: unknown[]): void {
    this.#batches--;
    const count = tasks.length;
    let again: PoolTask[] | undefined;
    for (let i = 0; i < count; i++) {
      const task = tasks[i]!;
      const seq = batch[i * BATCH_STRIDE] as number;
      const slot = batch[i * BATCH_STRIDE + 1] as number;
      if (this.#outcome(task, seq, slot, results[2 * i], results[2 * i + 1])) {
        again = pushed(again, task);
      }
    }
    if (again !== undefined) this.#requeue(again);
    if (this.#batching) {
      if (results[2 * count + 1] === 1) {
        this.#batching = false;
        this.#batchLimit = 1;
      } else this.#adapt(results[2 * count] as number);
    }
    this.#host.wake();
  }

  /** Keeps a batch's run time under about a millisecond: results do not wait long for each other. */
  #adapt(elapsedMs: number): void {
    if (elapsedMs < 0.5) {
      if (this.#batchLimit < threadPoolDefaults.maxBatch) this.#batchLimit *= 2;
    } else if (elapsedMs > 2 && this.#batchLimit > 1) {
      this.#batchLimit >>= 1;
    }
  }

  /** Whether the slot still holds this hand-over of the task (its result was not taken yet). */
  #owns(task: PoolTask, seq: number, slot: number): boolean {
    return this.#slots.tasks[slot] === task && task.seq === seq;
  }

  /**
   * A task's result, from its batch or sent ahead of it; the first copy counts.
   * @returns whether the task goes back to the queue (its thread did not start it).
   */
  #outcome(task: PoolTask, seq: number, slot: number, status: unknown, value: unknown): boolean {
    if (!this.#owns(task, seq, slot)) return false;
    const startedAt = task.record === undefined ? undefined : this.#slots.startedAt(slot);
    this.#slots.release(slot);
    // Not running: it was cancelled before it started (and skipped), and settled then.
    if (task.state !== RUNNING) return false;
    if (status === NOT_STARTED) return true;
    const host = this.#host;
    if (task.reason !== undefined) {
      const error = reasonError(task, host.name, task.reason, task.detail, true);
      host.settle(task, error, undefined, startedAt);
    } else if (status === OK) {
      host.settle(task, undefined, value, startedAt);
    } else if (status === FAILED) {
      host.settle(task, taskFailed(value as TaskFailure), undefined, startedAt);
    }
    return false;
  }

  /** piscina failed the batch: its thread died or was terminated, or it did not clone. */
  #onBatchError(tasks: PoolTask[], batch: unknown[], error: unknown): void {
    this.#batches--;
    const host = this.#host;
    const isCloneError = (error as { name?: unknown } | null)?.name === 'DataCloneError';
    let again: PoolTask[] | undefined;
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!;
      const slot = batch[i * BATCH_STRIDE + 1] as number;
      if (!this.#owns(task, batch[i * BATCH_STRIDE] as number, slot)) continue;
      const thread = this.#slots.threadOf(slot);
      const startedAt = task.record === undefined ? undefined : this.#slots.startedAt(slot);
      this.#slots.release(slot);
      if (task.state !== RUNNING) continue;
      if (task.reason !== undefined) {
        const failure = reasonError(task, host.name, task.reason, task.detail, thread !== 0);
        host.settle(task, failure, undefined, startedAt);
      } else if (thread === 0 && isCloneError) {
        if (tasks.length === 1) host.settle(task, invalidPayload(error), undefined);
        else {
          // One payload of the batch is at fault: each goes again alone, to find which.
          task.alone = true;
          again = pushed(again, task);
        }
      } else if (
        thread === 0 &&
        task.restarts < threadPoolDefaults.maxRestarts &&
        task.transferList === undefined
      ) {
        // It never started: another thread takes it, first in line. (What a task transferred
        // went with its dead thread: it cannot be sent again.)
        task.restarts++;
        again = pushed(again, task);
      } else {
        if (thread !== 0) this.#countDead(thread);
        const failure = crashed(task, error, {
          endedFor: this.#ending.get(thread),
          uncaught: this.#uncaught.get(thread),
          graceMs: this.#settings.cancelGraceMs,
        });
        host.settle(task, failure, undefined, startedAt);
      }
    }
    if (again !== undefined) this.#requeue(again);
    host.wake();
  }

  #requeue(tasks: PoolTask[]): void {
    for (const task of tasks) {
      this.clearTimers(task);
      this.running--;
    }
    this.#host.requeue(tasks);
  }

  #countDead(thread: number): void {
    if (this.#dead.has(thread) || this.#ending.has(thread) || this.#uncaught.has(thread)) return;
    this.#dead.add(thread);
    this.restarts++;
    // Every task of that thread is told in this turn of the event loop.
    setImmediate(() => this.#dead.delete(thread));
  }

  /** The task ignored its aborted signal for `cancelGraceMs`: its thread is terminated. */
  #terminate(task: PoolTask): void {
    task.graceTimer = undefined;
    if (task.state !== RUNNING) return;
    task.terminated = true;
    const thread = this.#slots.threadOf(task.slot);
    const worker = this.piscina.threads.find((candidate) => candidate.threadId === thread);
    if (worker !== undefined && !this.#ending.has(thread)) {
      this.restarts++;
      this.#ending.set(thread, task.name);
      worker.once('exit', () => setImmediate(() => this.#ending.delete(thread)));
      // piscina sees the thread exit, fails its batches and starts a replacement.
      worker.terminate().catch(noop);
    }
    // The thread may not end (stuck in a system call): the task settles without waiting for it.
    task.graceTimer = setLongTimeout(() => {
      task.graceTimer = undefined;
      if (task.state !== RUNNING) return;
      const error = reasonError(task, this.#host.name, task.reason!, task.detail, true);
      error.message += `; the thread did not end within ${threadPoolDefaults.terminateTimeoutMs} ms`;
      this.#host.settle(task, error, undefined);
    }, threadPoolDefaults.terminateTimeoutMs);
  }

  #armTimeout(task: PoolTask, seq: number, delay: number): void {
    task.timer = setLongTimeout(() => {
      task.timer = undefined;
      if (task.state !== RUNNING || task.seq !== seq || task.reason !== undefined) return;
      // The time limit runs from the task's start on its thread, which the thread records.
      const startedAt = this.#slots.startedAt(task.slot);
      if (startedAt === undefined) return this.#armTimeout(task, seq, task.timeoutMs);
      const remaining = startedAt + task.timeoutMs - Date.now();
      if (remaining > 1) return this.#armTimeout(task, seq, remaining);
      this.cancel(task, 'timeout', undefined);
    }, delay);
  }
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    promise.then(done, done);
  });
}

/** `list` with `item` added; the list is made on the first item, as most batches need none. */
function pushed(list: PoolTask[] | undefined, item: PoolTask): PoolTask[] {
  if (list === undefined) return [item];
  list.push(item);
  return list;
}
