import type { RetryPolicy } from '../core/types.js';
import {
  checkNonNegativeNumber,
  checkPlainObject,
  checkPositiveInteger,
} from '../core/validate.js';

export const retryDefaults = {
  backoffMs: 1000,
  maxBackoffMs: 300_000,
  /** ±10 %: runs that failed together do not all come back in the same millisecond. */
  jitter: 0.1,
} as const;

export function validateRetryPolicy(field: string, policy: unknown): void {
  if (policy === undefined) return;
  checkPlainObject(field, policy);
  const p = policy as Record<string, unknown>;
  checkPositiveInteger(`${field}.attempts`, p.attempts);
  if (p.attempts === undefined) checkPositiveInteger(`${field}.attempts`, null);
  checkNonNegativeNumber(`${field}.backoffMs`, p.backoffMs);
  checkNonNegativeNumber(`${field}.maxBackoffMs`, p.maxBackoffMs);
}

/**
 * The wait before the next try after `attempt` (1-based) failed: `backoffMs` doubled for each
 * try so far, capped at `maxBackoffMs`, with ±10 % jitter.
 */
export function retryDelay(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const base = policy.backoffMs ?? retryDefaults.backoffMs;
  const cap = policy.maxBackoffMs ?? retryDefaults.maxBackoffMs;
  const delay = Math.min(cap, base * 2 ** (attempt - 1));
  return Math.max(0, Math.round(delay * (1 + retryDefaults.jitter * (2 * random() - 1))));
}
