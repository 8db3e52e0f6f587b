// Goal: errors are rebuilt from the wire code (never from message text), every code has a class
// and a retry rule, and instanceof works across duplicate copies of the package.
// Method: build errors from ErrorDetail-shaped objects and bare gRPC statuses, and fake a
// foreign copy of an error with only the shared Symbol.for marker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { API_ERROR_CODES, API_ERROR_TABLE } from '@cairn/proto';
import {
  ClerkError,
  ERROR_KINDS,
  InternalError,
  NotLeaderError,
  NoLeaderError,
  TimeoutError,
  UnavailableError,
  UnknownOutcomeError,
} from '../src/index.js';
import { DETERMINISTIC_REJECTIONS, errorFromCode, errorFromDetail, isClerkErrorCode, type ClerkErrorCode } from '../src/errors.js';
import { errorFromGrpcStatus } from '../src/connection.js';

test('every code rebuilds to a class whose code and name match', () => {
  for (const code of Object.keys(ERROR_KINDS) as ClerkErrorCode[]) {
    const error = errorFromDetail({ code, message: 'irrelevant text', leaderId: 0, leaderAddress: '' });
    assert.equal(error.code, code);
    assert.ok(error instanceof ClerkError);
    assert.notEqual(error.constructor, ClerkError, `${code} has its own subclass`);
    assert.equal(error.name, error.constructor.name);
  }
});

test('the class comes from the code, not the message text', () => {
  const error = errorFromDetail({
    code: 'NO_LEADER',
    message: 'NOT_LEADER: try 10.0.0.2:7001',
    leaderId: 2,
    leaderAddress: '10.0.0.2:7001',
  });
  assert.ok(error instanceof NoLeaderError);
  assert.equal(error instanceof NotLeaderError, false);
});

test('NOT_LEADER keeps the structured leader hint', () => {
  const error = errorFromDetail({ code: 'NOT_LEADER', message: '', leaderId: 3, leaderAddress: '10.0.0.3:7001' });
  assert.ok(error instanceof NotLeaderError);
  assert.equal(error.leaderId, 3);
  assert.equal(error.leaderAddress, '10.0.0.3:7001');
});

test('an unknown wire code becomes InternalError instead of crashing', () => {
  const error = errorFromDetail({ code: 'FROM_THE_FUTURE', message: 'x', leaderId: 0, leaderAddress: '' });
  assert.ok(error instanceof InternalError);
  assert.equal(isClerkErrorCode('FROM_THE_FUTURE'), false);
});

test('bare gRPC statuses map to codes', () => {
  assert.ok(errorFromGrpcStatus({ code: status.UNAVAILABLE, details: 'connection refused' }) instanceof UnavailableError);
  assert.ok(errorFromGrpcStatus({ code: status.DEADLINE_EXCEEDED, details: '' }) instanceof TimeoutError);
  assert.equal(errorFromGrpcStatus({ code: status.RESOURCE_EXHAUSTED, details: '' }).code, 'TOO_MANY_REQUESTS');
  assert.equal(errorFromGrpcStatus({ code: status.UNIMPLEMENTED, details: '' }).code, 'INTERNAL');
});

test('instanceof works for an error made by another copy of the package', () => {
  // A foreign copy has different class objects but the same Symbol.for marker.
  const foreign = Object.assign(new Error('x'), { code: 'UNKNOWN_OUTCOME' });
  Object.defineProperty(foreign, Symbol.for('cairn.clerk.error'), { value: 'UNKNOWN_OUTCOME' });
  assert.ok(foreign instanceof ClerkError);
  assert.ok(foreign instanceof UnknownOutcomeError);
  assert.equal(foreign instanceof TimeoutError, false);
  assert.equal(new Error('plain') instanceof ClerkError, false);
});

test('errorFromCode defaults to the class message', () => {
  assert.equal(errorFromCode('TIMEOUT').message, 'deadline exceeded');
  assert.equal(errorFromCode('NOT_LEADER', undefined, { leaderId: 1, leaderAddress: 'h:1' }).message, 'not the leader; try h:1');
});

test("the retry rule of every server code is the one in @cairn/proto's error table", () => {
  for (const code of API_ERROR_CODES) {
    const row = API_ERROR_TABLE[code];
    assert.deepEqual(ERROR_KINDS[code], { retry: row.retry, provesNotApplied: row.provesNotApplied }, code);
    assert.equal(DETERMINISTIC_REJECTIONS.has(code), row.deterministic, code);
  }
  // Every clerk write carries its session, so a write of unknown outcome is resent (deduplicated).
  assert.equal(ERROR_KINDS.UNKNOWN_OUTCOME.retry, 'backoff');
});
