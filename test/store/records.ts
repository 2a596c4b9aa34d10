import { newRunId } from '../../src/core/ids.js';
import type { RunRecord } from '../../src/core/types.js';

/** Creation times march on from here, one second a record, so order is never a tie. */
let lastCreatedMs = Date.UTC(2025, 0, 1);

/**
 * A queued run with the fields every record needs. Each call is newer than the last: its id
 * and its `createdAt` both come later.
 */
export function makeRun(overrides: Partial<RunRecord> = {}): RunRecord {
  lastCreatedMs += 1000;
  const createdMs =
    overrides.createdAt === undefined ? lastCreatedMs : Date.parse(overrides.createdAt);
  return {
    id: newRunId(createdMs),
    name: 'build',
    pattern: 'simple',
    status: 'queued',
    attempt: 1,
    createdAt: new Date(createdMs).toISOString(),
    output: { lines: 0, bytes: 0, truncated: false },
    ...overrides,
  };
}

/** A run with every optional field set, unusual values included. */
export function makeFullRun(overrides: Partial<RunRecord> = {}): RunRecord {
  const created = makeRun();
  return {
    ...created,
    name: 'scrape "news" % _ — été',
    pattern: 'fire-and-forget',
    status: 'running',
    command: '/usr/bin/python3',
    args: ['scrape.py', '--query', 'a b', '--quote', '"\'', '--empty', ''],
    cwd: '/srv/modules/scrape',
    params: {
      pages: 3,
      ratio: 0.25,
      negative: -1e-7,
      enabled: false,
      missing: null,
      text: 'line 1\nline 2\t"quoted" \\ back\u2028slash \u{1F680}',
      list: [1, 'two', { three: [3] }, [], {}],
      nested: { deeper: { deepest: 'yes' } },
    },
    labels: { team: 'content', env: 'prod', 'with space': 'a=b' },
    parentId: 'batch-7',
    attempt: 2,
    pid: 4242,
    exitCode: null,
    exitSignal: null,
    error: { code: 'ERR_FAILED', message: 'exit code 1: Traceback…' },
    startedAt: new Date(Date.parse(created.createdAt) + 5).toISOString(),
    durationMs: 12.5,
    output: { lines: 10_000, bytes: 1_234_567, truncated: true },
    owner: { pid: 99, host: 'worker-1.example', startTime: 123_456 },
    childStartTime: 654_321,
    idempotencyKey: `key-${created.id}`,
    cancelRequestedAt: new Date(Date.parse(created.createdAt) + 9).toISOString(),
    spec: {
      env: { PYTHONUNBUFFERED: '1', SECRET: null },
      shell: false,
      timeoutMs: 60_000,
      retries: { attempts: 3, backoffMs: 100 },
      priority: -2,
    },
    ...overrides,
  };
}

/** Ids, newest first, as `list()` returns them. */
export function newestFirst(runs: readonly RunRecord[]): string[] {
  return runs.map((run) => run.id).sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
}
