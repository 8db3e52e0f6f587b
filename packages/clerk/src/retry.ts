/** Backoff arithmetic, kept pure so tests can check its bounds exactly. */
import { assert } from '@cairn/proto';
import type { Random } from './clock.js';
import type { ResolvedClerkOptions } from './options.js';

/**
 * Delay before retry number `attempt` (0-based):
 * `min(maxMs, initialMs × factor^attempt) × (1 + jitter × (2 × random() − 1))`,
 * so the result lies in `[base × (1 − jitter), base × (1 + jitter))`.
 */
export function backoffDelayMs(attempt: number, retry: ResolvedClerkOptions['retry'], random: Random): number {
  assert(Number.isInteger(attempt) && attempt >= 0, 'attempt is a non-negative integer');
  const base = Math.min(retry.maxMs, retry.initialMs * Math.pow(retry.factor, attempt));
  const sample = random();
  assert(sample >= 0 && sample < 1, 'random() returns a number in [0, 1)');
  const delay = base * (1 + retry.jitter * (2 * sample - 1));
  assert(delay >= 0);
  return delay;
}
