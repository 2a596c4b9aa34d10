import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { executorDefaults } from '../src/patterns/concurrent.js';
import { taskManagerDefaults } from '../src/patterns/fire-and-forget.js';
import { monitorDefaults } from '../src/patterns/resources.js';
import { retryDefaults } from '../src/patterns/retry.js';
import { defaults } from '../src/patterns/task-options.js';

const docs = (name: string) => readFileSync(join(import.meta.dirname, '..', 'docs', name), 'utf8');

/** The default column of a docs table row for `option`. */
function documentedDefault(text: string, option: string): string {
  const row = text.split('\n').find((line) => line.startsWith(`| \`${option}\` |`));
  if (!row) throw new Error(`no row for ${option}`);
  return row
    .split('|')[2]!
    .trim()
    .replace(/^`([^`]*)`$/, '$1');
}

describe('documented defaults match the code', () => {
  it('run() and start() options', () => {
    const running = docs('running.md');
    expect(documentedDefault(running, 'killGraceMs')).toBe(String(defaults.killGraceMs));
    expect(documentedDefault(running, 'maxLineBytes')).toBe(String(defaults.maxLineBytes));
    expect(documentedDefault(running, 'maxBufferBytes')).toContain(
      `\`${defaults.runMaxBufferBytes}\` (64 MiB) for \`run()\``,
    );
    expect(documentedDefault(running, 'maxBufferBytes')).toContain(
      `\`${defaults.startMaxBufferBytes}\` (1 MiB) for \`start()\``,
    );
    expect(documentedDefault(docs('output.md'), 'tailLines')).toBe(String(defaults.tailLines));
  });

  it('resource admission', () => {
    const text = docs('concurrency.md');
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
    const text = docs('tasks.md');
    expect(documentedDefault(text, 'pollMs')).toBe(String(taskManagerDefaults.pollMs));
    expect(documentedDefault(text, 'stuckAfterMs')).toBe(String(taskManagerDefaults.stuckAfterMs));
    expect(text).toContain(`\`shutdown({ graceMs = ${taskManagerDefaults.shutdownGraceMs} })\``);
    expect(text).toContain(
      `backoffMs = ${retryDefaults.backoffMs}, maxBackoffMs = ${retryDefaults.maxBackoffMs}`,
    );
    expect(text).toContain(`±${retryDefaults.jitter * 100} %`);
  });
});
