/**
 * Exact latency percentiles: every sample is kept (a Float64Array that doubles
 * when full) and sorted once. A 5 s level at 20k ops/s is 100k samples, 800 KB.
 */

export interface LatencySummaryMs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

const INITIAL_CAPACITY = 16 * 1024;

export class LatencyRecorder {
  private samples = new Float64Array(INITIAL_CAPACITY);
  private count = 0;

  record(latencyMs: number): void {
    if (this.count === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.count++] = latencyMs;
  }

  summary(): LatencySummaryMs {
    if (this.count === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
    const sorted = this.samples.slice(0, this.count).sort();
    // Nearest-rank percentile: the smallest sample with at least p of the samples at or below it.
    const at = (p: number): number => sorted[Math.max(0, Math.ceil(p * this.count) - 1)]!;
    let total = 0;
    for (const sample of sorted) total += sample;
    return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[this.count - 1]!, mean: total / this.count };
  }
}
