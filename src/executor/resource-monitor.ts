/*
 * `ResourceMonitor`: samples CPU and memory (cgroup-aware) on a timer and answers `hasCapacity()`.
 * A public class of its own, as one monitor can be shared by several executors or used directly.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { type Clock, systemClock } from '../core/clock.js';
import { type LongTimer, setLongTimeout } from '../core/timers.js';
import { checkFunction, checkKnownKeys, checkPlainObject, invalid } from '../core/validate.js';

/** CPU and memory as a sampler sees them. */
export interface ResourceSample {
  /** CPU in use across all cores since the previous sample, 0–100. */
  cpuPercent: number;
  /** Memory in use, of the cgroup limit when there is one, else of the machine, 0–100. */
  memoryPercent: number;
  /** Memory still available under that same limit. */
  freeMemoryBytes: number;
}

/** The latest sample, with the load average and the time it was taken. */
export interface ResourceSnapshot extends ResourceSample {
  /** `os.loadavg()`: 1, 5 and 15 minutes. */
  readonly loadAvg: readonly number[];
  /** Milliseconds since the Unix epoch, from the monitor's clock. */
  readonly sampledAt: number;
}

export interface ResourceMonitorOptions {
  /** `hasCapacity()` is false above this much CPU in use (exactly at it is still true). @default 90 */
  readonly maxCpuPercent?: number;
  /** `hasCapacity()` is false above this much memory in use (exactly at it is still true). @default 85 */
  readonly maxMemoryPercent?: number;
  /** Time between samples, taken on a timer that never holds the process open. @default 1000 */
  readonly sampleMs?: number;
  /** Where `sampledAt` comes from. @default systemClock */
  readonly clock?: Clock;
  /**
   * Measures CPU and memory instead of the built-in sampler: a custom source, or a test that
   * needs the machine to look full. Called once at construction, then every `sampleMs`.
   * @default CPU from `os.cpus()` deltas; memory from the cgroup (v2 or v1) when it sets a
   * limit, else `os.totalmem()` and `os.freemem()`
   */
  readonly sample?: () => ResourceSample;
}

/** The documented defaults of `ResourceMonitorOptions`, for docs tests. */
export const monitorDefaults = { maxCpuPercent: 90, maxMemoryPercent: 85, sampleMs: 1000 } as const;

/**
 * Watches CPU and memory so work is started only while the machine has room for it.
 *
 * Samples are taken on an `unref()`'d timer; `snapshot()` and `hasCapacity()` only read the
 * latest one, so asking is free and never blocks the event loop (the original sampled CPU for
 * 100 ms inside each request). The first CPU figure is the average since boot; later ones cover
 * the time since the previous sample. In a container, memory is measured against the cgroup's
 * limit, not the host's RAM.
 *
 * @example
 * const monitor = new ResourceMonitor({ maxCpuPercent: 80 });
 * if (!monitor.hasCapacity()) console.log('busy', monitor.snapshot());
 * monitor.close();
 */
export class ResourceMonitor {
  readonly maxCpuPercent: number;
  readonly maxMemoryPercent: number;
  readonly sampleMs: number;
  readonly #clock: Clock;
  readonly #sample: () => ResourceSample;
  readonly #listeners = new Set<(snapshot: ResourceSnapshot) => void>();
  #snapshot: ResourceSnapshot;
  #timer: LongTimer | undefined;
  #isClosed = false;

  constructor(options: ResourceMonitorOptions = {}) {
    checkPlainObject('options', options);
    checkKnownKeys('options', options, [
      'maxCpuPercent',
      'maxMemoryPercent',
      'sampleMs',
      'clock',
      'sample',
    ]);
    checkPercent('maxCpuPercent', options.maxCpuPercent);
    checkPercent('maxMemoryPercent', options.maxMemoryPercent);
    if (
      options.sampleMs !== undefined &&
      (typeof options.sampleMs !== 'number' ||
        !Number.isFinite(options.sampleMs) ||
        options.sampleMs < 1)
    ) {
      throw invalid('sampleMs', 'a finite number of at least 1', options.sampleMs);
    }
    if (
      options.clock !== undefined &&
      (typeof options.clock !== 'object' ||
        options.clock === null ||
        typeof options.clock.now !== 'function')
    ) {
      throw invalid('clock', 'an object with a `now()` method', options.clock);
    }
    checkFunction('sample', options.sample);
    this.maxCpuPercent = options.maxCpuPercent ?? monitorDefaults.maxCpuPercent;
    this.maxMemoryPercent = options.maxMemoryPercent ?? monitorDefaults.maxMemoryPercent;
    this.sampleMs = options.sampleMs ?? monitorDefaults.sampleMs;
    this.#clock = options.clock ?? systemClock;
    this.#sample = options.sample ?? systemSampler();
    this.#snapshot = this.#take() ?? {
      cpuPercent: 0,
      memoryPercent: 0,
      freeMemoryBytes: os.freemem(),
      loadAvg: Object.freeze(os.loadavg()),
      sampledAt: this.#clock.now(),
    };
    this.#schedule();
  }

  /** The latest sample. Cheap: nothing is measured on the call. */
  snapshot(): ResourceSnapshot {
    return this.#snapshot;
  }

  /** True while CPU and memory are both at or under their limits in the latest sample. */
  hasCapacity(): boolean {
    const snapshot = this.#snapshot;
    return (
      snapshot.cpuPercent <= this.maxCpuPercent && snapshot.memoryPercent <= this.maxMemoryPercent
    );
  }

  /**
   * Takes a sample now (without waiting for the timer), tells the subscribers and returns it.
   * A sampler that throws leaves the previous sample in place.
   */
  refresh(): ResourceSnapshot {
    const snapshot = this.#take();
    if (snapshot === undefined) return this.#snapshot;
    this.#snapshot = snapshot;
    for (const listener of this.#listeners) {
      try {
        listener(snapshot);
      } catch (error) {
        console.error('runyard: a resource monitor listener threw', error);
      }
    }
    return snapshot;
  }

  /**
   * Calls `listener` with every new sample.
   * @returns The unsubscribe function.
   */
  subscribe(listener: (snapshot: ResourceSnapshot) => void): () => void {
    checkFunction('listener', listener);
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Stops sampling; the last snapshot stays readable. Idempotent. */
  close(): void {
    this.#isClosed = true;
    this.#timer?.clear();
    this.#timer = undefined;
    this.#listeners.clear();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** The next sample, one timer at a time, whatever `sampleMs` is (an interval clamps past 2³¹ ms). */
  #schedule(): void {
    this.#timer = setLongTimeout(() => {
      this.refresh();
      if (!this.#isClosed) this.#schedule();
    }, this.sampleMs).unref();
  }

  #take(): ResourceSnapshot | undefined {
    let sample: ResourceSample;
    try {
      sample = this.#sample();
    } catch (error) {
      console.error('runyard: the resource sampler threw', error);
      return undefined;
    }
    return Object.freeze({
      cpuPercent: sample.cpuPercent,
      memoryPercent: sample.memoryPercent,
      freeMemoryBytes: sample.freeMemoryBytes,
      loadAvg: Object.freeze(os.loadavg()),
      sampledAt: this.#clock.now(),
    });
  }
}

function checkPercent(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !(value >= 0 && value <= 100)) {
    throw invalid(field, 'a number from 0 to 100', value);
  }
}

/** The built-in sampler: CPU from `os.cpus()` deltas, memory from the cgroup or the machine. */
export function systemSampler(): () => ResourceSample {
  let lastBusy = 0;
  let lastTotal = 0;
  let cpuPercent = 0;
  const cgroup = findCgroupMemory();
  return () => {
    let busy = 0;
    let total = 0;
    for (const { times } of os.cpus()) {
      const all = times.user + times.nice + times.sys + times.idle + times.irq;
      total += all;
      busy += all - times.idle;
    }
    // From a zero baseline, the first figure is the average since boot.
    if (total > lastTotal) {
      cpuPercent = clampPercent(((busy - lastBusy) / (total - lastTotal)) * 100);
    }
    lastBusy = busy;
    lastTotal = total;

    let limit: number;
    let free: number;
    const used = cgroup?.usageBytes();
    if (cgroup !== undefined && used !== undefined) {
      limit = cgroup.limitBytes;
      free = Math.max(0, limit - used);
    } else {
      limit = os.totalmem();
      free = os.freemem();
    }
    return {
      cpuPercent,
      memoryPercent: clampPercent(((limit - free) / limit) * 100),
      freeMemoryBytes: free,
    };
  };
}

function clampPercent(value: number): number {
  return Number.isFinite(value) ? Math.min(100, Math.max(0, value)) : 0;
}

/** A cgroup memory limit that applies to this process. */
export interface CgroupMemory {
  version: 1 | 2;
  /** The cgroup directory that sets the tightest limit (this process's own or an ancestor). */
  dir: string;
  limitBytes: number;
  /**
   * The working set under that limit, as `docker stats` and the kubelet count it: usage minus
   * inactive page cache, which the kernel reclaims before it runs out. Undefined when it can no
   * longer be read.
   */
  usageBytes(): number | undefined;
}

/**
 * Finds the memory limit of this process's cgroup (v2 `memory.max`, v1
 * `memory.limit_in_bytes`), walking up to the mount root since a limit may be set on an
 * ancestor (a pod, a slice). Undefined when no limit is set or it is not below the machine's RAM.
 *
 * Files are read synchronously: they are kernel pseudo-files answered from memory in
 * microseconds, read once here and then once per sample.
 */
export function findCgroupMemory(
  options: { root?: string; selfCgroup?: string; totalMemoryBytes?: number } = {},
): CgroupMemory | undefined {
  const root = options.root ?? '/sys/fs/cgroup';
  const selfCgroup = options.selfCgroup ?? readText('/proc/self/cgroup') ?? '';
  const totalMemory = options.totalMemoryBytes ?? os.totalmem();
  let v1Path: string | undefined;
  let v2Path: string | undefined;
  for (const line of selfCgroup.split('\n')) {
    // hierarchy-id:controllers:path
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === '' && line.slice(0, first) === '0') v2Path = path;
    else if (controllers.split(',').includes('memory')) v1Path = path;
  }
  const candidates: { version: 1 | 2; base: string; path: string }[] = [];
  // A hybrid system mounts v2 too, but the memory controller then lives in the v1 hierarchy.
  if (v1Path !== undefined)
    candidates.push({ version: 1, base: join(root, 'memory'), path: v1Path });
  if (v2Path !== undefined) candidates.push({ version: 2, base: root, path: v2Path });
  if (candidates.length === 0) candidates.push({ version: 2, base: root, path: '/' });

  for (const { version, base, path } of candidates) {
    const files =
      version === 2
        ? { limit: 'memory.max', usage: 'memory.current', inactive: 'inactive_file' }
        : {
            limit: 'memory.limit_in_bytes',
            usage: 'memory.usage_in_bytes',
            inactive: 'total_inactive_file',
          };
    let best: { dir: string; limit: number } | undefined;
    // From the process's own cgroup up to the mount root: inside a container the mount root
    // is the container's cgroup, and the path printed for it may not exist there.
    for (const dir of ancestors(base, path)) {
      const text = readText(join(dir, files.limit));
      if (text === undefined) continue;
      const limit = text.trim() === 'max' ? Number.POSITIVE_INFINITY : Number(text);
      if (!Number.isFinite(limit) || limit <= 0) continue;
      if (best === undefined || limit < best.limit) best = { dir, limit };
    }
    // v1 writes "no limit" as a huge number; any limit at or above the RAM limits nothing.
    if (best === undefined || best.limit >= totalMemory) continue;
    const dir = best.dir;
    if (readText(join(dir, files.usage)) === undefined) continue;
    const inactivePattern = new RegExp(`^${files.inactive} (\\d+)$`, 'm');
    return {
      version,
      dir,
      limitBytes: best.limit,
      usageBytes() {
        const usage = Number(readText(join(dir, files.usage)));
        if (!Number.isFinite(usage)) return undefined;
        const stat = readText(join(dir, 'memory.stat')) ?? '';
        const match = inactivePattern.exec(stat);
        const inactive = match ? Number(match[1]) : 0;
        return Math.max(0, usage - inactive);
      },
    };
  }
  return undefined;
}

function* ancestors(base: string, path: string): Generator<string> {
  const parts = path.split('/').filter((part) => part !== '' && part !== '..');
  for (let i = parts.length; i >= 0; i--) yield join(base, ...parts.slice(0, i));
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
