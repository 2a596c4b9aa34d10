import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunyardError } from '../../src/core/errors.js';
import type { RunRecord, RunStatus } from '../../src/core/types.js';
import {
  MemoryStore,
  type PruneOptions,
  type RunPatch,
  type RunQuery,
  type RunStore,
  SqliteStore,
} from '../../src/store/index.js';
import { makeFullRun, makeRun, newestFirst } from './records.js';

let dir: string;
let store: RunStore;
/** The time the stores see, for `prune({ olderThan: ageMs })`. */
let nowMs = 0;
const clock = { now: () => nowMs };

const allStatuses: RunStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
  'interrupted',
];

async function rejection(promise: Promise<unknown>): Promise<RunyardError> {
  try {
    await promise;
  } catch (error) {
    return error as RunyardError;
  }
  throw new Error('Expected a rejection');
}

async function createAll(records: RunRecord[]): Promise<RunRecord[]> {
  for (const record of records) await store.create(record);
  return records;
}

/** Every run a query matches, page after page. */
async function listAll(query: RunQuery): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ ...query, cursor });
    ids.push(...page.runs.map((run) => run.id));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return ids;
}

async function ids(query?: RunQuery): Promise<string[]> {
  return (await store.list(query)).runs.map((run) => run.id);
}

describe.each([
  ['memory', () => new MemoryStore({ clock })],
  ['sqlite', () => new SqliteStore({ path: join(dir, 'runyard.db'), clock })],
] as const)('%s store', (_kind, open: () => RunStore) => {
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'runyard-store-'));
    nowMs = Date.UTC(2030, 0, 1);
    store = open();
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('create and get', () => {
    it('gives back a record deep-equal to the one stored, every field included', async () => {
      const full = makeFullRun();
      const finished = makeRun({
        status: 'failed',
        exitCode: 1,
        exitSignal: 'SIGTERM',
        finishedAt: new Date(nowMs).toISOString(),
        waitingFor: 'retry-backoff',
        labels: {},
        params: {},
        args: [],
      });
      expect(await store.create(full)).toEqual(full);
      expect(await store.create(finished)).toEqual(finished);
      expect(await store.get(full.id)).toEqual(full);
      expect(await store.get(finished.id)).toEqual(finished);
      expect((await store.list()).runs).toEqual([finished, full]);
    });

    it('copies records in and out, so no caller can change what is stored', async () => {
      const record = makeFullRun();
      const snapshot = structuredClone(record);
      const created = await store.create(record);
      record.labels!.team = 'changed';
      (record.params!.list as unknown[]).push('changed');
      record.output.lines = -5;
      created.owner!.pid = 1;
      const got = await store.get(record.id);
      expect(got).toEqual(snapshot);
      got!.args!.push('changed');
      const listed = (await store.list()).runs[0]!;
      listed.labels!.env = 'changed';
      expect(await store.get(record.id)).toEqual(snapshot);
    });

    it('treats a field set to undefined as absent', async () => {
      const record = { ...makeRun(), pid: undefined, labels: undefined };
      const created = await store.create(record);
      expect(Object.keys(created)).not.toContain('pid');
      expect(await store.get(record.id)).toEqual(makeRunLike(record));
    });

    it('refuses a second run with the same id: ERR_CONFLICT', async () => {
      const first = await store.create(makeRun({ name: 'first' }));
      const error = await rejection(store.create({ ...makeRun({ name: 'second' }), id: first.id }));
      expect(error.code).toBe('ERR_CONFLICT');
      expect(error.message).toContain(first.id);
      expect(await store.get(first.id)).toEqual(first);
    });

    it('returns undefined for an unknown id', async () => {
      expect(await store.get('0190aaaa-0000-7000-8000-000000000000')).toBeUndefined();
    });

    it.each<[string, (run: RunRecord) => unknown]>([
      ['status', (run) => ({ ...run, status: 'done' })],
      ['name', (run) => ({ ...run, name: '' })],
      ['pattern', (run) => ({ ...run, pattern: 'batch' })],
      ['id', (run) => ({ ...run, id: '../etc/passwd' })],
      ['attempt', (run) => ({ ...run, attempt: 0 })],
      ['createdAt', (run) => ({ ...run, createdAt: 'yesterday' })],
      ['createdAt', (run) => ({ ...run, createdAt: '2025-01-01T10:00:00' })],
      ['output', (run) => ({ ...run, output: undefined })],
      ['output.truncated', (run) => ({ ...run, output: { lines: 0, bytes: 0, truncated: 'no' } })],
      ['labels.env', (run) => ({ ...run, labels: { env: 3 } })],
      ['params.when', (run) => ({ ...run, params: { when: new Date() } })],
      ['params.list[1]', (run) => ({ ...run, params: { list: [1, undefined] } })],
      ['params.ratio', (run) => ({ ...run, params: { ratio: Number.NaN } })],
      ['args[0]', (run) => ({ ...run, args: [1] })],
      ['exitCode', (run) => ({ ...run, exitCode: 1.5 })],
      ['owner.host', (run) => ({ ...run, owner: { pid: 1, startTime: 0 } })],
      ['stdout', (run) => ({ ...run, stdout: 'a RunResult field' })],
    ])('refuses a bad %s: ERR_INVALID naming the field', async (field, change) => {
      const error = await rejection(store.create(change(makeRun()) as RunRecord));
      expect(error.code).toBe('ERR_INVALID');
      expect(error.message).toContain(`\`${field}\``);
      expect((await store.list()).runs).toEqual([]);
    });

    it('refuses params that hold a cycle', async () => {
      const params: Record<string, unknown> = {};
      params.self = params;
      const error = await rejection(store.create(makeRun({ params })));
      expect(error.code).toBe('ERR_INVALID');
      expect(error.message).toContain('params.self');
    });
  });

  describe('update', () => {
    it('changes the given fields, keeps the others, and returns the run as stored', async () => {
      const run = await store.create(makeFullRun({ status: 'queued', waitingFor: 'resources' }));
      const patch: RunPatch = {
        status: 'running',
        startedAt: new Date(nowMs).toISOString(),
        pid: 777,
        params: { replaced: true },
        output: { lines: 1, bytes: 6, truncated: false },
        waitingFor: undefined,
      };
      const updated = await store.update(run.id, patch);
      const { waitingFor: _gone, ...kept } = run;
      expect(updated).toEqual({ ...kept, ...patch, waitingFor: undefined });
      expect(Object.keys(updated)).not.toContain('waitingFor');
      expect(await store.get(run.id)).toEqual(updated);
    });

    it('copies the patch, so changing it afterwards changes nothing stored', async () => {
      const run = await store.create(makeRun());
      const labels = { env: 'prod' };
      const updated = await store.update(run.id, { labels });
      labels.env = 'changed';
      expect(await store.get(run.id)).toEqual(updated);
      expect(updated.labels).toEqual({ env: 'prod' });
    });

    it('finishes a run with every result field', async () => {
      const run = await store.create(makeRun({ status: 'running', pid: 5 }));
      const patch: RunPatch = {
        status: 'failed',
        exitCode: null,
        exitSignal: 'SIGKILL',
        error: { code: 'ERR_FAILED', message: 'killed by SIGKILL' },
        finishedAt: new Date(nowMs).toISOString(),
        durationMs: 1234.5,
        output: { lines: 3, bytes: 30, truncated: false },
      };
      expect(await store.update(run.id, patch)).toEqual({ ...run, ...patch });
    });

    it('rejects an unknown id with ERR_NOT_FOUND', async () => {
      const error = await rejection(store.update('nope', { status: 'running' }));
      expect(error.code).toBe('ERR_NOT_FOUND');
      expect(error.message).toContain('nope');
    });

    it.each<[string, RunPatch]>([
      ['status', { status: 'finished' as RunStatus }],
      ['id', { id: 'other' } as RunPatch],
      ['createdAt', { createdAt: new Date().toISOString() } as RunPatch],
      ['name', { name: undefined }],
      ['output', { output: undefined }],
      ['nonsense', { nonsense: 1 } as RunPatch],
    ])('refuses a patch with a bad %s: ERR_INVALID', async (field, patch) => {
      const run = await store.create(makeRun());
      const error = await rejection(store.update(run.id, patch));
      expect(error.code).toBe('ERR_INVALID');
      expect(error.message).toContain(`\`${field}\``);
      expect(await store.get(run.id)).toEqual(run);
    });

    it('never changes a finished run: ERR_CONFLICT, status and fields alike', async () => {
      const run = await store.create(makeRun({ status: 'running' }));
      const done = await store.update(run.id, { status: 'succeeded', exitCode: 0 });
      for (const patch of [
        { status: 'failed' },
        { status: 'running' },
        { status: 'succeeded' },
        { exitCode: 1 },
        { labels: { late: 'yes' } },
      ] satisfies RunPatch[]) {
        const error = await rejection(store.update(run.id, patch));
        expect(error.code).toBe('ERR_CONFLICT');
        expect(error.message).toContain('succeeded');
      }
      expect(await store.get(run.id)).toEqual(done);
      expect(await ids({ label: 'late=yes' })).toEqual([]);
    });

    it('lets exactly one of two racing final updates win', async () => {
      for (let round = 0; round < 20; round++) {
        const run = await store.create(makeRun({ status: 'running' }));
        const outcomes = await Promise.allSettled([
          store.update(run.id, { status: 'succeeded', exitCode: 0 }),
          store.update(run.id, { status: 'cancelled', exitCode: null }),
        ]);
        const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
        const lost = outcomes.filter((outcome) => outcome.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(1);
        expect((lost[0] as PromiseRejectedResult).reason.code).toBe('ERR_CONFLICT');
        const winner = (won[0] as PromiseFulfilledResult<RunRecord>).value;
        expect(await store.get(run.id)).toEqual(winner);
      }
    });

    it('settles each of many updates in one tick with its own record or error', async () => {
      const runs = await createAll(Array.from({ length: 50 }, () => makeRun()));
      await store.update(runs[7]!.id, { status: 'cancelled' });
      const outcomes = await Promise.allSettled([
        ...runs.map((run, i) => store.update(run.id, { status: 'running', pid: i + 1 })),
        store.update('missing', { status: 'running' }),
      ]);
      outcomes.forEach((outcome, i) => {
        if (i === 7) expect((outcome as PromiseRejectedResult).reason.code).toBe('ERR_CONFLICT');
        else if (i === runs.length) {
          expect((outcome as PromiseRejectedResult).reason.code).toBe('ERR_NOT_FOUND');
        } else {
          expect(outcome).toEqual({
            status: 'fulfilled',
            value: { ...runs[i], status: 'running', pid: i + 1 },
          });
        }
      });
      expect(await listAll({ status: 'running', limit: 1000 })).toHaveLength(49);
    });

    it('replaces labels as a whole and filters on the new ones', async () => {
      const run = await store.create(makeRun({ labels: { env: 'prod', team: 'a' } }));
      await store.update(run.id, { labels: { env: 'test' } });
      expect(await ids({ label: 'env=prod' })).toEqual([]);
      expect(await ids({ label: 'team=a' })).toEqual([]);
      expect(await ids({ label: 'env=test' })).toEqual([run.id]);
      await store.update(run.id, { labels: undefined });
      expect(await ids({ label: 'env=test' })).toEqual([]);
      expect((await store.get(run.id))?.labels).toBeUndefined();
    });

    it('moves an idempotency key and refuses one another run holds', async () => {
      const a = await store.create(makeRun({ idempotencyKey: 'alpha' }));
      const b = await store.create(makeRun());
      const error = await rejection(store.update(b.id, { idempotencyKey: 'alpha' }));
      expect(error.code).toBe('ERR_CONFLICT');
      expect(error.message).toContain(a.id);
      await store.update(a.id, { idempotencyKey: 'beta' });
      await store.update(b.id, { idempotencyKey: 'alpha' });
      expect((await store.findByIdempotencyKey('alpha'))?.id).toBe(b.id);
      expect((await store.findByIdempotencyKey('beta'))?.id).toBe(a.id);
    });

    it('with ifOwner, changes the run only while that owner holds it: one of two takeovers wins', async () => {
      const dead = { pid: 4242, host: 'h', startTime: 7 };
      const run = await store.create(makeRun({ owner: dead }));
      const first = { pid: 1, host: 'h', startTime: 1 };
      const second = { pid: 2, host: 'h', startTime: 2 };
      const outcomes = await Promise.allSettled([
        store.update(run.id, { owner: first }, { ifOwner: dead }),
        store.update(run.id, { owner: second }, { ifOwner: dead }),
      ]);
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected']);
      const lost = (outcomes[1] as PromiseRejectedResult).reason;
      expect(lost.code).toBe('ERR_CONFLICT');
      expect(lost.message).toContain('another process took it over');
      expect((await store.get(run.id))?.owner).toEqual(first);
      // The same pid and host with another start time is another process.
      await expect(
        store.update(run.id, { waitingFor: 'resources' }, { ifOwner: { ...first, startTime: 9 } }),
      ).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      const ownerless = await store.create(makeRun());
      await expect(
        store.update(ownerless.id, { attempt: 2 }, { ifOwner: first }),
      ).rejects.toMatchObject({ code: 'ERR_CONFLICT' });
      expect(await store.update(ownerless.id, { attempt: 2 }, { ifOwner: null })).toMatchObject({
        attempt: 2,
      });
      await expect(
        store.update(run.id, { attempt: 2 }, { ifOwnr: first } as never),
      ).rejects.toMatchObject({
        code: 'ERR_INVALID',
        message: expect.stringContaining('did you mean `ifOwner`?'),
      });
    });
  });

  describe('idempotency keys', () => {
    it('finds a run by its key, and nothing for an unknown key', async () => {
      const run = await store.create(makeFullRun({ idempotencyKey: 'launch-42' }));
      expect(await store.findByIdempotencyKey('launch-42')).toEqual(run);
      expect(await store.findByIdempotencyKey('launch-43')).toBeUndefined();
    });

    it('refuses a second run with a key already held: ERR_CONFLICT naming the holder', async () => {
      const first = await store.create(makeRun({ idempotencyKey: 'once' }));
      const error = await rejection(store.create(makeRun({ idempotencyKey: 'once' })));
      expect(error.code).toBe('ERR_CONFLICT');
      expect(error.message).toContain(first.id);
      expect(await ids()).toEqual([first.id]);
    });

    it('frees the key when its run is deleted', async () => {
      const first = await store.create(makeRun({ idempotencyKey: 'reuse', status: 'failed' }));
      expect(await store.delete(first.id)).toBe(true);
      expect(await store.findByIdempotencyKey('reuse')).toBeUndefined();
      const second = await store.create(makeRun({ idempotencyKey: 'reuse' }));
      expect(await store.findByIdempotencyKey('reuse')).toEqual(second);
    });
  });

  describe('delete', () => {
    it('removes a finished run, then reports it unknown', async () => {
      const run = await store.create(makeRun({ status: 'succeeded', labels: { a: 'b' } }));
      const other = await store.create(makeRun({ status: 'succeeded', labels: { a: 'b' } }));
      expect(await store.delete(run.id)).toBe(true);
      expect(await store.get(run.id)).toBeUndefined();
      expect(await store.delete(run.id)).toBe(false);
      expect(await ids({ label: { a: 'b' } })).toEqual([other.id]);
    });

    it.each<RunStatus>(['queued', 'running'])('refuses a %s run: ERR_CONFLICT', async (status) => {
      const run = await store.create(makeRun({ status }));
      const error = await rejection(store.delete(run.id));
      expect(error.code).toBe('ERR_CONFLICT');
      expect(error.message).toContain(status);
      expect(await store.get(run.id)).toEqual(run);
    });

    it('returns false for an unknown id', async () => {
      expect(await store.delete('never-was')).toBe(false);
    });
  });

  describe('list', () => {
    let runs: Record<string, RunRecord>;

    beforeEach(async () => {
      runs = {};
      const add = async (key: string, overrides: Partial<RunRecord>) => {
        runs[key] = await store.create(makeRun(overrides));
      };
      await add('buildQueued', { name: 'build', status: 'queued', labels: { env: 'prod' } });
      await add('buildOk', {
        name: 'build',
        status: 'succeeded',
        labels: { env: 'prod', team: 'web' },
        parentId: 'batch-1',
      });
      await add('rebuild', { name: 'Rebuild-All', status: 'failed', pattern: 'concurrent' });
      await add('percent', { name: 'a%b', status: 'running', parentId: 'batch-1' });
      await add('underscore', { name: 'a_b', status: 'cancelled', labels: { env: 'test' } });
      await add('plain', { name: 'axb', status: 'timed_out', pattern: 'periodic' });
      await add('unicode', {
        name: 'Été-Report',
        status: 'interrupted',
        labels: { env: 'prod', query: 'a=b' },
      });
    });

    const byKeys = (...keys: string[]) => keys.map((key) => runs[key]!.id);

    it('returns every run, newest first, without a cursor when all fit', async () => {
      const page = await store.list();
      expect(page.runs.map((run) => run.id)).toEqual(newestFirst(Object.values(runs)));
      expect(page.nextCursor).toBeUndefined();
      expect(page.runs[0]).toEqual(runs.unicode);
    });

    it('filters by one status or several', async () => {
      expect(await ids({ status: 'failed' })).toEqual(byKeys('rebuild'));
      expect(await ids({ status: ['queued', 'running'] })).toEqual(
        byKeys('percent', 'buildQueued'),
      );
      expect(await ids({ status: ['succeeded', 'interrupted', 'timed_out'] })).toEqual(
        byKeys('unicode', 'plain', 'buildOk'),
      );
      expect(await ids({ status: 'running', name: 'build' })).toEqual([]);
    });

    it('filters by exact name, pattern and parent', async () => {
      expect(await ids({ name: 'build' })).toEqual(byKeys('buildOk', 'buildQueued'));
      expect(await ids({ name: 'Build' })).toEqual([]);
      expect(await ids({ pattern: 'periodic' })).toEqual(byKeys('plain'));
      expect(await ids({ parentId: 'batch-1' })).toEqual(byKeys('percent', 'buildOk'));
    });

    it('filters by a cancel request, alone or with the active statuses', async () => {
      expect(await ids({ cancelRequested: true })).toEqual([]);
      await store.update(runs.percent!.id, { cancelRequestedAt: new Date().toISOString() });
      expect(await ids({ cancelRequested: true })).toEqual(byKeys('percent'));
      expect(await ids({ status: ['queued', 'running'], cancelRequested: true })).toEqual(
        byKeys('percent'),
      );
      expect(await ids({ status: ['queued', 'running'], cancelRequested: false })).toEqual(
        byKeys('buildQueued'),
      );
      await expect(store.list({ cancelRequested: 'yes' as never })).rejects.toMatchObject({
        code: 'ERR_INVALID',
      });
    });

    it('finds text anywhere in the name, case-insensitive, wildcards taken literally', async () => {
      expect(await ids({ text: 'BUILD' })).toEqual(byKeys('rebuild', 'buildOk', 'buildQueued'));
      expect(await ids({ text: 'ld-a' })).toEqual(byKeys('rebuild'));
      expect(await ids({ text: '%' })).toEqual(byKeys('percent'));
      expect(await ids({ text: '_' })).toEqual(byKeys('underscore'));
      expect(await ids({ text: 'a_b' })).toEqual(byKeys('underscore'));
      expect(await ids({ text: 'éTÉ' })).toEqual(byKeys('unicode'));
      expect(await ids({ text: 'zzz' })).toEqual([]);
      expect(await ids({ text: '' })).toHaveLength(7);
    });

    it('filters by labels, as an object or as key=value', async () => {
      expect(await ids({ label: 'env=prod' })).toEqual(byKeys('unicode', 'buildOk', 'buildQueued'));
      expect(await ids({ label: { env: 'prod', team: 'web' } })).toEqual(byKeys('buildOk'));
      expect(await ids({ label: { env: 'prod', team: 'api' } })).toEqual([]);
      expect(await ids({ label: 'query=a=b' })).toEqual(byKeys('unicode'));
      expect(await ids({ label: 'env=' })).toEqual([]);
      expect(await ids({ label: {} })).toHaveLength(7);
      expect(await ids({ label: 'env=prod', status: 'queued' })).toEqual(byKeys('buildQueued'));
    });

    it('filters by creation time: since inclusive, until exclusive', async () => {
      const at = (key: string) => runs[key]!.createdAt;
      expect(await ids({ since: at('plain') })).toEqual(byKeys('unicode', 'plain'));
      expect(await ids({ since: new Date(at('plain')) })).toEqual(byKeys('unicode', 'plain'));
      expect(await ids({ until: at('buildOk') })).toEqual(byKeys('buildQueued'));
      expect(await ids({ since: at('rebuild'), until: new Date(at('underscore')) })).toEqual(
        byKeys('percent', 'rebuild'),
      );
      // The same instant written with a zone offset.
      const offset = new Date(Date.parse(at('plain')) + 3_600_000)
        .toISOString()
        .replace('Z', '+01:00');
      expect(await ids({ since: offset, until: at('unicode') })).toEqual(byKeys('plain'));
    });

    it.each<[string, RunQuery]>([
      ['limit', { limit: 0 }],
      ['limit', { limit: 1001 }],
      ['limit', { limit: 2.5 }],
      ['status', { status: 'done' as RunStatus }],
      ['status', { status: [] }],
      ['label', { label: 'no-value' }],
      ['label', { label: '=x' }],
      ['since', { since: 'not a date' }],
      ['until', { until: new Date(Number.NaN) }],
      ['cursor', { cursor: '%%%' }],
      ['cursor', { cursor: 'AAAA' }],
      ['pattern', { pattern: 'batch' as RunQuery['pattern'] }],
    ])('refuses a bad %s: ERR_INVALID', async (field, query) => {
      const error = await rejection(store.list(query));
      expect(error.code).toBe('ERR_INVALID');
      expect(error.message).toContain(`\`${field}\``);
    });

    const everyFilter: Required<RunQuery> = {
      status: ['queued', 'succeeded'],
      name: 'build',
      text: 'BUI',
      label: { env: 'prod' },
      pattern: 'simple',
      parentId: 'batch-1',
      cancelRequested: false,
      since: '2000-01-01T00:00:00.000Z',
      until: new Date('2100-01-01T00:00:00.000Z'),
      limit: 10,
      cursor: 'AAAA',
    };

    it('takes every filter of RunQuery at once', async () => {
      const query = { ...everyFilter, cursor: undefined };
      expect(await ids(query)).toEqual(byKeys('buildOk'));
      const next = (await store.list({ limit: 1 })).nextCursor;
      expect(await ids({ ...query, cursor: next })).toEqual(byKeys('buildOk'));
    });

    it.each(Object.keys(everyFilter))(
      'refuses a misspelt %s, naming the filter meant',
      async (key) => {
        const error = await rejection(store.list({ [`${key}s`]: 'x' } as RunQuery));
        expect(error.code).toBe('ERR_INVALID');
        expect(error.message).toContain(
          `Unknown option \`query.${key}s\`: did you mean \`${key}\`?`,
        );
      },
    );
  });

  describe('pagination', () => {
    it('returns 50 runs by default and up to 1000', async () => {
      await createAll(Array.from({ length: 60 }, () => makeRun()));
      const page = await store.list();
      expect(page.runs).toHaveLength(50);
      expect(page.nextCursor).toBeTypeOf('string');
      expect((await store.list({ limit: 1000 })).runs).toHaveLength(60);
      expect((await store.list({ limit: 60 })).nextCursor).toBeUndefined();
    });

    it('walks 250 runs in pages of 40, each exactly once, newest first', async () => {
      const all = await createAll(
        Array.from({ length: 250 }, (_, i) =>
          makeRun({ name: `job-${i % 3}`, status: i % 2 ? 'succeeded' : 'failed' }),
        ),
      );
      const pages: number[] = [];
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ limit: 40, cursor });
        pages.push(page.runs.length);
        seen.push(...page.runs.map((run) => run.id));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      expect(pages).toEqual([40, 40, 40, 40, 40, 40, 10]);
      expect(seen).toEqual(newestFirst(all));
      const filtered = all.filter((run) => run.name === 'job-1' && run.status === 'failed');
      expect(await listAll({ name: 'job-1', status: 'failed', limit: 7 })).toEqual(
        newestFirst(filtered),
      );
    });

    it('stays correct while runs are added between page reads', async () => {
      const before = await createAll(Array.from({ length: 250 }, () => makeRun()));
      const seen: string[] = [];
      const added: RunRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ limit: 40, cursor });
        seen.push(...page.runs.map((run) => run.id));
        cursor = page.nextCursor;
        // Newer runs arrive while the reader is between pages.
        for (let i = 0; i < 15 && added.length < 100; i++) {
          added.push(await store.create(makeRun({ name: 'late' })));
        }
      } while (cursor !== undefined);
      for (; added.length < 100; ) added.push(await store.create(makeRun({ name: 'late' })));
      expect(seen).toEqual(newestFirst(before));
      expect(new Set(seen).size).toBe(250);
      expect(await listAll({ limit: 40 })).toEqual(newestFirst([...before, ...added]));
    });

    it('takes a cursor for a page that no longer has runs after it', async () => {
      const [older, newer] = await createAll([
        makeRun({ status: 'succeeded' }),
        makeRun({ status: 'succeeded' }),
      ]);
      const page = await store.list({ limit: 1 });
      expect(page.runs.map((run) => run.id)).toEqual([newer!.id]);
      await store.delete(older!.id);
      expect(await store.list({ limit: 1, cursor: page.nextCursor })).toEqual({ runs: [] });
    });
  });

  describe('prune', () => {
    const dayMs = 86_400_000;
    const daysAgo = (days: number) => new Date(nowMs - days * dayMs).toISOString();

    /** Runs of three names over 10 days, oldest first, every status among them. */
    async function history(): Promise<RunRecord[]> {
      const specs: [string, number, RunStatus][] = [
        ['a', 10, 'succeeded'],
        ['b', 10, 'failed'],
        ['a', 9, 'running'],
        ['a', 8, 'cancelled'],
        ['c', 8, 'queued'],
        ['b', 7, 'timed_out'],
        ['a', 6, 'interrupted'],
        ['b', 5, 'succeeded'],
        ['a', 4, 'failed'],
        ['c', 3, 'succeeded'],
        ['a', 2, 'succeeded'],
        ['b', 1, 'succeeded'],
      ];
      return createAll(
        specs.map(([name, days, status]) => makeRun({ name, status, createdAt: daysAgo(days) })),
      );
    }

    const pick = (runs: RunRecord[], ...indexes: number[]) =>
      newestFirst(indexes.map((i) => runs[i]!));

    it('deletes exactly the finished runs older than a date, and returns their ids', async () => {
      const runs = await history();
      const deleted = await store.prune({ olderThan: new Date(Date.parse(daysAgo(7))) });
      expect(deleted).toEqual(pick(runs, 0, 1, 3));
      expect(await listAll({ limit: 1000 })).toEqual(pick(runs, 2, 4, 5, 6, 7, 8, 9, 10, 11));
      expect(await store.prune({ olderThan: daysAgo(7) })).toEqual([]);
    });

    it('takes an ISO string or an age in ms counted on the clock', async () => {
      const runs = await history();
      expect(await store.prune({ olderThan: daysAgo(6) })).toEqual(pick(runs, 0, 1, 3, 5));
      expect(await store.prune({ olderThan: 4.5 * dayMs })).toEqual(pick(runs, 6, 7));
      // Three days on, the cut is 1.5 days before the first prune's now.
      nowMs += 3 * dayMs;
      expect(await store.prune({ olderThan: 4.5 * dayMs })).toEqual(pick(runs, 8, 9, 10));
      expect(await listAll({ limit: 1000 })).toEqual(pick(runs, 2, 4, 11));
    });

    it('keeps the newest finished runs of each name, whatever their age', async () => {
      const runs = await history();
      // a: finished 10, 8, 6, 4, 2 days ago; b: 10, 7, 5, 1; c: 3. Keep two of each.
      expect(await store.prune({ keepLast: 2 })).toEqual(pick(runs, 0, 1, 3, 5, 6));
      expect(await listAll({ limit: 1000 })).toEqual(pick(runs, 2, 4, 7, 8, 9, 10, 11));
    });

    it('combines keepLast with olderThan: old and beyond the newest few', async () => {
      const runs = await history();
      expect(await store.prune({ olderThan: daysAgo(3), keepLast: 3 })).toEqual(
        pick(runs, 0, 1, 3),
      );
      expect(await store.prune({ olderThan: 0, keepLast: 1 })).toEqual(pick(runs, 5, 6, 7, 8));
      expect(await listAll({ limit: 1000 })).toEqual(pick(runs, 2, 4, 9, 10, 11));
      expect(await store.prune({ olderThan: 0, keepLast: 0 })).toEqual(pick(runs, 9, 10, 11));
      expect(await listAll({ limit: 1000 })).toEqual(pick(runs, 2, 4));
    });

    it('never deletes a queued or running run, and takes labels and keys with the run', async () => {
      const old = daysAgo(100);
      const active = await createAll([
        makeRun({ status: 'queued', createdAt: old }),
        makeRun({ status: 'running', createdAt: old }),
      ]);
      const done = await store.create(
        makeRun({ status: 'failed', createdAt: old, labels: { gone: 'yes' }, idempotencyKey: 'k' }),
      );
      expect(await store.prune({ olderThan: 0 })).toEqual([done.id]);
      expect(await listAll({ limit: 1000 })).toEqual(newestFirst(active));
      expect(await ids({ label: 'gone=yes' })).toEqual([]);
      expect(await store.findByIdempotencyKey('k')).toBeUndefined();
    });

    it.each<[string, unknown]>([
      ['olderThan', {}],
      ['olderThan', { olderThan: -1 }],
      ['olderThan', { olderThan: 'last week' }],
      ['keepLast', { keepLast: -1 }],
      ['keepLast', { olderThan: 0, keepLast: 1.5 }],
    ])('refuses a bad %s: ERR_INVALID, nothing deleted', async (field, options) => {
      await history();
      const error = await rejection(store.prune(options as never));
      expect(error.code).toBe('ERR_INVALID');
      expect(error.message).toContain(`\`${field}\``);
      expect(await listAll({ limit: 1000 })).toHaveLength(12);
    });

    it('refuses an unknown option, naming the one meant, and deletes nothing', async () => {
      await history();
      const error = await rejection(store.prune({ olderThen: 0 } as PruneOptions));
      expect(error.code).toBe('ERR_INVALID');
      expect(error.message).toContain('Unknown option `olderThen`: did you mean `olderThan`?');
      expect(await listAll({ limit: 1000 })).toHaveLength(12);
    });
  });

  describe('stats', () => {
    it('counts every status, zeros included, and each name by status', async () => {
      const empty = await store.stats();
      expect(empty).toEqual({
        total: 0,
        byStatus: Object.fromEntries(allStatuses.map((status) => [status, 0])),
        byName: {},
      });
      await createAll([
        makeRun({ name: 'a', status: 'succeeded' }),
        makeRun({ name: 'a', status: 'succeeded' }),
        makeRun({ name: 'a', status: 'failed' }),
        makeRun({ name: 'b', status: 'running' }),
        makeRun({ name: '__proto__', status: 'queued' }),
      ]);
      const stats = await store.stats();
      expect(stats.total).toBe(5);
      expect(stats.byStatus).toEqual({
        queued: 1,
        running: 1,
        succeeded: 2,
        failed: 1,
        cancelled: 0,
        timed_out: 0,
        interrupted: 0,
      });
      expect({ ...stats.byName }).toEqual({
        a: { succeeded: 2, failed: 1 },
        b: { running: 1 },
        ['__proto__']: { queued: 1 },
      });
    });
  });

  describe('health', () => {
    it('is writable while open and after writes, and not once closed', async () => {
      expect(store.health?.()).toEqual({ writable: true });
      await store.create(makeRun());
      expect(store.health?.()).toEqual({ writable: true });
      await store.close();
      expect(store.health?.()).toEqual({ writable: false });
    });
  });

  describe('close', () => {
    it('is idempotent, and every later call is ERR_CLOSED', async () => {
      const run = await store.create(makeRun());
      const first = store.close();
      expect(store.close()).toBe(first);
      await first;
      for (const call of [
        () => store.get(run.id),
        () => store.create(makeRun()),
        () => store.update(run.id, { status: 'running' }),
        () => store.list(),
        () => store.delete(run.id),
        () => store.prune({ keepLast: 1 }),
        () => store.stats(),
        () => store.findByIdempotencyKey('k'),
      ]) {
        expect((await rejection(call())).code).toBe('ERR_CLOSED');
      }
    });

    it('settles what was asked before it', async () => {
      const run = makeRun();
      const created = store.create(run);
      const updated = store.update(run.id, { status: 'running' });
      await store.close();
      await expect(created).resolves.toEqual(run);
      await expect(updated).resolves.toEqual({ ...run, status: 'running' });
    });
  });
});

describe('store options', () => {
  it('refuses an unknown option of either store, naming the one meant', () => {
    const attempts: [() => unknown, string][] = [
      [() => new MemoryStore({ clok: clock } as never), '`clok`: did you mean `clock`?'],
      [
        () => new SqliteStore({ path: ':memory:', readOnly: true } as never),
        '`readOnly`: did you mean `readonly`?',
      ],
    ];
    for (const [attempt, message] of attempts) {
      let error: RunyardError | undefined;
      try {
        attempt();
      } catch (thrown) {
        error = thrown as RunyardError;
      }
      expect(error?.code).toBe('ERR_INVALID');
      expect(error?.message).toContain(`Unknown option ${message}`);
    }
  });
});

/** What a record looks like once stored: JSON drops fields set to undefined. */
function makeRunLike(record: RunRecord): RunRecord {
  return JSON.parse(JSON.stringify(record)) as RunRecord;
}
