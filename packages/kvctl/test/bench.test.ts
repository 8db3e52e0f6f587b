// Goal: the bench load generator runs the requested number of operations with
// the requested mix, measures latency correctly, and reports progress; the
// histogram's percentiles match exact nearest-rank values within its precision.
// Method: a fake clerk that advances a fake clock per operation, a scripted
// random source, and direct histogram checks. No real time is measured.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { runBench, type BenchClerk, type BenchSnapshot } from '../src/bench.js';
import { LatencyHistogram } from '../src/latency-histogram.js';
import { FakeClerkError } from './fake-clerk.js';

/** A clerk whose every call "takes" latencyMs(n) of fake time for the n-th call. */
function timedClerk(clock: { now: number }, latencyMs: (call: number) => number, fail?: (call: number) => string | undefined) {
  const calls: { method: 'get' | 'put'; key: string; valueBytes?: number }[] = [];
  const step = async (): Promise<void> => {
    const call = calls.length - 1;
    clock.now += latencyMs(call);
    await Promise.resolve();
    const code = fail?.(call);
    if (code !== undefined) throw new FakeClerkError(code, 'scripted');
  };
  const clerk: BenchClerk = {
    async get(key) {
      calls.push({ method: 'get', key });
      await step();
      return undefined;
    },
    async put(key, value) {
      calls.push({ method: 'put', key, valueBytes: value.length });
      await step();
      return undefined;
    },
  };
  return { clerk, calls };
}

/** A deterministic random source cycling through the given values. */
function cycle(values: number[]): () => number {
  let next = 0;
  return () => values[next++ % values.length]!;
}

describe('runBench', () => {
  test('count mode runs exactly count operations over the key space', async () => {
    const clock = { now: 0 };
    const { clerk, calls } = timedClerk(clock, () => 1);
    const summary = await runBench(clerk, { concurrency: 4, count: 50, keys: 7, valueBytes: 32, readRatio: 0.5 }, { now: () => clock.now });
    assert.equal(calls.length, 50);
    assert.equal(summary.ops, 50);
    assert.equal(summary.reads + summary.writes, 50);
    assert.equal(summary.done, true);
    assert.ok(
      calls.every((call) => /^bench\/[0-6]$/.test(call.key)),
      'keys stay within bench/0..bench/6',
    );
    assert.ok(calls.filter((call) => call.method === 'put').every((call) => call.valueBytes === 32));
  });

  test('read ratio decides each operation: 0 is all puts, 1 all gets, 0.25 a quarter', async () => {
    for (const [ratio, reads] of [
      [0, 0],
      [1, 40],
      [0.25, 10],
    ] as const) {
      const clock = { now: 0 };
      const { clerk, calls } = timedClerk(clock, () => 1);
      // Draws alternate between the op choice and the key choice; the op draws cycle 0.1, 0.3, 0.6, 0.9.
      const random = cycle([0.1, 0.5, 0.3, 0.5, 0.6, 0.5, 0.9, 0.5]);
      await runBench(clerk, { concurrency: 1, count: 40, keys: 10, valueBytes: 1, readRatio: ratio }, { now: () => clock.now, random });
      assert.equal(calls.filter((call) => call.method === 'get').length, reads, `ratio ${ratio}`);
    }
  });

  test('latency percentiles and ops/s come from the measured (fake) time', async () => {
    const clock = { now: 0 };
    // Operation n takes n+1 ms: 1..100 ms.
    const { clerk } = timedClerk(clock, (call) => call + 1);
    const summary = await runBench(clerk, { concurrency: 1, count: 100, keys: 1, valueBytes: 1, readRatio: 0.5 }, { now: () => clock.now });
    assert.equal(summary.elapsedMs, 5050);
    assert.ok(Math.abs(summary.opsPerSec - 100 / 5.05) < 1e-9);
    const near = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) / expected < 0.02, `${actual} ≈ ${expected}`);
    near(summary.latencyMs.p50, 50);
    near(summary.latencyMs.p90, 90);
    near(summary.latencyMs.p99, 99);
    assert.equal(summary.latencyMs.max, 100);
  });

  test('duration mode stops starting operations once the duration is used up', async () => {
    const clock = { now: 0 };
    const { clerk, calls } = timedClerk(clock, () => 10);
    const summary = await runBench(
      clerk,
      { concurrency: 1, durationMs: 95, keys: 1, valueBytes: 1, readRatio: 0 },
      { now: () => clock.now },
    );
    // Starts at 0, 10, ..., 90: ten operations.
    assert.equal(calls.length, 10);
    assert.equal(summary.ops, 10);
  });

  test('errors are counted by code and excluded from latency', async () => {
    const clock = { now: 0 };
    const { clerk } = timedClerk(
      clock,
      (call) => (call % 3 === 0 ? 1000 : 1),
      (call) => (call % 3 === 0 ? (call % 2 === 0 ? 'TIMEOUT' : 'NO_LEADER') : undefined),
    );
    const summary = await runBench(clerk, { concurrency: 1, count: 12, keys: 1, valueBytes: 1, readRatio: 0.5 }, { now: () => clock.now });
    assert.equal(summary.errors, 4);
    assert.deepEqual(summary.errorsByCode, { TIMEOUT: 2, NO_LEADER: 2 });
    assert.equal(summary.ops, 8);
    assert.equal(summary.latencyMs.max, 1);
  });

  test('progress snapshots arrive every interval, then one final done snapshot', async () => {
    const clock = { now: 0 };
    const { clerk } = timedClerk(clock, () => 100);
    const snapshots: BenchSnapshot[] = [];
    await runBench(
      clerk,
      { concurrency: 1, count: 20, keys: 1, valueBytes: 1, readRatio: 0.5 },
      { now: () => clock.now, onProgress: (s) => snapshots.push(s) },
    );
    // 2000 ms of fake time at a 500 ms interval: 4 progress snapshots plus the summary.
    assert.equal(snapshots.length, 5);
    assert.deepEqual(
      snapshots.map((s) => s.done),
      [false, false, false, false, true],
    );
    assert.deepEqual(
      snapshots.slice(0, 4).map((s) => s.ops),
      [5, 10, 15, 20],
    );
    assert.ok(snapshots.slice(0, 4).every((s) => Math.abs(s.recentOpsPerSec - 10) < 1e-9));
  });

  test('an aborted signal stops the run early', async () => {
    const clock = { now: 0 };
    const abort = new AbortController();
    const { clerk, calls } = timedClerk(clock, (call) => {
      if (call === 4) abort.abort();
      return 1;
    });
    const summary = await runBench(
      clerk,
      { concurrency: 1, count: 1000, keys: 1, valueBytes: 1, readRatio: 0.5 },
      { now: () => clock.now, signal: abort.signal },
    );
    assert.equal(calls.length, 5);
    assert.equal(summary.done, true);
  });
});

describe('LatencyHistogram', () => {
  test('small values are exact; nearest-rank semantics', () => {
    const histogram = new LatencyHistogram();
    for (const value of [3, 1, 2, 100]) histogram.record(value);
    assert.equal(histogram.count, 4);
    assert.equal(histogram.percentile(25), 1);
    assert.equal(histogram.percentile(50), 2);
    assert.equal(histogram.percentile(75), 3);
    assert.equal(histogram.percentile(100), 100);
  });

  test('large values are within 1.6 % of the exact nearest-rank percentile and never above the max', () => {
    const histogram = new LatencyHistogram();
    const values: number[] = [];
    // A skewed spread from 1 µs to ~10 s, recorded out of order.
    for (let i = 0; i < 5000; i++) values.push(Math.floor(1 + ((i * 7919) % 5000)) ** 2 % 10_000_000);
    for (const value of values) histogram.record(value);
    const sorted = [...values].sort((a, b) => a - b);
    for (const p of [1, 10, 50, 90, 99, 99.9, 100]) {
      const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
      const reported = histogram.percentile(p);
      assert.ok(reported >= exact && reported <= exact * 1.016 + 1, `p${p}: ${reported} vs exact ${exact}`);
    }
    assert.equal(histogram.max, sorted.at(-1));
  });

  test('an empty histogram reports 0 and rejects out-of-range input', () => {
    const histogram = new LatencyHistogram();
    assert.equal(histogram.percentile(99), 0);
    assert.throws(() => histogram.record(-1));
    assert.throws(() => histogram.percentile(0));
  });
});
