// Goal: the public entry point loads and exports the Clerk factory and error classes.
// Method: import the package entry and check the exported names and the error-class identity rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as pkg from '../src/index.js';

test('the public entry point exports Clerk and the error classes', () => {
  assert.equal(typeof pkg.Clerk.lazy, 'function');
  assert.equal(typeof pkg.Clerk.connect, 'function');
  const error = new pkg.NotLeaderError(2, '127.0.0.1:7002');
  assert.ok(error instanceof pkg.ClerkError);
  assert.ok(error instanceof pkg.NotLeaderError);
  assert.ok(error instanceof Error);
  assert.equal(error instanceof pkg.NoLeaderError, false);
});
