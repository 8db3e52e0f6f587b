/** Time and randomness enter the clerk only through these seams, so tests can fake them. */
import { setTimeout as sleepTimer } from 'node:timers/promises';
import { AbortedError } from './errors.js';

export interface Clock {
  /** Monotonic milliseconds (fractional allowed). */
  now(): number;
  /** Resolves after `ms`; rejects with `AbortedError` if `signal` fires first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** A source of uniform numbers in [0, 1), like `Math.random`. */
export type Random = () => number;

/** The real clock: `performance.now()` and timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  async sleep(ms, signal) {
    try {
      await sleepTimer(ms, undefined, signal ? { signal } : {});
    } catch (error) {
      if (signal?.aborted) throw new AbortedError(undefined, { cause: error });
      throw error;
    }
  },
};

/**
 * A virtual clock for tests: `sleep` advances time at once and records the
 * duration, so retry loops run instantly and deterministically.
 */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private nowMs = 0) {}

  now(): number {
    return this.nowMs;
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new AbortedError();
    this.sleeps.push(ms);
    this.nowMs += ms;
    await Promise.resolve();
    if (signal?.aborted) throw new AbortedError();
  }
}

/** A small seeded PRNG (mulberry32) for deterministic jitter in tests. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
