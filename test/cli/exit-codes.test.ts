// The exit code table of docs/cli.md against the codes the CLI uses; the codes themselves are
// exercised by the tests of each command and by test/faults/cli-*.test.ts.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCodes } from '../../src/cli/usage.js';
import { runCli } from '../helpers/cli.js';
import { readDoc } from '../helpers/docs.js';

/** The rows of docs/cli.md's exit code table: code → meaning. */
function documentedCodes(): Map<string, string> {
  const text = readDoc('cli.md');
  const table = text.slice(text.indexOf('## Exit codes'));
  const rows = new Map<string, string>();
  for (const line of table.split('\n')) {
    const match = /^\| `([^`]+)` \| (.+) \|$/.exec(line);
    if (match) rows.set(match[1]!, match[2]!);
  }
  return rows;
}

describe('the documented exit codes', () => {
  it('list every code the CLI uses', () => {
    const documented = documentedCodes();
    for (const [name, code] of Object.entries(exitCodes)) {
      expect(documented.has(String(code)), `${name} (${code})`).toBe(true);
    }
  });

  it('give 128 + the number of each stop signal', () => {
    const documented = documentedCodes();
    for (const signal of [
      'SIGHUP',
      'SIGINT',
      'SIGQUIT',
      'SIGUSR2',
      'SIGPIPE',
      'SIGTERM',
    ] as const) {
      const meaning = documented.get(String(128 + constants.signals[signal]));
      expect(meaning, signal).toContain(signal);
    }
  });

  it('126 for a program that is not executable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'runyard-cli-exit-'));
    try {
      const script = join(dir, 'script.sh');
      await writeFile(script, '#!/bin/sh\necho hi\n');
      await chmod(script, 0o644);
      const result = await runCli(['run', '--', script]);
      expect(result.code).toBe(126);
      expect(result.stderr).toContain('runyard:');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
