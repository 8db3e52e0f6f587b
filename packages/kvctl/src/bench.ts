import { assert } from '@cairn/proto';
import { performance } from 'node:perf_hooks';
import type { ClerkLike } from './clerk-like.js';
import { describeError } from './errors.js';
import { LatencyHistogram } from './latency-histogram.js';

export interface BenchOptions {
  /** Workers, each with one request in flight (closed loop). */
  readonly concurrency: number;
  /** Stop starting operations after this long; exactly one of durationMs and count. */
  readonly durationMs?: number | undefined;
  /** Run exactly this many operations (successes plus errors). */
  readonly count?: number | undefined;
  /** Keys are drawn uniformly from `bench/0 … bench/<keys-1>`. */
  readonly keys: number;
  readonly valueBytes: number;
  /** Fraction of operations that are linearizable gets; the rest are puts. */
  readonly readRatio: number;
  /** @default 500 */
  readonly progressIntervalMs?: number;
}

export interface BenchDeps {
  /** Milliseconds from a monotonic clock. @default performance.now */
  readonly now?: () => number;
  /** Uniform in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Called about every progressIntervalMs, and once more with `done: true`. */
  readonly onProgress?: (snapshot: BenchSnapshot) => void;
  /** Aborting stops starting new operations (Ctrl-C); those in flight finish and count. */
  readonly signal?: AbortSignal;
}

export interface LatencySummaryMs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** The state of a run so far; the last one (`done: true`) is the summary. */
export interface BenchSnapshot {
  readonly done: boolean;
  readonly elapsedMs: number;
  /** Successful operations. */
  readonly ops: number;
  readonly reads: number;
  readonly writes: number;
  readonly errors: number;
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Successful operations per second over the whole run. */
  readonly opsPerSec: number;
  /** Successful operations per second since the previous snapshot. */
  readonly recentOpsPerSec: number;
  /** Latency of successful operations. */
  readonly latencyMs: LatencySummaryMs;
}

export const DEFAULT_PROGRESS_INTERVAL_MS = 500;
export const BENCH_KEY_PREFIX = 'bench/';

/** The clerk calls a benchmark makes. */
export type BenchClerk = Pick<ClerkLike, 'get' | 'put'>;

/**
 * Closed-loop load generator: `concurrency` workers each issue one operation,
 * wait for its answer, and issue the next, until the duration or count is used
 * up. Latency is recorded in microseconds in a log-linear histogram, so memory
 * stays fixed however long the run.
 */
export async function runBench(clerk: BenchClerk, options: BenchOptions, deps: BenchDeps = {}): Promise<BenchSnapshot> {
  validateBenchOptions(options);
  const run = new BenchRun(options, deps);
  const workers = Array.from({ length: options.concurrency }, () => run.worker(clerk));
  await Promise.all(workers);
  return run.finish();
}

function validateBenchOptions(options: BenchOptions): void {
  assert((options.durationMs === undefined) !== (options.count === undefined), 'exactly one of durationMs and count');
  assert(Number.isSafeInteger(options.concurrency) && options.concurrency >= 1, 'concurrency ≥ 1');
  assert(Number.isSafeInteger(options.keys) && options.keys >= 1, 'keys ≥ 1');
  assert(options.readRatio >= 0 && options.readRatio <= 1, 'readRatio in [0, 1]');
  assert(Number.isSafeInteger(options.valueBytes) && options.valueBytes >= 0, 'valueBytes ≥ 0');
}

class BenchRun {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly histogram = new LatencyHistogram();
  private readonly errorsByCode: Record<string, number> = {};
  private readonly value: Buffer;
  private readonly keyWidth: number;
  private readonly startedAt: number;
  private readonly progressIntervalMs: number;
  private started = 0;
  private reads = 0;
  private writes = 0;
  private errors = 0;
  private lastProgress: { at: number; ops: number };

  constructor(
    private readonly options: BenchOptions,
    private readonly deps: BenchDeps,
  ) {
    this.now = deps.now ?? (() => performance.now());
    this.random = deps.random ?? Math.random;
    this.value = Buffer.alloc(options.valueBytes, 'x');
    this.keyWidth = String(options.keys - 1).length;
    this.progressIntervalMs = options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
    this.startedAt = this.now();
    this.lastProgress = { at: this.startedAt, ops: 0 };
  }

  async worker(clerk: BenchClerk): Promise<void> {
    while (this.claimOperation()) {
      const isRead = this.random() < this.options.readRatio;
      const key = this.pickKey();
      const operationStartedAt = this.now();
      try {
        if (isRead) await clerk.get(key, { consistency: 'linearizable' });
        else await clerk.put(key, this.value);
        this.histogram.record(Math.max(0, this.now() - operationStartedAt) * 1000);
        if (isRead) this.reads += 1;
        else this.writes += 1;
      } catch (error) {
        const { code } = describeError(error);
        this.errors += 1;
        this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + 1;
      }
      this.maybeReportProgress();
    }
  }

  finish(): BenchSnapshot {
    const summary = this.snapshot(true);
    this.deps.onProgress?.(summary);
    return summary;
  }

  private claimOperation(): boolean {
    if (this.deps.signal?.aborted === true) return false;
    if (this.options.count !== undefined) {
      if (this.started >= this.options.count) return false;
    } else if (this.now() - this.startedAt >= this.options.durationMs!) {
      return false;
    }
    this.started += 1;
    return true;
  }

  private pickKey(): string {
    const index = Math.min(this.options.keys - 1, Math.floor(this.random() * this.options.keys));
    return BENCH_KEY_PREFIX + String(index).padStart(this.keyWidth, '0');
  }

  private maybeReportProgress(): void {
    if (this.deps.onProgress === undefined) return;
    if (this.now() - this.lastProgress.at < this.progressIntervalMs) return;
    this.deps.onProgress(this.snapshot(false));
  }

  private snapshot(done: boolean): BenchSnapshot {
    const at = this.now();
    const ops = this.reads + this.writes;
    const elapsedMs = at - this.startedAt;
    const sinceLastMs = at - this.lastProgress.at;
    const recentOpsPerSec = sinceLastMs > 0 ? ((ops - this.lastProgress.ops) * 1000) / sinceLastMs : 0;
    this.lastProgress = { at, ops };
    return {
      done,
      elapsedMs,
      ops,
      reads: this.reads,
      writes: this.writes,
      errors: this.errors,
      errorsByCode: { ...this.errorsByCode },
      opsPerSec: elapsedMs > 0 ? (ops * 1000) / elapsedMs : 0,
      recentOpsPerSec,
      latencyMs: {
        p50: this.histogram.percentile(50) / 1000,
        p90: this.histogram.percentile(90) / 1000,
        p99: this.histogram.percentile(99) / 1000,
        max: this.histogram.max / 1000,
      },
    };
  }
}
