// Goal: every error code has exactly one wire mapping, classes carry stable
// codes, instanceof works across module copies, and ErrorDetail carries the
// structured fields. Method: table checks over ERROR_WIRE plus direct calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { API_ERROR_CODES, API_ERROR_TABLE } from '@cairn/proto';
import { ERROR_WIRE, isKvErrorCode } from '../src/api/error-wire.js';
import { KvError, NotLeaderError, CorruptionError, SessionSeqStaleError, InvalidArgumentError, toErrorDetail } from '../src/errors.js';

test('ERROR_WIRE maps every code to a gRPC status and an HTTP status', () => {
  const codes = Object.keys(ERROR_WIRE);
  assert.equal(codes.length, 24);
  for (const code of codes) {
    const wire = ERROR_WIRE[code as keyof typeof ERROR_WIRE];
    assert.ok(Object.values(status).includes(wire.grpc), `${code} grpc status`);
    assert.ok(wire.http >= 400 && wire.http < 600, `${code} http status`);
    assert.ok(isKvErrorCode(code));
  }
  assert.equal(isKvErrorCode('toString'), false);
});

test("the API codes answer with the statuses of @cairn/proto's error table", () => {
  for (const code of API_ERROR_CODES) {
    assert.deepEqual(ERROR_WIRE[code], { grpc: API_ERROR_TABLE[code].grpc, http: API_ERROR_TABLE[code].http }, code);
  }
  assert.deepEqual(ERROR_WIRE.UNKNOWN_OUTCOME, { grpc: status.UNKNOWN, http: 500 });
});

test('subclasses carry their code and name', () => {
  const error = new SessionSeqStaleError('c1', 3, 5);
  assert.equal(error.code, 'SESSION_SEQ_STALE');
  assert.equal(error.name, 'SessionSeqStaleError');
  assert.ok(error instanceof KvError);
  assert.ok(error instanceof SessionSeqStaleError);
  assert.equal(error instanceof NotLeaderError, false);
});

test('instanceof holds for an error from another copy of the module (same code, marker symbol)', () => {
  const foreign = Object.assign(new Error('not the leader'), { code: 'NOT_LEADER', [Symbol.for('cairn.kv.error')]: true });
  assert.ok(foreign instanceof KvError);
  assert.ok(foreign instanceof NotLeaderError);
  assert.equal(foreign instanceof CorruptionError, false);
  assert.equal(new Error('plain') instanceof KvError, false);
});

test('toErrorDetail carries the leader hint and hides non-KvErrors', () => {
  assert.deepEqual(toErrorDetail(new NotLeaderError(3, '127.0.0.1:7003')), {
    code: 'NOT_LEADER',
    message: 'not the leader; try node 3 at 127.0.0.1:7003',
    leaderId: 3,
    leaderAddress: '127.0.0.1:7003',
    compactRevision: 0,
  });
  assert.equal(toErrorDetail(new InvalidArgumentError('bad')).code, 'INVALID_ARGUMENT');
  const hidden = toErrorDetail(new TypeError('secret stack detail'));
  assert.equal(hidden.code, 'INTERNAL');
  assert.equal(hidden.message.includes('secret'), false);
});
