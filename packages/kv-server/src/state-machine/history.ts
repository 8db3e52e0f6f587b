/**
 * The retained history of the store (MVCC): what every revision changed, kept
 * in LevelDB under the state machine's generation (layout in storage/keys.ts):
 *
 *   'V' gen esc(key) rev -> u8 kind | payload: kind 1 = the StoredValue the key
 *                           got at `rev`; kind 2 = deleted at `rev`, payload
 *                           u64be modIndex (the deleting entry's log index)
 *   'E' gen rev          -> the revision's events in order: u8 type | u32be
 *                           keyLength | key, repeated
 *
 * Both are written in the command's own batch (historyOps, from finishCommand),
 * so history and state can never disagree after a crash. Reads here see what
 * is in LevelDB: the state machine waits for an answered batch's write first.
 *
 * A read never answers from below the compacted revision: each read checks
 * the compacted revision before AND after it reads, because compaction
 * deletes old records in the background (history-compaction.ts) and a read
 * that raced with it may have missed a record it needed.
 */
import { type Event, EventType, type KeyValue } from '@cairn/proto';
import { CompactedError, FutureRevisionError } from '../errors.js';
import { RANGE_LIMIT_DEFAULT, RANGE_LIMIT_MAX } from '../limits.js';
import { RECORD_HEADER_BYTES, decodeRecord } from '../storage/codec.js';
import { type BatchOp, NodeDatabase } from '../storage/database.js';
import { escapeKey, generationPrefix, historyEventsKey, historyValueKey, PREFIX, prefixEnd, unescapeKey } from '../storage/keys.js';
import { readU64BE, writeU64BE } from '../storage/u64.js';
import type { RevisionEvents } from './pending-batch.js';
import type { KeyMatch } from './pending-batch.js';
import { decodeStoredValue, encodeStoredValue, type StoredValue } from './records.js';

const KIND_PUT = 1;
const KIND_DELETE = 2;

/** One history record: the key's value at a revision, or its deletion. */
export interface HistoryRecord {
  readonly key: Buffer;
  readonly revision: number;
  /** undefined = the key was deleted at `revision`. */
  readonly value: StoredValue | undefined;
  /** The log index of the deleting entry (deletions only). */
  readonly deleteIndex: number;
}

/** The batch ops recording one revision's events (puts carry the new value, deletes a tombstone). */
export function historyOps(generation: number, revision: RevisionEvents): BatchOp[] {
  const ops: BatchOp[] = [];
  let eventsBytes = 0;
  for (const event of revision.events) eventsBytes += 5 + event.kv!.key.length;
  const events = Buffer.allocUnsafe(RECORD_HEADER_BYTES + eventsBytes);
  let at = RECORD_HEADER_BYTES;
  for (const event of revision.events) {
    const kv = event.kv!;
    events[at] = event.type === EventType.DELETE ? KIND_DELETE : KIND_PUT;
    events.writeUInt32BE(kv.key.length, at + 1);
    events.set(kv.key, at + 5);
    at += 5 + kv.key.length;
    const key = historyValueKey(generation, kv.key, revision.revision);
    ops.push(NodeDatabase.putSealed(key, encodeHistoryValue(event)));
  }
  ops.push(NodeDatabase.putSealed(historyEventsKey(generation, revision.revision), events));
  return ops;
}

function encodeHistoryValue(event: Event): Buffer {
  const kv = event.kv!;
  if (event.type === EventType.DELETE) {
    const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 9);
    record[RECORD_HEADER_BYTES] = KIND_DELETE;
    writeU64BE(record, kv.modIndex, RECORD_HEADER_BYTES + 1);
    return record;
  }
  return encodeHistoryPut(storedOf(kv));
}

/** A 'V' record (unsealed, RECORD_HEADER_BYTES reserved) saying the key got `stored`. */
export function encodeHistoryPut(stored: StoredValue): Buffer {
  const record = encodeStoredValue(stored, RECORD_HEADER_BYTES + 1);
  record[RECORD_HEADER_BYTES] = KIND_PUT;
  return record;
}

function storedOf(kv: KeyValue): StoredValue {
  const { value, version, createIndex, modIndex, createRevision, modRevision, lease } = kv;
  return { value, version, createIndex, modIndex, createRevision, modRevision, lease };
}

/** Decodes a 'V' record (stored key and framed record as LevelDB holds them). */
export function decodeHistoryValue(database: NodeDatabase, storedKey: Buffer, record: Buffer): HistoryRecord {
  const what = (): string => `history record ${storedKey.toString('hex')}`;
  const payload = decodeRecord(storedKey, record, { dataDir: database.dataDir, what });
  const { key } = unescapeKey(storedKey, 5);
  const revision = readU64BE(storedKey, storedKey.length - 8);
  if (payload[0] === KIND_DELETE && payload.length === 9) return { key, revision, value: undefined, deleteIndex: readU64BE(payload, 1) };
  if (payload[0] !== KIND_PUT) throw new RangeError(`${what()} has unknown kind ${payload[0]}`);
  return { key, revision, value: decodeStoredValue(payload.subarray(1), database.dataDir, what), deleteIndex: 0 };
}

/** Whether a 'V' record is a deletion, without decoding its value. */
export function isDeletionRecord(record: Buffer): boolean {
  return record.length === RECORD_HEADER_BYTES + 9 && record[RECORD_HEADER_BYTES] === KIND_DELETE;
}

/** The revision at the end of a 'V' stored key. */
export function revisionOfHistoryKey(storedKey: Buffer): number {
  return readU64BE(storedKey, storedKey.length - 8);
}

export function decodeEventList(payload: Buffer): Array<{ type: EventType; key: Buffer }> {
  const out: Array<{ type: EventType; key: Buffer }> = [];
  let at = 0;
  while (at + 5 <= payload.length) {
    const kind = payload[at]!;
    const length = payload.readUInt32BE(at + 1);
    const key = Buffer.from(payload.subarray(at + 5, at + 5 + length));
    out.push({ type: kind === KIND_DELETE ? EventType.DELETE : EventType.PUT, key });
    at += 5 + length;
  }
  return out;
}

export function matches(match: KeyMatch, key: Buffer): boolean {
  if (match.prefix) return key.length >= match.key.length && key.subarray(0, match.key.length).equals(match.key);
  return key.equals(match.key);
}

/** What a history read needs from the state machine. */
export interface HistoryView {
  readonly database: NodeDatabase;
  generation(): number;
  revision(): number;
  compactRevision(): number;
}

/** Throws unless `revision` is readable: COMPACTED below the compacted revision, FUTURE_REVISION above the current one. */
export function checkReadable(view: HistoryView, revision: number): void {
  if (revision > view.revision()) throw new FutureRevisionError(revision, view.revision());
  if (revision < view.compactRevision()) throw new CompactedError(revision, view.compactRevision());
}

/**
 * The revisions in [from, min(to, current)] with events matching `match`,
 * each event with kv and prevKv (see HistoryReader in ports.ts).
 */
export async function eventsBetween(
  view: HistoryView,
  from: number,
  to: number,
  match: KeyMatch,
  maxEvents: number,
): Promise<RevisionEvents[]> {
  if (from < view.compactRevision()) throw new CompactedError(from, view.compactRevision());
  const generation = view.generation();
  const last = Math.min(to, view.revision());
  const out: RevisionEvents[] = [];
  if (from > last) return out;
  let count = 0;
  const db = view.database.db;
  const iterator = db.iterator({ gte: historyEventsKey(generation, Math.max(from, 0)), lte: historyEventsKey(generation, last) });
  try {
    for await (const [storedKey, record] of iterator) {
      const revision = readU64BE(storedKey, 5);
      const what = (): string => `history events of revision ${revision}`;
      const list = decodeEventList(decodeRecord(storedKey, record, { dataDir: view.database.dataDir, what }));
      const events: Event[] = [];
      for (const { type, key } of list) {
        if (!matches(match, key)) continue;
        events.push(await eventAt(view.database, generation, type, key, revision));
      }
      if (events.length === 0) continue;
      out.push({ revision, events });
      count += events.length;
      if (count >= maxEvents) break;
    }
  } finally {
    await iterator.close();
  }
  // Compaction may have removed a record this read needed while it ran.
  if (from < view.compactRevision()) throw new CompactedError(from, view.compactRevision());
  return out;
}

/** The event `key` had at `revision`, with its prevKv, from the key's two newest records up to it. */
async function eventAt(database: NodeDatabase, generation: number, type: EventType, key: Buffer, revision: number): Promise<Event> {
  const records: HistoryRecord[] = [];
  for await (const [storedKey, record] of database.db.iterator({
    gte: historyValueKey(generation, key, 0),
    lte: historyValueKey(generation, key, revision),
    reverse: true,
    limit: 2,
  })) {
    records.push(decodeHistoryValue(database, storedKey, record));
  }
  const current = records[0];
  const previous = records[1]?.value;
  const prevKv: KeyValue | undefined = previous === undefined ? undefined : { key, ...previous };
  if (type === EventType.PUT && current?.revision === revision && current.value !== undefined) {
    return { type, kv: { key, ...current.value }, prevKv };
  }
  const deleteIndex = current?.revision === revision ? current.deleteIndex : 0;
  return { type: EventType.DELETE, kv: tombstone(key, revision, deleteIndex), prevKv };
}

export function tombstone(key: Buffer, revision: number, modIndex: number): KeyValue {
  return { key, value: Buffer.alloc(0), version: 0, createIndex: 0, modIndex, createRevision: 0, modRevision: revision, lease: 0 };
}

/** The key's value as of `revision` (undefined = absent then). */
export async function getAt(view: HistoryView, key: Buffer, revision: number): Promise<KeyValue | undefined> {
  checkReadable(view, revision);
  const generation = view.generation();
  let found: HistoryRecord | undefined;
  for await (const [storedKey, record] of view.database.db.iterator({
    gte: historyValueKey(generation, key, 0),
    lte: historyValueKey(generation, key, revision),
    reverse: true,
    limit: 1,
  })) {
    found = decodeHistoryValue(view.database, storedKey, record);
  }
  if (revision < view.compactRevision()) throw new CompactedError(revision, view.compactRevision());
  return found?.value === undefined ? undefined : { key: Buffer.from(key), ...found.value };
}

export interface RangeAtQuery {
  readonly prefix: Buffer;
  readonly startAfter: Buffer | undefined;
  readonly limit: number;
  readonly keysOnly: boolean;
  readonly revision: number;
}

/**
 * Keys starting with `prefix` as of `revision`, in byte order, after
 * `startAfter`, at most `limit`: per key, its newest record at or below the
 * revision, unless that is a deletion. Walks every retained record of the
 * matching keys (history is bounded).
 */
export async function rangeAt(view: HistoryView, query: RangeAtQuery): Promise<{ kvs: KeyValue[]; more: boolean }> {
  checkReadable(view, query.revision);
  const generation = view.generation();
  const count = Math.min(query.limit === 0 ? RANGE_LIMIT_DEFAULT : query.limit, RANGE_LIMIT_MAX);
  const base = generationPrefix(PREFIX.historyValue, generation);
  const lower = Buffer.concat([base, escapeKey(query.prefix, false)]);
  const upper = query.prefix.length === 0 ? prefixEnd(base) : prefixEnd(lower);
  const start =
    query.startAfter !== undefined && query.startAfter.length > 0 ? prefixEnd(Buffer.concat([base, escapeKey(query.startAfter)])) : lower;
  const kvs: KeyValue[] = [];
  let more = false;
  // Per key: the newest record at or below the revision seen so far.
  let keyPart: Buffer | undefined;
  let best: { storedKey: Buffer; record: Buffer } | undefined;
  const flush = (): boolean => {
    if (best !== undefined && !isDeletionRecord(best.record)) {
      if (kvs.length === count) {
        more = true;
        return false;
      }
      const decoded = decodeHistoryValue(view.database, best.storedKey, best.record);
      const value = decoded.value!;
      kvs.push({ key: decoded.key, ...value, value: query.keysOnly ? Buffer.alloc(0) : value.value });
    }
    best = undefined;
    return true;
  };
  const iterator = view.database.db.iterator({ gte: Buffer.compare(start, lower) > 0 ? start : lower, lt: upper });
  try {
    for await (const [storedKey, record] of iterator) {
      const part = storedKey.subarray(0, storedKey.length - 8);
      if (keyPart === undefined || !part.equals(keyPart)) {
        if (!flush()) break;
        keyPart = Buffer.from(part);
      }
      if (revisionOfHistoryKey(storedKey) <= query.revision) best = { storedKey, record };
    }
    if (!more) flush();
  } finally {
    await iterator.close();
  }
  if (query.revision < view.compactRevision()) throw new CompactedError(query.revision, view.compactRevision());
  return { kvs, more };
}

/** LevelDB's estimate of the bytes the history of `generation` takes on disk (recent writes still in memory count little). */
export async function approximateHistoryBytes(database: NodeDatabase, generation: number): Promise<number> {
  const values = generationPrefix(PREFIX.historyValue, generation);
  const events = generationPrefix(PREFIX.historyEvents, generation);
  const [a, b] = await Promise.all([
    database.db.approximateSize(values, prefixEnd(values)),
    database.db.approximateSize(events, prefixEnd(events)),
  ]);
  return a + b;
}
