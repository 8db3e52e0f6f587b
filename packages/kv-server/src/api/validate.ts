/**
 * Request validation against the node's limits. Everything a client sends is
 * checked before it reaches raft: a bad request gets INVALID_ARGUMENT (or
 * KEY_TOO_LARGE / VALUE_TOO_LARGE) with a message naming the field.
 */
import type { WriteSession } from '@cairn/proto';
import { InvalidArgumentError, KeyTooLargeError, ValueTooLargeError } from '../errors.js';

export interface RequestLimits {
  keyBytesMax: number;
  valueBytesMax: number;
}

import { CLIENT_ID_BYTES_MAX } from '../limits.js';

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
