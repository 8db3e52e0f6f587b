import { test } from 'node:test';
import nodeAssert from 'node:assert/strict';
import { AssertionError, assert, assertNever } from '../src/index.js';

test('assert throws AssertionError when its condition is false, and nothing when true', () => {
  assert(true, 'never thrown');
  nodeAssert.throws(
    () => assert(false, 'the invariant'),
    (error: unknown) => error instanceof AssertionError && error.message === 'the invariant' && error.code === 'ASSERTION_FAILED',
  );
  nodeAssert.throws(() => assert(0), AssertionError);
});

test('assertNever names the value it did not expect', () => {
  nodeAssert.throws(() => assertNever('odd' as never, 'role'), { name: 'AssertionError', message: 'role: odd' });
});
