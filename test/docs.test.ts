import { describe, expect, it } from 'vitest';
import { executorDefaults } from '../src/patterns/concurrent.js';
import { taskManagerDefaults } from '../src/patterns/fire-and-forget.js';
import { monitorDefaults } from '../src/patterns/resources.js';
import { retryDefaults } from '../src/patterns/retry.js';
import { defaults } from '../src/patterns/task-options.js';
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
