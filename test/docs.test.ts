import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { executorDefaults } from '../src/executor/executor.js';
import { monitorDefaults } from '../src/executor/resource-monitor.js';
import { defaults } from '../src/run/task-options.js';
import { retryDefaults } from '../src/tasks/retry.js';
import { taskManagerDefaults } from '../src/tasks/task-manager.js';
import { documentedDefault, readDoc, tableCell } from './helpers/docs.js';

describe('documented defaults match the code', () => {
  it('run() and start() options', () => {
    const running = readDoc('running.md');
    expect(documentedDefault(running, 'killGraceMs')).toBe(String(defaults.killGraceMs));
    expect(documentedDefault(running, 'maxLineBytes')).toBe(String(defaults.maxLineBytes));
    expect(tableCell(running, 'maxBufferBytes')).toContain(
      `\`${defaults.runMaxBufferBytes}\` (64 MiB) for \`run()\``,
    );
    expect(tableCell(running, 'maxBufferBytes')).toContain(
      `\`${defaults.startMaxBufferBytes}\` (1 MiB) for \`start()\``,
    );
    expect(documentedDefault(readDoc('output.md'), 'tailLines')).toBe(String(defaults.tailLines));
  });

  it('resource admission', () => {
    const text = readDoc('concurrency.md');
    expect(documentedDefault(text, 'maxCpuPercent')).toBe(String(monitorDefaults.maxCpuPercent));
    expect(documentedDefault(text, 'maxMemoryPercent')).toBe(
      String(monitorDefaults.maxMemoryPercent),
    );
    expect(documentedDefault(text, 'sampleMs')).toBe(String(monitorDefaults.sampleMs));
    expect(documentedDefault(text, 'admissionTimeoutMs')).toBe(
      String(executorDefaults.admissionTimeoutMs),
    );
  });

  it('task manager and retries', () => {
    const text = readDoc('tasks.md');
    expect(documentedDefault(text, 'pollMs')).toBe(String(taskManagerDefaults.pollMs));
    expect(documentedDefault(text, 'stuckAfterMs')).toBe(String(taskManagerDefaults.stuckAfterMs));
    expect(text).toContain(`\`shutdown({ graceMs = ${taskManagerDefaults.shutdownGraceMs} })\``);
    expect(text).toContain(
      `backoffMs = ${retryDefaults.backoffMs}, maxBackoffMs = ${retryDefaults.maxBackoffMs}`,
    );
    expect(text).toContain(`±${retryDefaults.jitter * 100} %`);
  });
});

describe("README's snippets", () => {
  it('are plain JavaScript modules that Node parses as they are', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```(\w+)\n([\s\S]*?)```/g)].filter(
      ([, lang]) => lang !== 'sh',
    );
    expect(blocks.length).toBeGreaterThan(5);
    const dir = await mkdtemp(join(tmpdir(), 'runyard-readme-'));
    try {
      for (const [index, [, lang, code]] of blocks.entries()) {
        expect(lang, `README block ${index}`).toBe('js');
        const file = join(dir, `block-${index}.mjs`);
        await writeFile(file, code!);
        const checked = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
        expect(checked.stderr, `README block ${index}:\n${code}`).toBe('');
        expect(checked.status).toBe(0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
