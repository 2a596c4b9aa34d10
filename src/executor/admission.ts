/*
 * The `Admission` line: tasks with a free slot that wait for CPU or memory, and their timeouts.
 * Kept apart from `Executor` so the resource wait, its subscription and its timer live together.
 */
import { type LongTimer, setLongTimeout } from '../core/timers.js';
import type { PriorityQueue, QueueItem } from './priority-queue.js';
import type { ResourceMonitor } from './resource-monitor.js';

/** What the admission line needs of a task. */
export interface AdmissionItem {
  /** Why the task waits; set to `'resources'` when it joins the line. */
  waitingFor: 'concurrency' | 'resources';
  /** `performance.now()` when it stops waiting for resources. */
  deadline: number;
}

export interface AdmissionOptions<T extends AdmissionItem & QueueItem> {
  /** Undefined without resource admission: nothing ever waits for CPU or memory then. */
  readonly monitor: ResourceMonitor | undefined;
  /** The monitor was made for this line's executor, so `close()` closes it. */
  readonly ownsMonitor: boolean;
  /** How long a task may wait for CPU or memory. */
  readonly timeoutMs: number;
  /** Starts what can start: called at every sample while tasks wait, and after some timed out. */
  readonly tryStart: () => void;
  /** Called for a task that waited `timeoutMs` in vain, once it is out of the line. */
  readonly onTimeout: (item: T, message: string) => void;
}

/**
 * The tasks that have a free slot but wait for CPU or memory, oldest first. While any waits,
 * the line listens to the monitor's samples and keeps one timer, for the first deadline; when
 * none waits, it holds neither, so an idle executor keeps nothing alive.
 */
export class Admission<T extends AdmissionItem & QueueItem> {
  readonly #monitor: ResourceMonitor | undefined;
  readonly #ownsMonitor: boolean;
  readonly #timeoutMs: number;
  readonly #tryStart: () => void;
  readonly #onTimeout: (item: T, message: string) => void;
  readonly #line: T[] = [];
  #unsubscribe: (() => void) | undefined;
  #timer: LongTimer | undefined;
  #timerAt = 0;
  readonly #onTimer = () => this.#expire();

  constructor(options: AdmissionOptions<T>) {
    this.#monitor = options.monitor;
    this.#ownsMonitor = options.ownsMonitor;
    this.#timeoutMs = options.timeoutMs;
    this.#tryStart = options.tryStart;
    this.#onTimeout = options.onTimeout;
  }

  /** Tasks waiting in the line. */
  get size(): number {
    return this.#line.length;
  }

  /** True without a monitor; otherwise whether CPU and memory are within their limits now. */
  hasCapacity(): boolean {
    return this.#monitor === undefined || this.#monitor.hasCapacity();
  }

  /**
   * Moves tasks from the front of `queue` to the back of the line until `count` wait, all to
   * wait `timeoutMs` from now; `onWait` is called for each. Call `sync()` after.
   */
  fillFrom(queue: PriorityQueue<T>, count: number, onWait: (item: T) => void): void {
    const line = this.#line;
    const deadline = performance.now() + this.#timeoutMs;
    while (line.length < count && queue.size > 0) {
      const item = queue.pop()!;
      item.waitingFor = 'resources';
      item.deadline = deadline;
      line.push(item);
      onWait(item);
    }
  }

  /** Takes out the task that waited longest: the next to start. */
  shift(): T | undefined {
    return this.#line.shift();
  }

  /** Takes `item` out wherever it is. False when it is not in the line. */
  remove(item: T): boolean {
    const index = this.#line.indexOf(item);
    if (index < 0) return false;
    this.#line.splice(index, 1);
    return true;
  }

  /** Empties the line, returning its tasks oldest first; call `sync()` after. */
  drain(): T[] {
    return this.#line.splice(0);
  }

  /**
   * Matches the subscription and the timer to the line: re-check at every sample and fail the
   * first task at its deadline while any waits, hold nothing otherwise.
   */
  sync(): void {
    const first = this.#line[0];
    if (first === undefined) {
      if (this.#unsubscribe === undefined && this.#timer === undefined) return;
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      this.#timer?.clear();
      this.#timer = undefined;
      return;
    }
    this.#unsubscribe ??= this.#monitor?.subscribe(this.#tryStart);
    if (this.#timer !== undefined && this.#timerAt === first.deadline) return;
    this.#timer?.clear();
    this.#timer = undefined;
    if (first.deadline === Number.POSITIVE_INFINITY) return;
    this.#timerAt = first.deadline;
    const delay = Math.max(1, Math.ceil(first.deadline - performance.now()));
    this.#timer = setLongTimeout(this.#onTimer, delay);
  }

  /** Closes the monitor if it was made for this executor. */
  close(): void {
    if (this.#ownsMonitor) this.#monitor?.close();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    const line = this.#line;
    // The line is read again after each callback, which may have started or removed tasks.
    while (line.length > 0 && line[0]!.deadline <= now) {
      const item = line.shift()!;
      this.#onTimeout(item, this.#timeoutMessage());
    }
    this.#tryStart();
    this.sync();
  }

  #timeoutMessage(): string {
    const monitor = this.#monitor!;
    const snapshot = monitor.snapshot();
    return (
      `waited ${this.#timeoutMs} ms for CPU or memory and was not started ` +
      `(CPU ${Math.round(snapshot.cpuPercent)}% of at most ${monitor.maxCpuPercent}%, ` +
      `memory ${Math.round(snapshot.memoryPercent)}% of at most ${monitor.maxMemoryPercent}%)`
    );
  }
}
