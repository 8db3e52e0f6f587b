// Goal: the error table has a consistent row for every API code, so server and
// clients read one answer per code. Method: checks over every row.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { API_ERROR_CODES, API_ERROR_TABLE, ERROR_TRAILER } from '../src/index.js';

test('every API code has exactly one row, with a gRPC and an HTTP error status', () => {
  assert.deepEqual(Object.keys(API_ERROR_TABLE).sort(), [...API_ERROR_CODES].sort());
  for (const code of API_ERROR_CODES) {
    const row = API_ERROR_TABLE[code];
    assert.ok(Object.values(status).includes(row.grpc) && row.grpc !== status.OK, `${code} grpc status`);
    assert.ok(row.http >= 400 && row.http < 600, `${code} http status`);
  }
  assert.equal(ERROR_TRAILER, 'cairn-error-bin');
});

test('a deterministic refusal is final and proves the request was not applied', () => {
  for (const code of API_ERROR_CODES) {
    const row = API_ERROR_TABLE[code];
    if (row.deterministic) assert.ok(row.provesNotApplied && row.retry === 'never', code);
  }
});

test('UNKNOWN_OUTCOME is retried (with the session) but proves nothing', () => {
  assert.equal(API_ERROR_TABLE.UNKNOWN_OUTCOME.retry, 'backoff');
  assert.equal(API_ERROR_TABLE.UNKNOWN_OUTCOME.provesNotApplied, false);
});
