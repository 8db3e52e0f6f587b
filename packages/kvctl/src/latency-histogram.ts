import { assert } from '@cairn/proto';

/**
 * Bits of precision per power of two. Values below 2^SUB_BUCKET_BITS are kept
 * exactly; above, each bucket spans under 1/64 (1.6 %) of its value.
 */
const SUB_BUCKET_BITS = 7;
const HALF_SUB_BUCKETS = 1 << (SUB_BUCKET_BITS - 1);
/** Largest recordable value (about 35 minutes in microseconds); larger values are clamped. */
export const HISTOGRAM_VALUE_MAX = 2 ** 31 - 1;
const BUCKET_COUNT = (31 - SUB_BUCKET_BITS + 3) * HALF_SUB_BUCKETS;

/**
 * An HDR-style log-linear histogram of non-negative integers (kvctl records
 * microseconds). Memory is fixed (~7 KiB) however long a benchmark runs.
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private total = 0;
  private maxValue = 0;

  get count(): number {
    return this.total;
  }

  get max(): number {
    return this.maxValue;
  }

  record(value: number): void {
    assert(Number.isFinite(value) && value >= 0, `histogram values are non-negative, got ${value}`);
    const clamped = Math.min(Math.round(value), HISTOGRAM_VALUE_MAX);
    this.counts[bucketIndexOf(clamped)]! += 1;
    this.total += 1;
    this.maxValue = Math.max(this.maxValue, clamped);
  }

  /**
   * The nearest-rank percentile (0 < p ≤ 100): the smallest recorded value such
   * that at least p % of values are ≤ it, reported as its bucket's upper bound
   * and never above the true maximum. 0 when nothing was recorded.
   */
  percentile(p: number): number {
    assert(p > 0 && p <= 100, `percentile must be in (0, 100], got ${p}`);
    if (this.total === 0) return 0;
    const rank = Math.ceil((p / 100) * this.total);
    let seen = 0;
    for (let index = 0; index < BUCKET_COUNT; index++) {
      seen += this.counts[index]!;
      if (seen >= rank) return Math.min(bucketUpperBound(index), this.maxValue);
    }
    return this.maxValue;
  }
}

function bucketIndexOf(value: number): number {
  if (value < 2 * HALF_SUB_BUCKETS) return value;
  const magnitude = 31 - Math.clz32(value);
  const shift = magnitude - (SUB_BUCKET_BITS - 1);
  const subBucket = value >>> shift; // in [HALF_SUB_BUCKETS, 2 * HALF_SUB_BUCKETS)
  return shift * HALF_SUB_BUCKETS + subBucket;
}

function bucketUpperBound(index: number): number {
  if (index < 2 * HALF_SUB_BUCKETS) return index;
  const shift = Math.floor(index / HALF_SUB_BUCKETS) - 1;
  const subBucket = index - shift * HALF_SUB_BUCKETS;
  return (subBucket + 1) * 2 ** shift - 1;
}
