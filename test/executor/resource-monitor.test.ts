import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isRunyardError } from '../../src/core/errors.js';
import {
  findCgroupMemory,
  ResourceMonitor,
  type ResourceSample,
  type ResourceSnapshot,
  systemSampler,
} from '../../src/executor/resource-monitor.js';

const GiB = 1024 ** 3;
const monitors: ResourceMonitor[] = [];

function monitor(options: ConstructorParameters<typeof ResourceMonitor>[0] = {}): ResourceMonitor {
  const created = new ResourceMonitor(options);
  monitors.push(created);
  return created;
}

function sampler(state: Partial<ResourceSample>): () => ResourceSample {
  return () => ({ cpuPercent: 0, memoryPercent: 0, freeMemoryBytes: GiB, ...state });
}

afterEach(() => {
  for (const m of monitors.splice(0)) m.close();
});

describe('ResourceMonitor', () => {
  it('has the documented defaults and a real first sample', () => {
    const m = monitor();
    expect(m.maxCpuPercent).toBe(90);
    expect(m.maxMemoryPercent).toBe(85);
    expect(m.sampleMs).toBe(1000);
    const snapshot = m.snapshot();
    expect(snapshot.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(snapshot.cpuPercent).toBeLessThanOrEqual(100);
    expect(snapshot.memoryPercent).toBeGreaterThan(0);
    expect(snapshot.memoryPercent).toBeLessThanOrEqual(100);
    expect(snapshot.freeMemoryBytes).toBeGreaterThan(0);
    expect(snapshot.loadAvg).toHaveLength(3);
    expect(Object.isFrozen(snapshot)).toBe(true);
    // Cheap: the same sample until the next one is taken.
    expect(m.snapshot()).toBe(snapshot);
  });

  it('has capacity exactly at the thresholds, and none just above', () => {
    const state: Partial<ResourceSample> = { cpuPercent: 90, memoryPercent: 85 };
    const m = monitor({ sample: () => sampler(state)(), sampleMs: 1e8 });
    expect(m.hasCapacity()).toBe(true);
    state.cpuPercent = 90.01;
    m.refresh();
    expect(m.hasCapacity()).toBe(false);
    state.cpuPercent = 10;
    state.memoryPercent = 85.5;
    m.refresh();
    expect(m.hasCapacity()).toBe(false);
    state.memoryPercent = 85;
    m.refresh();
    expect(m.hasCapacity()).toBe(true);
  });

  it('honours its own limits', () => {
    const m = monitor({
      maxCpuPercent: 50,
      maxMemoryPercent: 100,
      sample: sampler({ cpuPercent: 60, memoryPercent: 100 }),
    });
    expect(m.hasCapacity()).toBe(false);
  });

  it('samples on its timer and tells subscribers', async () => {
    let calls = 0;
    const m = monitor({
      sampleMs: 5,
      clock: { now: () => 1234 },
      sample: () => {
        calls++;
        return { cpuPercent: calls, memoryPercent: 1, freeMemoryBytes: 1 };
      },
    });
    const next = new Promise<ResourceSnapshot>((resolve) => {
      const off = m.subscribe((snapshot) => {
        off();
        resolve(snapshot);
      });
    });
    const snapshot = await next;
    expect(snapshot.cpuPercent).toBeGreaterThanOrEqual(2);
    expect(snapshot.sampledAt).toBe(1234);
    expect(m.snapshot()).toBe(snapshot);
  });

  it('a sampleMs past 2^31 ms does not sample at once and again', async () => {
    let calls = 0;
    monitor({
      sampleMs: 30 * 86_400_000,
      sample: () => {
        calls++;
        return sampler({})();
      },
    });
    // Against a monitor sampling every 5 ms: by its fifth sample the slow one has only the first.
    let quickCalls = 0;
    const quick = monitor({ sampleMs: 5, sample: sampler({}) });
    await new Promise<void>((resolve) => {
      quick.subscribe(() => {
        if (++quickCalls === 5) resolve();
      });
    });
    expect(calls).toBe(1);
  });

  it('refresh() samples now; unsubscribe and close() stop the calls', () => {
    const m = monitor({ sample: sampler({}), sampleMs: 1e8 });
    const listener = vi.fn();
    const off = m.subscribe(listener);
    m.refresh();
    expect(listener).toHaveBeenCalledTimes(1);
    off();
    m.refresh();
    expect(listener).toHaveBeenCalledTimes(1);
    m.subscribe(listener);
    m.close();
    m.close();
    m.refresh();
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('logs a throwing listener or sampler and keeps going', () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      let fail = false;
      const m = monitor({
        sampleMs: 1e8,
        sample: () => {
          if (fail) throw new Error('sensor broke');
          return { cpuPercent: 5, memoryPercent: 5, freeMemoryBytes: 5 };
        },
      });
      const good = vi.fn();
      m.subscribe(() => {
        throw new Error('listener bug');
      });
      m.subscribe(good);
      m.refresh();
      expect(good).toHaveBeenCalledTimes(1);
      const before = m.snapshot();
      fail = true;
      expect(m.refresh()).toBe(before);
      expect(m.snapshot()).toBe(before);
      expect(logged).toHaveBeenCalledTimes(2);
    } finally {
      logged.mockRestore();
    }
  });

  it.each([
    [
      { maxCpuPercent: 101 },
      'Expected `maxCpuPercent` to be a number from 0 to 100, got `101` (number)',
    ],
    [
      { maxMemoryPercent: -1 },
      'Expected `maxMemoryPercent` to be a number from 0 to 100, got `-1` (number)',
    ],
    [{ sampleMs: 0 }, 'Expected `sampleMs` to be a finite number of at least 1, got `0` (number)'],
    [{ sample: 'fast' }, 'Expected `sample` to be a function, got `"fast"` (string)'],
    [{ clock: {} }, 'Expected `clock` to be an object with a `now()` method, got `{}` (object)'],
    [
      { sampleEvery: 5 },
      'Unknown option `sampleEvery`. Known options: maxCpuPercent, maxMemoryPercent, sampleMs, clock, sample',
    ],
    [
      { maxCpu: 50 },
      'Unknown option `maxCpu`: did you mean `maxCpuPercent`? Known options: maxCpuPercent, maxMemoryPercent, sampleMs, clock, sample',
    ],
  ])('rejects %j', (options, message) => {
    let thrown: unknown;
    try {
      new ResourceMonitor(options as never);
    } catch (error) {
      thrown = error;
    }
    expect(isRunyardError(thrown, 'ERR_INVALID')).toBe(true);
    expect((thrown as Error).message).toBe(message);
  });
});

describe('systemSampler', () => {
  it('measures CPU and memory within range', () => {
    const sample = systemSampler();
    for (let i = 0; i < 2; i++) {
      const s = sample();
      expect(s.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(s.cpuPercent).toBeLessThanOrEqual(100);
      expect(s.memoryPercent).toBeGreaterThan(0);
      expect(s.memoryPercent).toBeLessThanOrEqual(100);
      expect(s.freeMemoryBytes).toBeGreaterThan(0);
    }
  });
});

describe('findCgroupMemory', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'runyard-cgroup-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function files(dir: string, contents: Record<string, string>): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const [name, text] of Object.entries(contents)) await writeFile(join(dir, name), text);
  }

  it('reads a v2 limit and counts usage without inactive page cache', async () => {
    await files(join(root, 'app.slice', 'svc'), {
      'memory.max': `${2 * GiB}\n`,
      'memory.current': `${GiB}\n`,
      'memory.stat': `anon 1\ninactive_file ${GiB / 4}\nactive_file 3\n`,
    });
    const found = findCgroupMemory({
      root,
      selfCgroup: '0::/app.slice/svc\n',
      totalMemoryBytes: 16 * GiB,
    });
    expect(found).toMatchObject({ version: 2, limitBytes: 2 * GiB });
    expect(found!.usageBytes()).toBe((3 * GiB) / 4);
  });

  it('takes the tightest limit among the ancestors', async () => {
    await files(join(root, 'kubepods', 'pod1'), {
      'memory.max': `${GiB}\n`,
      'memory.current': '10',
    });
    await files(join(root, 'kubepods', 'pod1', 'box'), {
      'memory.max': 'max\n',
      'memory.current': '5',
    });
    const found = findCgroupMemory({
      root,
      selfCgroup: '0::/kubepods/pod1/box',
      totalMemoryBytes: 16 * GiB,
    });
    expect(found).toMatchObject({ limitBytes: GiB, dir: join(root, 'kubepods', 'pod1') });
    expect(found!.usageBytes()).toBe(10);
  });

  it("finds a container's limit at the mount root when its own path is not there", async () => {
    await files(root, { 'memory.max': `${GiB}`, 'memory.current': `${GiB / 2}` });
    const found = findCgroupMemory({
      root,
      selfCgroup: '0::/docker/abc123',
      totalMemoryBytes: 16 * GiB,
    });
    expect(found).toMatchObject({ version: 2, limitBytes: GiB, dir: root });
    expect(found!.usageBytes()).toBe(GiB / 2);
  });

  it('reads a v1 limit from the memory hierarchy', async () => {
    await files(join(root, 'memory', 'job'), {
      'memory.limit_in_bytes': `${4 * GiB}\n`,
      'memory.usage_in_bytes': `${3 * GiB}\n`,
      'memory.stat': `cache 1\ninactive_file 7\ntotal_inactive_file ${GiB}\n`,
    });
    const found = findCgroupMemory({
      root,
      selfCgroup: '12:pids:/job\n4:memory:/job\n0::/\n',
      totalMemoryBytes: 16 * GiB,
    });
    expect(found).toMatchObject({ version: 1, limitBytes: 4 * GiB });
    expect(found!.usageBytes()).toBe(2 * GiB);
  });

  it('ignores "no limit": v2 max, the huge v1 number, or a limit at or above the RAM', async () => {
    await files(join(root, 'memory'), {
      'memory.limit_in_bytes': '9223372036854771712\n',
      'memory.usage_in_bytes': '100',
    });
    expect(
      findCgroupMemory({ root, selfCgroup: '4:memory:/\n', totalMemoryBytes: 16 * GiB }),
    ).toBeUndefined();
    await files(join(root, 'svc'), { 'memory.max': 'max', 'memory.current': '1' });
    expect(
      findCgroupMemory({ root, selfCgroup: '0::/svc', totalMemoryBytes: 16 * GiB }),
    ).toBeUndefined();
    await files(join(root, 'big'), { 'memory.max': `${32 * GiB}`, 'memory.current': '1' });
    expect(
      findCgroupMemory({ root, selfCgroup: '0::/big', totalMemoryBytes: 16 * GiB }),
    ).toBeUndefined();
    expect(findCgroupMemory({ root: join(root, 'nowhere'), selfCgroup: '' })).toBeUndefined();
  });
});
