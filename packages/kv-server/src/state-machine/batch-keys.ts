/**
 * Loads the keys a batch's commands touch into the batch (PendingBatch.values,
 * null = absent) before they apply: from the value cache, else with ONE
 * getMany from LevelDB. So applying stays synchronous on the hot path (an
 * awaited get per command per node was a visible share of the garbage per
 * write); commands that read more keys (txn, lease revoke) load them through
 * ApplyContext.load, which lands here too.
 */
import type { Command } from '@cairn/proto';
import type { NodeDatabase } from '../storage/database.js';
import { kvKey } from '../storage/keys.js';
import { commandKey, mapKey, type PendingBatch } from './pending-batch.js';
import { txnKeys } from './txn.js';
import { decodeValueRecord } from './records.js';
import type { ValueCache } from './value-cache.js';

/** Puts each key not yet in `batch` into it. */
export async function loadIntoBatch(
  database: NodeDatabase,
  generation: number,
  cache: ValueCache,
  keys: Iterable<Buffer>,
  batch: PendingBatch,
): Promise<void> {
  const missing = new Map<string, Buffer>();
  for (const key of keys) {
    const mapped = mapKey(key);
    if (batch.values.has(mapped) || missing.has(mapped)) continue;
    const cached = cache.get(mapped);
    if (cached !== undefined) batch.values.set(mapped, cached);
    else missing.set(mapped, key);
  }
  if (missing.size === 0) return;
  const storedKeys = [...missing.values()].map((key) => kvKey(generation, key));
  const records = await database.db.getMany(storedKeys);
  let i = 0;
  for (const mapped of missing.keys()) {
    const record = records[i];
    // Never overwrite a write made while this read was out (cannot happen within one command).
    if (!batch.values.has(mapped))
      batch.values.set(mapped, record === undefined ? null : decodeValueRecord(storedKeys[i]!, record, database.dataDir));
    i += 1;
  }
}

/** The key each decoded command reads and writes (a bad entry is reported when applied). */
export function* commandKeys(commands: ReadonlyArray<Command | Error | undefined>): Generator<Buffer> {
  for (const command of commands) {
    if (command === undefined || command instanceof Error) continue;
    // A batch of txns is read with one getMany too, not one awaited read per txn.
    if (command.txn !== undefined) yield* txnKeys(command.txn);
    else if (command.delete?.prefix === true) continue; // a prefix is scanned, not read as a key
    const key = commandKey(command);
    if (key !== undefined) yield key;
  }
}
