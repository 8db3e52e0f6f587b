/**
 * Payload encodings of the state machine's LevelDB records (framed and
 * checksummed by storage/codec.ts when written).
 */
import { CommandResult, encodeToBuffer, KeyValue } from '@cairn/proto';

const EMPTY_KEY = Buffer.alloc(0);
import { CorruptionError } from '../errors.js';
import { decodeRecord, describe, type Description } from '../storage/codec.js';
import { readU64BE, writeU64BE } from '../storage/u64.js';

/** The state machine's bookkeeping, stored under APPLIED_KEY. */
export interface AppliedState {
  appliedIndex: number;
  /** Generation of the KV and session keys in use (changes on every restore). */
  generation: number;
  /** Largest proposedAtMs seen in the log: the replicated clock for session expiry. */
  clockMs: number;
  /** Counter ordering session activity, so eviction order survives restarts. */
  activitySeq: number;
  keyCount: number;
  /** The store's revision: +1 for every applied command that changed a key (all its changes share it). */
  revision: number;
  /** Reads and watches below this revision get COMPACTED (0 = nothing compacted). */
  compactRevision: number;
}

/** A data dir written before revisions existed stores 5 fields; it reads as revision 0. */
const APPLIED_STATE_BYTES_V1 = 8 * 5;
const APPLIED_STATE_BYTES = 8 * 7;

/** `prefixBytes`: room left in front, e.g. for a record header (see sealRecord). */
export function encodeAppliedState(state: AppliedState, prefixBytes = 0): Buffer {
  const bytes = Buffer.allocUnsafe(prefixBytes + APPLIED_STATE_BYTES);
  bytes.fill(0, 0, prefixBytes);
  writeU64BE(bytes, state.appliedIndex, prefixBytes);
  writeU64BE(bytes, state.generation, prefixBytes + 8);
  writeU64BE(bytes, state.clockMs, prefixBytes + 16);
  writeU64BE(bytes, state.activitySeq, prefixBytes + 24);
  writeU64BE(bytes, state.keyCount, prefixBytes + 32);
  writeU64BE(bytes, state.revision, prefixBytes + 40);
  writeU64BE(bytes, state.compactRevision, prefixBytes + 48);
  return bytes;
}

export function decodeAppliedState(payload: Buffer, dataDir: string): AppliedState {
  if (payload.length !== APPLIED_STATE_BYTES && payload.length !== APPLIED_STATE_BYTES_V1) {
    throw new CorruptionError(dataDir, `applied state record has ${payload.length} bytes, expected ${APPLIED_STATE_BYTES}`);
  }
  return {
    appliedIndex: readU64BE(payload, 0),
    generation: readU64BE(payload, 8),
    clockMs: readU64BE(payload, 16),
    activitySeq: readU64BE(payload, 24),
    keyCount: readU64BE(payload, 32),
    revision: payload.length === APPLIED_STATE_BYTES ? readU64BE(payload, 40) : 0,
    compactRevision: payload.length === APPLIED_STATE_BYTES ? readU64BE(payload, 48) : 0,
  };
}

/** A stored key's value and metadata; the key itself is in the LevelDB key. */
export interface StoredValue {
  value: Buffer;
  version: number;
  createIndex: number;
  modIndex: number;
  createRevision: number;
  modRevision: number;
  /** The lease the key is attached to (0 = none). */
  lease: number;
}

/** `prefixBytes`: room left in front, e.g. for a record header (see sealRecord). */
export function encodeStoredValue(stored: StoredValue, prefixBytes = 0): Buffer {
  return encodeToBuffer(KeyValue, { key: EMPTY_KEY, ...stored }, prefixBytes);
}

export function decodeStoredValue(payload: Buffer, dataDir: string, what: Description): StoredValue {
  try {
    const decoded = KeyValue.decode(payload);
    return {
      value: decoded.value,
      version: decoded.version,
      createIndex: decoded.createIndex,
      modIndex: decoded.modIndex,
      createRevision: decoded.createRevision,
      modRevision: decoded.modRevision,
      lease: decoded.lease,
    };
  } catch (error) {
    throw new CorruptionError(dataDir, `${describe(what)} does not decode (${(error as Error).message})`);
  }
}

/** Verifies a stored key record (framed by storage/codec.ts) and decodes its value. */
export function decodeValueRecord(storedKey: Buffer, record: Buffer, dataDir: string): StoredValue {
  const what = (): string => `key record ${storedKey.toString('hex')}`;
  return decodeStoredValue(decodeRecord(storedKey, record, { dataDir, what }), dataDir, what);
}

/** A client session: the last write applied for the client and its reply. */
export interface SessionRecord {
  lastSeq: number;
  lastActiveMs: number;
  activitySeq: number;
  lastResult: CommandResult;
}

const SESSION_HEADER_BYTES = 8 * 3;

/** `prefixBytes`: room left in front, e.g. for a record header (see sealRecord). */
export function encodeSession(session: SessionRecord, prefixBytes = 0): Buffer {
  const bytes = encodeToBuffer(CommandResult, session.lastResult, prefixBytes + SESSION_HEADER_BYTES);
  writeU64BE(bytes, session.lastSeq, prefixBytes);
  writeU64BE(bytes, session.lastActiveMs, prefixBytes + 8);
  writeU64BE(bytes, session.activitySeq, prefixBytes + 16);
  return bytes;
}

export function decodeSession(payload: Buffer, dataDir: string, what: string): SessionRecord {
  if (payload.length < SESSION_HEADER_BYTES) throw new CorruptionError(dataDir, `${what} is too short`);
  try {
    return {
      lastSeq: readU64BE(payload, 0),
      lastActiveMs: readU64BE(payload, 8),
      activitySeq: readU64BE(payload, 16),
      lastResult: CommandResult.decode(payload.subarray(SESSION_HEADER_BYTES)),
    };
  } catch (error) {
    throw new CorruptionError(dataDir, `${what} does not decode (${(error as Error).message})`);
  }
}
