/**
 * Request validation against the node's limits. Everything a client sends is
 * checked before it reaches raft: a bad request gets INVALID_ARGUMENT (or
 * KEY_TOO_LARGE / VALUE_TOO_LARGE) with a message naming the field.
 */
import type { RequestOp, TxnRequest, WriteSession } from '@cairn/proto';
import { InvalidArgumentError, KeyTooLargeError, ValueTooLargeError } from '../errors.js';

export interface RequestLimits {
  keyBytesMax: number;
  valueBytesMax: number;
}

import { CLIENT_ID_BYTES_MAX } from '../limits.js';
import { findConflict, txnTooLarge } from '../state-machine/txn.js';

export function validateKey(key: Uint8Array | undefined, limits: RequestLimits, field = 'key'): Buffer {
  if (key === undefined || key.length === 0) throw new InvalidArgumentError(`${field} must not be empty`);
  if (key.length > limits.keyBytesMax) throw new KeyTooLargeError(key.length, limits.keyBytesMax);
  return Buffer.from(key.buffer, key.byteOffset, key.length);
}

export function validateValue(value: Uint8Array | undefined, limits: RequestLimits): Buffer {
  const bytes = value ?? Buffer.alloc(0);
  if (bytes.length > limits.valueBytesMax) throw new ValueTooLargeError(bytes.length, limits.valueBytesMax);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function validateSession(session: WriteSession | undefined): WriteSession | undefined {
  if (session === undefined || session.clientId === '') {
    if (session !== undefined && session.seq !== 0) throw new InvalidArgumentError('session.seq is set but session.client_id is empty');
    return undefined;
  }
  if (Buffer.byteLength(session.clientId) > CLIENT_ID_BYTES_MAX)
    throw new InvalidArgumentError(`session.client_id is longer than ${CLIENT_ID_BYTES_MAX} bytes`);
  if (!Number.isSafeInteger(session.seq) || session.seq <= 0) throw new InvalidArgumentError('session.seq must be a positive integer');
  return session;
}

export function validatePrefix(prefix: Uint8Array | undefined, limits: RequestLimits): Buffer {
  const bytes = prefix ?? Buffer.alloc(0);
  if (bytes.length > limits.keyBytesMax) throw new KeyTooLargeError(bytes.length, limits.keyBytesMax);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/**
 * A txn's compares and ops, each checked as its own request would be, plus
 * the txn's bounds (TXN_OPS_MAX per branch and compares). The session is
 * carried by the command, not the txn.
 */
export function validateTxn(request: TxnRequest, limits: RequestLimits): TxnRequest {
  const tooLarge = txnTooLarge(request);
  if (tooLarge !== undefined) throw tooLarge;
  const compare = request.compare.map((c) => {
    if (
      c.version === undefined &&
      c.createRevision === undefined &&
      c.modRevision === undefined &&
      c.value === undefined &&
      c.lease === undefined
    )
      throw new InvalidArgumentError('a txn compare needs an operand (version, create_revision, mod_revision, value or lease)');
    return {
      ...c,
      key: validateKey(c.key, limits, 'compare.key'),
      value: c.value === undefined ? undefined : validateValue(c.value, limits),
    };
  });
  const ops = (list: RequestOp[], branch: string): RequestOp[] => {
    const checked = list.map((op) => {
      if (op.put !== undefined) {
        const key = validateKey(op.put.key, limits, `${branch}.put.key`);
        return { put: { key, value: validateValue(op.put.value, limits), prevKv: op.put.prevKv, lease: op.put.lease } };
      }
      if (op.delete !== undefined) {
        const key = op.delete.prefix ? validatePrefix(op.delete.key, limits) : validateKey(op.delete.key, limits, `${branch}.delete.key`);
        return { delete: { key, prevKv: op.delete.prevKv, prefix: op.delete.prefix } };
      }
      if (op.get !== undefined) return { get: { ...op.get, key: validateKey(op.get.key, limits, `${branch}.get.key`) } };
      if (op.range !== undefined) return { range: { ...op.range, prefix: validatePrefix(op.range.prefix, limits) } };
      throw new InvalidArgumentError(`a txn ${branch} op has no operation`);
    });
    // The same rule apply enforces: no key changed twice in one branch (a put twice, or a put a delete covers).
    const conflict = findConflict(checked);
    if (conflict !== undefined) throw conflict;
    return checked;
  };
  return { compare, success: ops(request.success, 'success'), failure: ops(request.failure, 'failure') };
}
