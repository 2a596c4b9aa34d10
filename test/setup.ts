import { afterEach } from 'vitest';

/** A process warning (a listener leak, a deprecated call) fails the test that caused it. */
const warnings: Error[] = [];
process.on('warning', (warning) => warnings.push(warning));

afterEach(() => {
  if (warnings.length === 0) return;
  const messages = warnings.splice(0).map((w) => `${w.name}: ${w.message}`);
  throw new Error(`Process warnings: ${messages.join('; ')}`);
});
