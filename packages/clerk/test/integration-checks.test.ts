// Goal: the exactly-once check used by the integration tests really fires, so a green
// integration run means something: duplicates, lost acknowledged appends, applied
// "not applied" appends, foreign text and reordered acknowledged appends are each reported.
// Method: hand-built worker outcomes and logs; no cluster (the workers are never started).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Clerk } from '../src/index.js';
import { ClerkWorker, exactlyOnceViolations, type WriteOutcome } from './integration-support.js';

function workerWith(name: string, outcomes: Array<[number, WriteOutcome]>): ClerkWorker {
  const worker = new ClerkWorker(name, Clerk.lazy({ endpoints: ['127.0.0.1:1'] }), { logKey: 'log' });
  for (const [n, outcome] of outcomes) worker.tokens.set(`${name}:${n};`, outcome);
  return worker;
}

test('a log with each acknowledged token once, in order, passes', () => {
  const a = workerWith('a', [
    [1, 'ok'],
    [2, 'unknown'],
    [3, 'ok'],
    [4, 'not-applied'],
  ]);
  const b = workerWith('b', [[1, 'ok']]);
  assert.deepEqual(exactlyOnceViolations('a:1;b:1;a:2;a:3;', [a, b]), []);
  assert.deepEqual(exactlyOnceViolations('a:1;b:1;a:3;', [a, b]), []);
});

test('each kind of violation is reported', () => {
  const a = workerWith('a', [
    [1, 'ok'],
    [2, 'unknown'],
    [3, 'ok'],
    [4, 'not-applied'],
  ]);
  const cases: Array<[string, RegExp]> = [
    ['a:1;a:1;a:3;', /a:1; \(ok\) appears 2 times/],
    ['a:1;a:2;a:2;a:3;', /a:2; \(unknown\) appears 2 times/],
    ['a:1;', /a:3; was acknowledged but is missing/],
    ['a:1;a:3;a:4;', /a:4; failed as not applied but appears/],
    ['a:1;z:9;a:3;', /z:9; appears but was never appended/],
    ['a:3;a:1;', /a: acknowledged appends out of order/],
    ['a:1;a:3', /does not end with ';'/],
  ];
  for (const [log, expected] of cases) {
    const violations = exactlyOnceViolations(log, [a]);
    assert.ok(
      violations.some((violation) => expected.test(violation)),
      `${log}: ${JSON.stringify(violations)}`,
    );
  }
});
