/**
 * The replicated lease table: which leases exist, each one's granted TTL and
 * how many keys are attached to it. LevelDB holds the truth under the state
 * machine's generation ('G' lease records, 'J' one record per attached key,
 * see storage/keys.ts), written in the same batch as the change that made
 * them; memory holds the table (id -> TTL, key count), rebuilt at open and
 * after a restore. Nothing here counts time: expiry is the leader's business
 * (loop/lease-keeper.ts), replicated as a revoke.
 */
import { CorruptionError } from '../errors.js';
import { decodeRecord } from '../storage/codec.js';
import { NodeDatabase } from '../storage/database.js';
import { generationPrefix, leaseAttachKey, leaseKey, PREFIX, prefixEnd } from '../storage/keys.js';
import { readU64BE, writeU64BE } from '../storage/u64.js';
import { mapKey, type PendingBatch } from './pending-batch.js';

export interface LeaseInfo {
  readonly id: number;
  /** Granted time to live, in seconds. */
  readonly ttl: number;
  /** Keys attached now. */
  keyCount: number;
}

/** Keys attached in the batch being applied (not in LevelDB yet), per lease: a revoke later in the same batch must see them. */
const attachedInBatch = new WeakMap<PendingBatch, Map<number, Map<string, Buffer>>>();

export class LeaseTable {
  private readonly leases = new Map<number, LeaseInfo>();
  private changes = 0;

  private constructor(
    private readonly database: NodeDatabase,
    private generation: number,
  ) {}

  /** The table of `generation` as LevelDB holds it. */
  static async load(database: NodeDatabase, generation: number): Promise<LeaseTable> {
    const table = new LeaseTable(database, generation);
    await table.reload(generation);
    return table;
  }

  /** Replaces the table with `generation`'s (after a snapshot restore). */
  async reload(generation: number): Promise<void> {
    this.generation = generation;
    this.leases.clear();
    const dataDir = this.database.dataDir;
    const base = generationPrefix(PREFIX.lease, generation);
    for await (const [key, record] of this.database.db.iterator({ gte: base, lt: prefixEnd(base) })) {
      const id = readU64BE(key, base.length);
      const payload = decodeRecord(key, record, { dataDir, what: () => `lease ${id}` });
      if (payload.length !== 8) throw new CorruptionError(dataDir, `lease ${id} record has ${payload.length} bytes`);
      this.leases.set(id, { id, ttl: readU64BE(payload, 0), keyCount: 0 });
    }
    const attached = generationPrefix(PREFIX.leaseKey, generation);
    for await (const key of this.database.db.keys({ gte: attached, lt: prefixEnd(attached) })) {
      const lease = this.leases.get(readU64BE(key, attached.length));
      if (lease !== undefined) lease.keyCount += 1;
    }
    this.changed();
  }

  get size(): number {
    return this.leases.size;
  }

  get(id: number): LeaseInfo | undefined {
    return this.leases.get(id);
  }

  has(id: number): boolean {
    return this.leases.has(id);
  }

  list(): IterableIterator<LeaseInfo> {
    return this.leases.values();
  }

  /** Grows on every grant, revoke and reload: the leader's keeper re-reads the table only when it moved. */
  get version(): number {
    return this.changes;
  }

  /**
   * The keys attached to `id` as of the last written batch (a scan of its
   * 'J' records; reads between batches see everything applied).
   */
  async keys(id: number): Promise<Buffer[]> {
    const base = leaseAttachKey(this.generation, id);
    const keys: Buffer[] = [];
    for await (const key of this.database.db.keys({ gte: base, lt: prefixEnd(base) })) keys.push(Buffer.from(key.subarray(base.length)));
    return keys;
  }

  /** As keys(), plus those attached earlier in `batch` (for a revoke during apply). */
  async keysForApply(id: number, batch: PendingBatch): Promise<Buffer[]> {
    const stored = await this.keys(id);
    const pending = attachedInBatch.get(batch)?.get(id);
    if (pending === undefined) return stored;
    const seen = new Set(stored.map(mapKey));
    for (const [mapped, key] of pending) if (!seen.has(mapped)) stored.push(key);
    return stored;
  }

  // ---- changes, during apply (into `batch`) ----

  grant(batch: PendingBatch, id: number, ttl: number): void {
    const payload = Buffer.allocUnsafe(8);
    writeU64BE(payload, ttl, 0);
    batch.ops.push(NodeDatabase.putRecord(leaseKey(this.generation, id), payload));
    this.leases.set(id, { id, ttl, keyCount: 0 });
    this.changed();
  }

  /** Removes the lease record (its keys were detached by their deletion). */
  revoke(batch: PendingBatch, id: number): void {
    batch.ops.push({ type: 'del', key: leaseKey(this.generation, id) });
    this.leases.delete(id);
    attachedInBatch.get(batch)?.delete(id);
    this.changed();
  }

  /** `key` moves from lease `from` to lease `to` (0 = none); a put or delete calls this when they differ. */
  move(batch: PendingBatch, key: Buffer, from: number, to: number): void {
    if (from === to) return;
    if (from !== 0) {
      batch.ops.push({ type: 'del', key: leaseAttachKey(this.generation, from, key) });
      const lease = this.leases.get(from);
      if (lease !== undefined) lease.keyCount -= 1;
      attachedInBatch.get(batch)?.get(from)?.delete(mapKey(key));
    }
    if (to !== 0) {
      batch.ops.push(NodeDatabase.putRecord(leaseAttachKey(this.generation, to, key), Buffer.alloc(0)));
      const lease = this.leases.get(to);
      if (lease !== undefined) lease.keyCount += 1;
      let byLease = attachedInBatch.get(batch);
      if (byLease === undefined) attachedInBatch.set(batch, (byLease = new Map()));
      let keys = byLease.get(to);
      if (keys === undefined) byLease.set(to, (keys = new Map()));
      keys.set(mapKey(key), Buffer.from(key));
    }
  }

  private changed(): void {
    this.changes += 1;
  }
}
