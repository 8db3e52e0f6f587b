// Goal: backoff delays follow min(maxMs, initialMs × factor^attempt) scaled by a jitter factor in
// [1 − jitter, 1 + jitter), and options get documented defaults and validation.
// Method: sample many delays from a seeded PRNG and check every one against its exact bounds;
// check the jitter actually spreads the samples; feed bad options to validate().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs } from '../src/retry.js';
import { seededRandom } from '../src/clock.js';
import {
  DEFAULT_DEADLINE_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRY_INITIAL_MS,
  InvalidArgumentError,
  validate,
  withDefaults,
} from '../src/index.js';

const retry = { initialMs: 50, maxMs: 2_000, factor: 2, jitter: 0.2 };

test('every delay lies within its jittered exponential bounds', () => {
  const random = seededRandom(0x5eed);
  for (let attempt = 0; attempt < 12; attempt++) {
    const base = Math.min(retry.maxMs, retry.initialMs * 2 ** attempt);
    for (let sample = 0; sample < 200; sample++) {
      const delay = backoffDelayMs(attempt, retry, random);
      assert.ok(delay >= base * 0.8, `attempt ${attempt}: ${delay} ≥ ${base * 0.8}`);
      assert.ok(delay < base * 1.2, `attempt ${attempt}: ${delay} < ${base * 1.2}`);
    }
  }
});

test('jitter spreads delays over most of its range', () => {
  const random = seededRandom(42);
  const delays = Array.from({ length: 500 }, () => backoffDelayMs(3, retry, random));
  const base = 400;
  assert.ok(Math.min(...delays) < base * 0.85);
  assert.ok(Math.max(...delays) > base * 1.15);
});

test('without jitter the delays are exact and capped at maxMs', () => {
  const exact = { ...retry, jitter: 0 };
  const delays = [0, 1, 2, 5, 6, 20].map((attempt) => backoffDelayMs(attempt, exact, seededRandom(1)));
  assert.deepEqual(delays, [50, 100, 200, 1_600, 2_000, 2_000]);
});

test('the seeded random is deterministic and in [0, 1)', () => {
  const first = seededRandom(9);
  const second = seededRandom(9);
  for (let index = 0; index < 100; index++) {
    const value = first();
    assert.equal(value, second());
    assert.ok(value >= 0 && value < 1);
  }
});

test('withDefaults fills the documented defaults', () => {
  const options = withDefaults({ endpoints: ['127.0.0.1:7001'] });
  assert.equal(options.requestTimeoutMs, DEFAULT_REQUEST_TIMEOUT_MS);
  assert.equal(options.deadlineMs, DEFAULT_DEADLINE_MS);
  assert.equal(options.retry.initialMs, DEFAULT_RETRY_INITIAL_MS);
  assert.match(options.clientId, /^[0-9a-f-]{36}$/);
  assert.notEqual(withDefaults({ endpoints: ['h:1'] }).clientId, options.clientId, 'each clerk gets its own id');
});

test('validate rejects each bad field with InvalidArgumentError', () => {
  const good = withDefaults({ endpoints: ['127.0.0.1:7001'] });
  assert.equal(validate(good), good);
  const bad = [
    { ...good, endpoints: [] },
    { ...good, requestTimeoutMs: 0 },
    { ...good, deadlineMs: Number.NaN },
    { ...good, retry: { ...good.retry, factor: 0.5 } },
    { ...good, retry: { ...good.retry, maxMs: 1 } },
    { ...good, writesInflightMax: 1.5 },
    { ...good, writesInflightMax: 0 },
    { ...good, clientId: '' },
    { ...good, endpoints: ['127.0.0.1:99999'] },
  ];
  for (const options of bad) assert.throws(() => validate(options), InvalidArgumentError);
});
