/**
 * The seeded pseudo-random source raft-core uses for election jitter. It is
 * injected so a simulation replays exactly from its seed, on every machine.
 */
export interface Rng {
  /** A uniformly distributed integer in [0, n); n is a positive integer <= 2^32. */
  intBelow(n: number): number;
  /** A uniformly distributed float in [0, 1). */
  float(): number;
}

const MASK_64 = (1n << 64n) - 1n;

/** splitmix64: expands one seed into well-mixed words (used to seed xoshiro). */
function splitmix64(state: { value: bigint }): bigint {
  state.value = (state.value + 0x9e3779b97f4a7c15n) & MASK_64;
  let z = state.value;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK_64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK_64;
  return z ^ (z >> 31n);
}

/** xoshiro128** seeded through splitmix64; pure 32-bit integer arithmetic, so identical everywhere. */
export function createRng(seed: number | bigint): Rng {
  const seedState = { value: BigInt.asUintN(64, BigInt(seed)) };
  const first = splitmix64(seedState);
  const second = splitmix64(seedState);
  let s0 = Number(first & 0xffffffffn) >>> 0;
  let s1 = Number(first >> 32n) >>> 0;
  let s2 = Number(second & 0xffffffffn) >>> 0;
  let s3 = Number(second >> 32n) >>> 0;
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;

  const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;
  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    s2 = (s2 ^ s0) >>> 0;
    s3 = (s3 ^ s1) >>> 0;
    s1 = (s1 ^ s2) >>> 0;
    s0 = (s0 ^ s3) >>> 0;
    s2 = (s2 ^ t) >>> 0;
    s3 = rotl(s3, 11);
    return result;
  };

  return {
    intBelow(n: number): number {
      if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`intBelow(${n}): n must be an integer in [1, 2^32]`);
      // Rejection sampling keeps the result unbiased.
      const limit = Math.floor(2 ** 32 / n) * n;
      for (;;) {
        const x = nextUint32();
        if (x < limit) return x % n;
      }
    },
    float(): number {
      return nextUint32() / 2 ** 32;
    },
  };
}
