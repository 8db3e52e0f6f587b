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
import { decodeValueRecord } from './records.js';

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
