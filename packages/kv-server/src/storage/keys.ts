/**
 * The key layout of the node's single LevelDB (data-dir/db). One database lets
 * the log append, the hard state and the state machine's writes share atomic
 * batches. Every key starts with a one-byte prefix:
 *
 *   'M' name              node meta: cluster id, node id, format version
 *   'L' u64be index       raft log entry (big-endian so byte order = index order)
 *   'H'                   raft hard state
 *   'C'                   raft conf state (membership in force)
 *   'P' u64be id          member addresses (replicated through conf-change contexts)
 *   'S'                   raft snapshot metadata (what the log was compacted behind)
 *   'F'                   present when that snapshot has no file yet (compacted only; built on demand)
 *   'A'                   state machine applied state (applied index, generation, ...)
 *   'K' u32be gen key     KV data of state-machine generation `gen`
 *   'N' u32be gen id      client session of generation `gen`
 *   'T' u32be gen u64be ms id   session activity index (for expiry and eviction)
 *   'G' u32be gen u64be id      lease: its granted TTL (state-machine/leases.ts)
 *   'J' u32be gen u64be id key  a key attached to lease `id` (empty payload)
 *   'V' u32be gen esc(key) u64be rev   history: the key's value as written at
 *                         revision `rev`, or its deletion at `rev` (payloads in
 *                         state-machine/history.ts). esc() keeps keys in byte
 *                         order and makes each key's records one contiguous run
 *                         in revision order (see escapeKey).
 *   'E' u32be gen u64be rev     history: the (type, key) list of revision `rev`'s
 *                         events in the order applied (state-machine/history.ts)
 *
 * History is written in the same batch as the change it records. Compaction
 * to revision c keeps every 'E' >= c, every 'V' >= c and, per key, the newest
 * 'V' below c unless it is a deletion: what reads and prevKv at c or later need.
 * The state machine's data lives under a generation number so that a snapshot
 * restore can load a whole new generation and switch to it atomically.
 */
import { readU64BE, writeU64BE } from './u64.js';

export const PREFIX = {
  meta: 0x4d, // 'M'
  log: 0x4c, // 'L'
  hardState: 0x48, // 'H'
  confState: 0x43, // 'C'
  member: 0x50, // 'P'
  snapshot: 0x53, // 'S'
  snapshotFileAbsent: 0x46, // 'F'
  applied: 0x41, // 'A'
  kv: 0x4b, // 'K'
  session: 0x4e, // 'N'
  sessionActivity: 0x54, // 'T'
  lease: 0x47, // 'G'
  leaseKey: 0x4a, // 'J'
  historyValue: 0x56, // 'V'
  historyEvents: 0x45, // 'E'
} as const;

export function metaKey(name: string): Buffer {
  return Buffer.concat([Buffer.of(PREFIX.meta), Buffer.from(name, 'utf8')]);
}

export function logKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = PREFIX.log;
  writeU64BE(key, index, 1);
  return key;
}

export function logIndexOfKey(key: Uint8Array): number {
  return readU64BE(Buffer.from(key.buffer, key.byteOffset, key.byteLength), 1);
}

export const HARD_STATE_KEY = Buffer.of(PREFIX.hardState);
export const CONF_STATE_KEY = Buffer.of(PREFIX.confState);
export const SNAPSHOT_KEY = Buffer.of(PREFIX.snapshot);
export const SNAPSHOT_FILE_ABSENT_KEY = Buffer.of(PREFIX.snapshotFileAbsent);
export const APPLIED_KEY = Buffer.of(PREFIX.applied);

export function memberKey(id: number): Buffer {
  const key = Buffer.allocUnsafe(9);
  key[0] = PREFIX.member;
  writeU64BE(key, id, 1);
  return key;
}

/** [gte, lt) bounds of every key starting with `prefix`. */
export function prefixRange(prefix: Uint8Array): { gte: Buffer; lt: Buffer } {
  return { gte: Buffer.from(prefix), lt: prefixEnd(prefix) };
}

/** The smallest key greater than every key starting with `prefix`. */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  // All 0xff (or empty): nothing in our layout; use a key above every prefix.
  return Buffer.of(0xff, 0xff);
}

export function generationPrefix(prefix: number, generation: number): Buffer {
  const key = Buffer.allocUnsafe(5);
  key[0] = prefix;
  key.writeUInt32BE(generation, 1);
  return key;
}

export function kvKey(generation: number, userKey: Uint8Array): Buffer {
  return Buffer.concat([generationPrefix(PREFIX.kv, generation), userKey]);
}

export function sessionKey(generation: number, clientId: string): Buffer {
  return Buffer.concat([generationPrefix(PREFIX.session, generation), Buffer.from(clientId, 'utf8')]);
}

export function sessionActivityKey(generation: number, lastActiveMs: number, clientId: string): Buffer {
  const head = Buffer.allocUnsafe(13);
  head[0] = PREFIX.sessionActivity;
  head.writeUInt32BE(generation, 1);
  writeU64BE(head, lastActiveMs, 5);
  return Buffer.concat([head, Buffer.from(clientId, 'utf8')]);
}

export function clientIdOfActivityKey(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset + 13, key.byteLength - 13).toString('utf8');
}

/**
 * An order-preserving, prefix-free form of a user key: 0x00 becomes 00 ff and
 * the key ends with 00 00. So esc(a) < esc(b) iff a < b, no esc(key) is a
 * prefix of another, and esc(p) without its end marker is a prefix of esc(k)
 * exactly when p is a prefix of k.
 */
export function escapeKey(key: Uint8Array, terminate = true): Buffer {
  let zeros = 0;
  for (const byte of key) if (byte === 0) zeros += 1;
  const out = Buffer.allocUnsafe(key.length + zeros + (terminate ? 2 : 0));
  let at = 0;
  for (const byte of key) {
    out[at++] = byte;
    if (byte === 0) out[at++] = 0xff;
  }
  if (terminate) {
    out[at++] = 0;
    out[at++] = 0;
  }
  return out;
}

/** The user key of escapeKey() output that starts at `offset` in `bytes`; returns it and where its end marker ends. */
export function unescapeKey(bytes: Buffer, offset: number): { key: Buffer; end: number } {
  const out: number[] = [];
  let at = offset;
  while (at + 1 < bytes.length) {
    const byte = bytes[at]!;
    if (byte !== 0) {
      out.push(byte);
      at += 1;
      continue;
    }
    if (bytes[at + 1] === 0) return { key: Buffer.from(out), end: at + 2 };
    out.push(0);
    at += 2;
  }
  throw new RangeError('escaped key has no end marker');
}

/** 'V' gen esc(key) rev: the key's history record at `revision`. */
export function historyValueKey(generation: number, key: Uint8Array, revision: number): Buffer {
  const escaped = escapeKey(key);
  const out = Buffer.allocUnsafe(5 + escaped.length + 8);
  out[0] = PREFIX.historyValue;
  out.writeUInt32BE(generation, 1);
  escaped.copy(out, 5);
  writeU64BE(out, revision, 5 + escaped.length);
  return out;
}

/** 'E' gen rev: the list of revision `revision`'s events. */
export function historyEventsKey(generation: number, revision: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  out[0] = PREFIX.historyEvents;
  out.writeUInt32BE(generation, 1);
  writeU64BE(out, revision, 5);
  return out;
}

/** 'G' gen id: lease `id`'s record. */
export function leaseKey(generation: number, id: number): Buffer {
  const out = Buffer.allocUnsafe(13);
  out[0] = PREFIX.lease;
  out.writeUInt32BE(generation, 1);
  writeU64BE(out, id, 5);
  return out;
}

/** 'J' gen id [key]: `key` attached to lease `id` (without a key: the prefix of all of them). */
export function leaseAttachKey(generation: number, id: number, userKey?: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(13);
  head[0] = PREFIX.leaseKey;
  head.writeUInt32BE(generation, 1);
  writeU64BE(head, id, 5);
  return userKey === undefined ? head : Buffer.concat([head, userKey]);
}
