import { describe, expect, it } from 'vitest';
import { maintenanceDefaults, maintenanceJobs } from '../src/schedules/maintenance.js';
import { schedulerDefaults } from '../src/schedules/schedule-options.js';
import { documentedDefault, readDoc } from './helpers/docs.js';

describe('documented schedule defaults match the code', () => {
  const text = readDoc('schedules.md');

  it('Scheduler and add() options', () => {
    expect(documentedDefault(text, 'maxSleepMs')).toBe(String(schedulerDefaults.maxSleepMs));
    expect(documentedDefault(text, 'keepAlive')).toBe(String(schedulerDefaults.keepAlive));
    expect(documentedDefault(text, 'overlap')).toBe(schedulerDefaults.overlap);
    expect(documentedDefault(text, 'catchUp')).toBe(schedulerDefaults.catchUp);
    expect(documentedDefault(text, 'jitterMs')).toBe(String(schedulerDefaults.jitterMs));
    expect(documentedDefault(text, 'runOnStart')).toBe(String(schedulerDefaults.runOnStart));
    expect(text).toContain(`\`scheduler.stop({ graceMs = ${schedulerDefaults.stopGraceMs} })\``);
    expect(text).toContain(
      `counted one by one up to ${schedulerDefaults.missedCountCap.toLocaleString('en-US')}`,
    );
  });

  it('maintenance jobs, their intervals and options', () => {
    const every = maintenanceDefaults.everyMs;
    expect(documentedDefault(text, maintenanceJobs.pruneRuns)).toBe(String(every.pruneRuns));
    expect(documentedDefault(text, maintenanceJobs.pruneLogs)).toBe(String(every.pruneLogs));
    expect(documentedDefault(text, maintenanceJobs.recoverRuns)).toBe(String(every.recoverRuns));
    expect(documentedDefault(text, maintenanceJobs.optimizeStore)).toBe(
      String(every.optimizeStore),
    );
    expect(documentedDefault(text, 'retentionDays')).toBe(
      String(maintenanceDefaults.retentionDays),
    );
    expect(documentedDefault(text, 'keepLast')).toBe(String(maintenanceDefaults.keepLast));
    expect(documentedDefault(text, 'orphanLogMinAgeMs')).toBe(
      String(maintenanceDefaults.orphanLogMinAgeMs),
    );
  });

  it('runyard prune', () => {
    const cli = readDoc('cli.md');
    expect(cli).toContain(`(default \`${maintenanceDefaults.retentionDays}d\``);
    expect(cli).toContain(`(default ${maintenanceDefaults.keepLast})`);
  });
});
