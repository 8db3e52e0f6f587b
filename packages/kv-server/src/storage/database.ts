/**
 * The node's one LevelDB (data-dir/db) and its identity records. Opening it
 * creates the meta records on first use and afterwards refuses a data dir that
 * belongs to another cluster or node, or was written by a newer format.
 *
 * Cluster identity (docs/cluster-identity.md): the 'cluster-id' record holds
 * the cluster's name (as before cluster ids were derived, so old data dirs
 * read the same). A node that bootstrapped the cluster also stores the
 * initial voters, from which the id is derived; a node that joined stores
 * that it awaits the id, then the id the cluster told it.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { clusterMismatch, deriveClusterId, sortedVoters, type StoredClusterIdentity } from '../cluster-identity.js';
import { CorruptionError, FailedPreconditionError, NodeIdMismatchError } from '../errors.js';
import { decodeRecord, encodeRecord, sealRecord } from './codec.js';
import { metaKey } from './keys.js';
import { describeStorageError, refuseLostCurrent } from './storage-errors.js';
import { readU64BE, writeU64BE } from './u64.js';

/** Version of the on-disk layout (keys.ts + codec.ts). Bump on incompatible change. */
export const STORAGE_FORMAT_VERSION = 1;

export type Database = ClassicLevel<Buffer, Buffer>;

export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface NodeIdentity {
  /** The cluster's name (--cluster-id). */
  clusterId: string;
  nodeId: number;
  /**
   * The initial voters the flags name (this node and its --peer ids), when the
   * node may bootstrap: a new data dir records them, an existing one must have
   * been bootstrapped with the same set. Absent for embedders and tests that
   * only open storage.
   */
  initialVoters?: readonly number[];
  /** The node starts with --join: it learns the cluster id from the cluster. */
  join?: boolean;
}

// Holds the cluster's name (the whole cluster id before ids were derived).
const CLUSTER_ID_KEY = metaKey('cluster-id');
const INITIAL_VOTERS_KEY = metaKey('initial-voters');
const LEARNED_CLUSTER_ID_KEY = metaKey('learned-cluster-id');
const AWAITS_CLUSTER_ID_KEY = metaKey('awaits-cluster-id');
const NODE_ID_KEY = metaKey('node-id');
const FORMAT_KEY = metaKey('format-version');

/** An open LevelDB with verified identity; shared by RaftStorage and KvStateMachine. */
interface WriteGroup {
  ops: BatchOp[];
  sync: boolean;
  waiters: Array<{ resolve(): void; reject(error: Error): void }>;
}

export class NodeDatabase {
  private pendingWrite: WriteGroup | undefined;
  private storedCluster: StoredClusterIdentity | undefined;

  private constructor(
    readonly db: Database,
    readonly dataDir: string,
    readonly identity: NodeIdentity,
  ) {}

  static async open(dataDir: string, identity: NodeIdentity): Promise<NodeDatabase> {
    if (!Number.isSafeInteger(identity.nodeId) || identity.nodeId <= 0) {
      throw new FailedPreconditionError(`node id must be a positive integer, got ${identity.nodeId}`);
    }
    if (identity.clusterId.length === 0) throw new FailedPreconditionError('cluster id must not be empty');
    if (identity.initialVoters !== undefined && !identity.initialVoters.includes(identity.nodeId)) {
      throw new FailedPreconditionError(
        `the initial voters ${sortedVoters(identity.initialVoters).join(',')} must include this node ${identity.nodeId}`,
      );
    }
    const db: Database = new ClassicLevel<Buffer, Buffer>(path.join(dataDir, 'db'), {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
    });
    try {
      await mkdir(dataDir, { recursive: true });
      refuseLostCurrent(dataDir);
      await db.open();
    } catch (error) {
      throw describeStorageError(error, dataDir) ?? error;
    }
    const database = new NodeDatabase(db, dataDir, identity);
    try {
      await database.verifyOrCreateMeta();
    } catch (error) {
      await db.close();
      throw describeStorageError(error, dataDir) ?? error;
    }
    return database;
  }

  /** The data dir's cluster identity, as verified against the flags at open. */
  get cluster(): StoredClusterIdentity {
    if (this.storedCluster === undefined) throw new FailedPreconditionError('the node database is not open');
    return this.storedCluster;
  }

  /** Stores the cluster id a joined node learned from its cluster (durable before the next write is acknowledged). */
  async recordLearnedClusterId(clusterId: string): Promise<void> {
    if (this.storedCluster?.clusterId !== undefined) return;
    await this.write(
      [NodeDatabase.putRecord(LEARNED_CLUSTER_ID_KEY, Buffer.from(clusterId, 'utf8')), { type: 'del', key: AWAITS_CLUSTER_ID_KEY }],
      { sync: true },
    );
    if (this.storedCluster !== undefined) this.storedCluster.clusterId = clusterId;
  }

  /** Reads and verifies one framed record; undefined when absent. */
  async getRecord(key: Buffer, what: string): Promise<Buffer | undefined> {
    const stored = await this.db.get(key);
    if (stored === undefined) return undefined;
    return decodeRecord(key, stored, { dataDir: this.dataDir, what });
  }

  /** A put op framing `payload` with its checksum. */
  static putRecord(key: Buffer, payload: Uint8Array): BatchOp {
    return { type: 'put', key, value: encodeRecord(key, payload) };
  }

  /** Like putRecord, for a payload encoded after RECORD_HEADER_BYTES reserved bytes (no second copy). */
  static putSealed(key: Buffer, record: Buffer): BatchOp {
    return { type: 'put', key, value: sealRecord(key, record) };
  }

  /**
   * Writes `ops` atomically. Writes issued in the same event-loop turn (the
   * loop's log batch, the apply chain's batch) are merged, in call order, into
   * ONE LevelDB batch, synced if any of them asks: one thread-pool round trip
   * instead of several. LevelDB would queue them behind each other anyway.
   */
  write(ops: BatchOp[], options: { sync: boolean }): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    let pending = this.pendingWrite;
    if (pending === undefined) {
      pending = { ops: [], sync: false, waiters: [] };
      this.pendingWrite = pending;
      setImmediate(() => void this.flushWrites());
    }
    for (const op of ops) pending.ops.push(op);
    pending.sync ||= options.sync;
    const group = pending;
    return new Promise((resolve, reject) => group.waiters.push({ resolve, reject }));
  }

  private async flushWrites(): Promise<void> {
    const group = this.pendingWrite;
    this.pendingWrite = undefined;
    if (group === undefined) return;
    // The chained form: abstract-level's array batch clones and re-validates
    // every op (measured ~40% more main-thread time per batch, on the hot path).
    const batch = this.db.batch();
    for (const op of group.ops) {
      if (op.type === 'put') batch.put(op.key, op.value);
      else batch.del(op.key);
    }
    try {
      await batch.write({ sync: group.sync });
    } catch (error) {
      for (const waiter of group.waiters) waiter.reject(error as Error);
      return;
    }
    for (const waiter of group.waiters) waiter.resolve();
  }

  async close(): Promise<void> {
    await this.flushWrites();
    await this.db.close();
  }

  private async verifyOrCreateMeta(): Promise<void> {
    const format = await this.getRecord(FORMAT_KEY, 'format version');
    if (format === undefined) {
      await this.createMeta();
      return;
    }
    const formatVersion = readUint32(format, this.dataDir, 'format version');
    if (formatVersion > STORAGE_FORMAT_VERSION) {
      throw new FailedPreconditionError(
        `data dir ${this.dataDir} was written by a newer Cairn (format ${formatVersion}; this build reads up to ${STORAGE_FORMAT_VERSION}); upgrade this binary`,
      );
    }
    const clusterName = (await this.getRecord(CLUSTER_ID_KEY, 'cluster id'))?.toString('utf8');
    const nodeIdRecord = await this.getRecord(NODE_ID_KEY, 'node id');
    if (clusterName === undefined || nodeIdRecord === undefined) {
      throw new CorruptionError(this.dataDir, 'the cluster id or node id record is missing');
    }
    const stored = await this.readStoredCluster(clusterName);
    this.verifyCluster(stored);
    const nodeId = readUint64(nodeIdRecord, this.dataDir, 'node id');
    if (nodeId !== this.identity.nodeId) {
      throw new NodeIdMismatchError(this.identity.nodeId, nodeId, this.dataDir);
    }
    this.storedCluster = stored;
  }

  private async readStoredCluster(name: string): Promise<StoredClusterIdentity> {
    const votersRecord = await this.getRecord(INITIAL_VOTERS_KEY, 'initial voters');
    if (votersRecord !== undefined) {
      if (votersRecord.length === 0 || votersRecord.length % 8 !== 0)
        throw new CorruptionError(this.dataDir, `initial voters record has ${votersRecord.length} bytes`);
      const initialVoters = Array.from({ length: votersRecord.length / 8 }, (_, i) => readU64BE(votersRecord, i * 8));
      return { name, initialVoters, clusterId: deriveClusterId(name, initialVoters) };
    }
    const learned = (await this.getRecord(LEARNED_CLUSTER_ID_KEY, 'learned cluster id'))?.toString('utf8');
    if (learned !== undefined) return { name, initialVoters: undefined, clusterId: learned };
    const awaits = await this.getRecord(AWAITS_CLUSTER_ID_KEY, 'awaited cluster id');
    // Neither: written before cluster ids were derived; the bare name stays the id.
    return { name, initialVoters: undefined, clusterId: awaits !== undefined ? undefined : name };
  }

  /**
   * The flags must name the data dir's cluster. (Their members are checked
   * against the data dir's once the membership is loaded: checkFlagsMembers.)
   */
  private verifyCluster(stored: StoredClusterIdentity): void {
    if (stored.name === this.identity.clusterId) return;
    throw clusterMismatch(this.dataDir, stored, this.identity.clusterId, this.identity.initialVoters);
  }

  private async createMeta(): Promise<void> {
    // A database without meta must be empty: anything else is a half-written or foreign dir.
    for await (const _key of this.db.keys({ limit: 1 })) {
      throw new CorruptionError(this.dataDir, 'the database has data but no format version record');
    }
    const nodeId = Buffer.allocUnsafe(8);
    writeU64BE(nodeId, this.identity.nodeId, 0);
    const format = Buffer.allocUnsafe(4);
    format.writeUInt32BE(STORAGE_FORMAT_VERSION);
    const name = this.identity.clusterId;
    const ops = [NodeDatabase.putRecord(CLUSTER_ID_KEY, Buffer.from(name, 'utf8')), NodeDatabase.putRecord(NODE_ID_KEY, nodeId)];
    let stored: StoredClusterIdentity = { name, initialVoters: undefined, clusterId: name };
    if (this.identity.join === true) {
      ops.push(NodeDatabase.putRecord(AWAITS_CLUSTER_ID_KEY, Buffer.alloc(0)));
      stored = { name, initialVoters: undefined, clusterId: undefined };
    } else if (this.identity.initialVoters !== undefined) {
      const initialVoters = sortedVoters(this.identity.initialVoters);
      const voters = Buffer.allocUnsafe(initialVoters.length * 8);
      initialVoters.forEach((id, i) => writeU64BE(voters, id, i * 8));
      ops.push(NodeDatabase.putRecord(INITIAL_VOTERS_KEY, voters));
      stored = { name, initialVoters, clusterId: deriveClusterId(name, initialVoters) };
    }
    // The format record goes last in key order but in the same atomic batch.
    ops.push(NodeDatabase.putRecord(FORMAT_KEY, format));
    await this.write(ops, { sync: true });
    this.storedCluster = stored;
  }
}

function readUint32(payload: Buffer, dataDir: string, what: string): number {
  if (payload.length !== 4) throw new CorruptionError(dataDir, `${what} record has ${payload.length} bytes, expected 4`);
  return payload.readUInt32BE(0);
}

function readUint64(payload: Buffer, dataDir: string, what: string): number {
  if (payload.length !== 8) throw new CorruptionError(dataDir, `${what} record has ${payload.length} bytes, expected 8`);
  return readU64BE(payload, 0);
}
