// Goal: the package's public entry point loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as pkg from '../src/index.js';

test('the public entry point loads', () => {
  assert.equal(typeof pkg, 'object');
});
