/**
 * Recovery ends only runs whose owner is really dead: a live batch, pool or direct run of
 * another process (or of this one) is never touched by `recover()` or the maintenance job.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Runyard, SqliteStore, TaskManager } from '../../src/index.js';

const homes: string[] = [];
const yards: Runyard[] = [];

afterEach(async () => {
  await Promise.allSettled(yards.splice(0).map((yard) => yard.close({ graceMs: 0 })));
  await Promise.all(homes.splice(0).map((home) => rm(home, { recursive: true, force: true })));
});

async function openYard(): Promise<{ yard: Runyard; dbPath: string }> {
  const home = await mkdtemp(join(tmpdir(), 'runyard-recover-live-'));
  homes.push(home);
  const yard = await Runyard.open({ home, resources: false });
  yards.push(yard);
  return { yard, dbPath: join(home, 'runyard.db') };
}

const sleeper = (seconds: number) => ({ command: 'sleep', args: [String(seconds)] });

async function waitForRunning(yard: Runyard, count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { runs } = await yard.store.list({ status: 'running', pattern: 'concurrent' });
    if (runs.filter((run) => run.pid !== undefined).length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`fewer than ${count} runs were running after 20 s`);
}

describe('recovery leaves live runs alone', () => {
  it("the yard's own recover-runs job does not end a live batch", async () => {
    const { yard } = await openYard();
    const batch = yard.execute([sleeper(1.5), sleeper(1.5)]);
    await waitForRunning(yard, 2);
    await yard.scheduler.get('maintenance.recover-runs')!.trigger();
    const results = await batch;
    expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    const { runs } = await yard.store.list({ pattern: 'concurrent' });
    expect(runs.every((run) => run.owner?.pid === process.pid)).toBe(true);
  });

  it("another process's recover() does not end a live batch", async () => {
    const { yard, dbPath } = await openYard();
    const batch = yard.execute([sleeper(1.5), sleeper(1.5)]);
    await waitForRunning(yard, 2);
    // A second process on the same store, as a restarted server beside a live one would be.
    const script = `
      import { SqliteStore, TaskManager } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'dist', 'index.js'))};
      const store = new SqliteStore({ path: process.argv[1] });
      const manager = new TaskManager({ store });
      const summary = await manager.recover();
      await manager.shutdown();
      await store.close();
      console.log(JSON.stringify(summary));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dbPath], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
    });
    await once(child, 'close');
    expect(JSON.parse(out)).toMatchObject({ interrupted: 0, requeued: 0, orphansEnded: 0 });
    const results = await batch;
    expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
  });

  it('a run recorded without an owner is left as it is', async () => {
    const home = await mkdtemp(join(tmpdir(), 'runyard-recover-live-'));
    homes.push(home);
    const store = new SqliteStore({ path: join(home, 'runyard.db') });
    const id = '01900000-0000-7000-8000-000000000001';
    await store.create({
      id,
      name: 'foreign',
      pattern: 'simple',
      status: 'running',
      attempt: 1,
      createdAt: new Date().toISOString(),
      output: { lines: 0, bytes: 0, truncated: false },
    });
    const manager = new TaskManager({ store, logDir: join(home, 'logs') });
    expect(await manager.recover()).toMatchObject({ interrupted: 0 });
    expect((await store.get(id))?.status).toBe('running');
    await manager.shutdown();
    await store.close();
  });
});
