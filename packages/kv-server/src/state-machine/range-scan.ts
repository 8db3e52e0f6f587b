/**
 * A range read straight from LevelDB: keys of the current generation starting
 * with a prefix, in byte order, after `startAfter` (exclusive, for paging),
 * at most `limit` (0 = RANGE_LIMIT_DEFAULT, never over RANGE_LIMIT_MAX), and
 * one more looked at to tell whether there are more.
 */
import { assert, type KeyValue } from '@cairn/proto';
import { RANGE_LIMIT_DEFAULT, RANGE_LIMIT_MAX } from '../limits.js';
import type { NodeDatabase } from '../storage/database.js';
import { generationPrefix, kvKey, PREFIX, prefixEnd } from '../storage/keys.js';
import { decodeValueRecord, type StoredValue } from './records.js';

export interface RangeQuery {
  readonly prefix: Buffer;
  readonly startAfter: Buffer | undefined;
  readonly limit: number;
  readonly keysOnly: boolean;
}

export async function scanRange(
  database: NodeDatabase,
  generation: number,
  query: RangeQuery,
): Promise<{ kvs: KeyValue[]; more: boolean }> {
  const startAfter = query.startAfter ?? Buffer.alloc(0);
  const count = Math.min(query.limit === 0 ? RANGE_LIMIT_DEFAULT : query.limit, RANGE_LIMIT_MAX);
  assert(count > 0);
  const base = generationPrefix(PREFIX.kv, generation);
  const lowerPrefix = kvKey(generation, query.prefix);
  const upper = query.prefix.length === 0 ? prefixEnd(base) : prefixEnd(lowerPrefix);
  const afterKey = kvKey(generation, startAfter);
  const bounds =
    startAfter.length > 0 && Buffer.compare(afterKey, lowerPrefix) >= 0 ? { gt: afterKey, lt: upper } : { gte: lowerPrefix, lt: upper };
  const kvs: KeyValue[] = [];
  let more = false;
  for await (const [storedKey, record] of database.db.iterator({ ...bounds, limit: count + 1 })) {
    if (kvs.length === count) {
      more = true;
      break;
    }
    const key = storedKey.subarray(base.length);
    const stored = decodeValueRecord(storedKey, record, database.dataDir);
    kvs.push({ key: Buffer.from(key), ...stored, value: query.keysOnly ? Buffer.alloc(0) : stored.value });
  }
  return { kvs, more };
}

/**
 * A range read during apply: LevelDB (every earlier batch) merged with the
 * batch being applied (`pending`, by mapKey; null = deleted), so a txn's
 * range and a prefix delete see every command before them, whatever the
 * batch boundaries (which differ between nodes). `limit` Infinity = all.
 */
export async function scanRangeForApply(
  database: NodeDatabase,
  generation: number,
  pending: ReadonlyMap<string, StoredValue | null>,
  query: RangeQuery,
): Promise<{ kvs: KeyValue[]; more: boolean }> {
  const startAfter = query.startAfter ?? Buffer.alloc(0);
  const inRange = (key: Buffer): boolean =>
    key.length >= query.prefix.length && key.subarray(0, query.prefix.length).equals(query.prefix) && Buffer.compare(key, startAfter) > 0;
  const overrides: Array<{ key: Buffer; stored: StoredValue | null }> = [];
  for (const [mapped, stored] of pending) {
    const key = Buffer.from(mapped, 'latin1');
    if (inRange(key)) overrides.push({ key, stored });
  }
  overrides.sort((a, b) => Buffer.compare(a.key, b.key));
  const base = generationPrefix(PREFIX.kv, generation);
  const lowerPrefix = kvKey(generation, query.prefix);
  const upper = query.prefix.length === 0 ? prefixEnd(base) : prefixEnd(lowerPrefix);
  const afterKey = kvKey(generation, startAfter);
  const bounds =
    startAfter.length > 0 && Buffer.compare(afterKey, lowerPrefix) >= 0 ? { gt: afterKey, lt: upper } : { gte: lowerPrefix, lt: upper };
  const kvs: KeyValue[] = [];
  let more = false;
  let next = 0;
  // Returns false once the limit is reached and one more key exists.
  const emit = (key: Buffer, stored: StoredValue | null): boolean => {
    if (stored === null) return true;
    if (kvs.length === query.limit) {
      more = true;
      return false;
    }
    kvs.push({ key: Buffer.from(key), ...stored, value: query.keysOnly ? Buffer.alloc(0) : stored.value });
    return true;
  };
  const iterator = database.db.iterator(bounds);
  try {
    for await (const [storedKey, record] of iterator) {
      const key = storedKey.subarray(base.length);
      let open = true;
      while (open && next < overrides.length && Buffer.compare(overrides[next]!.key, key) < 0) {
        open = emit(overrides[next]!.key, overrides[next]!.stored);
        next += 1;
      }
      if (!open) break;
      if (next < overrides.length && overrides[next]!.key.equals(key)) {
        open = emit(key, overrides[next]!.stored);
        next += 1;
      } else open = emit(key, decodeValueRecord(storedKey, record, database.dataDir));
      if (!open) break;
    }
    while (!more && next < overrides.length) {
      emit(overrides[next]!.key, overrides[next]!.stored);
      next += 1;
    }
  } finally {
    await iterator.close();
  }
  return { kvs, more };
}
