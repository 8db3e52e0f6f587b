/**
 * A store from before history existed (an old data dir, or a snapshot
 * without history frames) has keys but no history records, so a read at a
 * revision would find nothing. Seeding gives each live key a history record
 * at its modRevision (its current value) and moves the compacted revision to
 * the current one: reads at the current revision and later answer as before,
 * reads below it get COMPACTED, as they must (that history is unknown).
 *
 * Live keys always have a history record once history exists (compaction
 * keeps each key's newest record), so "keys but no history record at all" is
 * exactly the store to seed; seeding twice is harmless.
 */
import { type BatchOp, NodeDatabase } from '../storage/database.js';
import { APPLIED_KEY, generationPrefix, historyValueKey, PREFIX, prefixEnd } from '../storage/keys.js';
import { encodeHistoryPut } from './history.js';
import { type AppliedState, decodeValueRecord, encodeAppliedState } from './records.js';

const SEED_BATCH = 1000;

/** Seeds the history of `state`'s generation if it has none; returns the state to use (written, synced). */
export async function seedHistory(database: NodeDatabase, state: AppliedState): Promise<AppliedState> {
  if (state.keyCount === 0) return state;
  const history = generationPrefix(PREFIX.historyValue, state.generation);
  for await (const _ of database.db.keys({ gte: history, lt: prefixEnd(history), limit: 1 })) return state;
  const base = generationPrefix(PREFIX.kv, state.generation);
  let ops: BatchOp[] = [];
  for await (const [storedKey, record] of database.db.iterator({ gte: base, lt: prefixEnd(base) })) {
    const stored = decodeValueRecord(storedKey, record, database.dataDir);
    const key = historyValueKey(state.generation, storedKey.subarray(base.length), stored.modRevision);
    ops.push(NodeDatabase.putSealed(key, encodeHistoryPut(stored)));
    if (ops.length >= SEED_BATCH) {
      await database.write(ops, { sync: false });
      ops = [];
    }
  }
  const seeded = { ...state, compactRevision: Math.max(state.compactRevision, state.revision) };
  ops.push(NodeDatabase.putRecord(APPLIED_KEY, encodeAppliedState(seeded)));
  await database.write(ops, { sync: true });
  return seeded;
}
