/**
 * The node's durable raft storage: raft-core's `Storage` (synchronous reads)
 * and the node's write side, composed of three stores over the node's one
 * LevelDB, as hashicorp/raft splits them:
 *
 * - log-store.ts: the entries after the last snapshot (LogStore);
 * - hard-state-store.ts: hard state, conf state, member addresses (StableStore);
 * - snapshot-store.ts: the snapshot the log is compacted behind (SnapshotStore).
 *
 * Each store stages its part of a write; this class puts the parts of one
 * Ready into ONE LevelDB batch (group commit) and moves the stores' mirrors
 * once it has landed. Writes are serialised (one at a time); the node loop
 * issues one `write()` per Ready.
 *
 * Reads outside the log throw raft-core's StorageCompactedError /
 * StorageUnavailableError, which raft-core handles (e.g. by sending a snapshot).
 */
import { assert, type ConfState, type Entry, type HardState, type Member, type Snapshot, type SnapshotMetadata } from '@cairn/proto';
import { SnapshotTemporarilyUnavailableError, type InitialState } from '@cairn/raft-core';
import type { NodeStorage } from './ports.js';
import { CorruptionError } from '../errors.js';
import { copyConfState, emptyConfState } from './conf-state.js';
import { NodeDatabase, type NodeIdentity } from './database.js';
import { HardStateStore } from './hard-state-store.js';
import { LogStore } from './log-store.js';
import { type PreparedSnapshot, SnapshotStore } from './snapshot-store.js';
import { combineStaged, type StagedWrite } from './staged-write.js';

/** Everything one Ready asks to persist. */
export interface StorageWrite {
  entries?: readonly Entry[] | undefined;
  hardState?: HardState | undefined;
  /** A snapshot received from the leader (already restored into the state machine). */
  snapshot?: Snapshot | undefined;
}

const RESOLVED: Promise<void> = Promise.resolve();

export class RaftStorage implements NodeStorage {
  /** Called when raft asks for a snapshot that has no servable file: the node builds one. */
  onSnapshotWanted: () => void = () => {};
  private writing = false;

  private constructor(
    readonly database: NodeDatabase,
    private readonly log: LogStore,
    private readonly stable: HardStateStore,
    private readonly snapshots: SnapshotStore,
  ) {}

  /**
   * Opens (or creates) data-dir/db, verifies its identity, then loads and
   * verifies every record. Throws ClusterMismatchError, NodeIdMismatchError,
   * FailedPreconditionError (newer format) or CorruptionError: it never starts
   * on damaged data.
   */
  static async open(dataDir: string, identity: NodeIdentity): Promise<RaftStorage> {
    const database = await NodeDatabase.open(dataDir, identity);
    try {
      const stable = await HardStateStore.load(database);
      const snapshots = await SnapshotStore.load(database);
      const log = await LogStore.load(database, snapshots.base());
      if (stable.commitIndex() > log.lastIndex()) {
        throw new CorruptionError(dataDir, `the hard state commits index ${stable.commitIndex()} but the log ends at ${log.lastIndex()}`);
      }
      await snapshots.removeOtherFiles();
      return new RaftStorage(database, log, stable, snapshots);
    } catch (error) {
      await database.close();
      throw error;
    }
  }

  get dataDir(): string {
    return this.database.dataDir;
  }

  // ---- LogReader / StateReader (synchronous, from the mirrors) ----

  firstIndex(): number {
    return this.log.firstIndex();
  }

  lastIndex(): number {
    return this.log.lastIndex();
  }

  term(index: number): number {
    return this.log.term(index);
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    return this.log.entries(lo, hi, bytesMax);
  }

  snapshot(): Snapshot {
    // Read (and verified) on demand: raft-core asks only to send one to a lagging follower.
    if (!this.snapshots.servable(this.stable.confStateView())) {
      // raft-core retries on a later heartbeat; by then the node may have built the file.
      this.onSnapshotWanted();
      throw new SnapshotTemporarilyUnavailableError();
    }
    return this.snapshots.read();
  }

  initialState(): InitialState {
    return { hardState: this.stable.current(), confState: this.stable.confState() };
  }

  // ---- other reads ----

  /** The membership in force (last saved conf change or snapshot). */
  confState(): ConfState {
    return this.stable.confState();
  }

  /** Member addresses, sorted by id. */
  members(): Member[] {
    return this.stable.members();
  }

  snapshotIndex(): number {
    return this.snapshots.index();
  }

  /**
   * The snapshot the log is compacted behind: index, term, whether its file
   * exists yet, and whether that file can be sent (it lists every current member).
   */
  snapshotInfo(): { index: number; term: number; hasFile: boolean; servable: boolean } {
    return this.snapshots.info(this.stable.confStateView());
  }

  snapshotSizeBytes(): number {
    return this.snapshots.sizeBytes();
  }

  /** Memory held by the log entries after the snapshot (their data plus per-entry overhead). */
  logBytes(): number {
    return this.log.logBytes();
  }

  // ---- writes ----

  /**
   * Persists one Ready in ONE LevelDB batch: installs `snapshot` (data to a
   * file first; its metadata replaces the whole log), truncates any suffix
   * that conflicts with `entries` and appends them, and saves `hardState`.
   * `sync` is the Ready's mustSync: fsync before resolving.
   */
  write(change: StorageWrite, options: { sync: boolean }): Promise<void> {
    // Not async: this runs once or twice per write on every node, and the
    // common cases need no await of their own (an async frame per call was a
    // visible share of the garbage per write). Errors still arrive as rejections.
    try {
      if (change.snapshot !== undefined) return this.writeWithSnapshot(change, options);
      return this.writeLog(change, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The common write: entries and/or hard state. */
  private writeLog(change: StorageWrite, options: { sync: boolean }): Promise<void> {
    const entryCount = change.entries?.length ?? 0;
    // A Ready that only moves the commit index (mustSync false) stays in memory (see keepCommitOnly).
    if (!options.sync && entryCount === 0 && change.hardState !== undefined && this.stable.keepCommitOnly(change.hardState))
      return RESOLVED;
    const append = entryCount > 0 ? this.log.stageAppend(change.entries!, undefined) : undefined;
    const hard = this.stable.stage(change.hardState);
    if (append === undefined && hard === undefined) return RESOLVED;
    const staged = append === undefined ? hard! : hard === undefined ? append : combineStaged([append, hard]);
    return this.writeStaged(staged, options);
  }

  /** A write that installs a snapshot received from the leader (rare: not on the hot path). */
  private async writeWithSnapshot(change: StorageWrite, options: { sync: boolean }): Promise<void> {
    const staged: StagedWrite[] = [];
    const snapshot = change.snapshot;
    const snapshotIndex = snapshot?.metadata?.index ?? 0;
    const installsSnapshot = snapshot !== undefined && snapshotIndex > this.snapshots.index();
    if (installsSnapshot) staged.push(await this.stageLeaderSnapshot(snapshot.metadata!, snapshot.data));
    if (change.entries !== undefined && change.entries.length > 0) {
      staged.push(this.log.stageAppend(change.entries, installsSnapshot ? snapshotIndex : undefined));
    }
    const hard = this.stable.stage(change.hardState);
    if (hard !== undefined) staged.push(hard);
    if (staged.length === 0) return;
    await this.writeStaged(combineStaged(staged), options);
    if (installsSnapshot) await this.snapshots.removeOtherFiles();
  }

  /** A leader's snapshot: writes its file, then stages its metadata, its conf state and the log's replacement. */
  private async stageLeaderSnapshot(metadataIn: SnapshotMetadata, data: Uint8Array): Promise<StagedWrite> {
    const metadata: SnapshotMetadata = {
      index: metadataIn.index,
      term: metadataIn.term,
      confState: copyConfState(metadataIn.confState ?? emptyConfState()),
    };
    const bytes = await this.snapshots.writeFile(metadata, data);
    return combineStaged([
      this.snapshots.stageRecord(metadata, bytes),
      this.stable.stageConfState(metadata.confState!),
      this.log.stageReplacement({ index: metadata.index, term: metadata.term }),
    ]);
  }

  /**
   * Records a state machine snapshot taken at `index` (applied, hence
   * committed) with membership `confState`, then deletes the log up to
   * `index`. `data` is what snapshot() serves to lagging followers.
   */
  async createSnapshot(index: number, confState: ConfState, data: Buffer): Promise<void> {
    if (index <= this.snapshots.index()) return;
    await this.recordSnapshot(await this.prepareSnapshot(index, [data]), confState);
  }

  /**
   * Streams a snapshot's data at `index` to its file. Only writes a file, so
   * it may run while the node keeps writing the log; recordSnapshot() then
   * makes it the current snapshot.
   */
  async prepareSnapshot(index: number, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<PreparedSnapshot> {
    const current = this.snapshots.index();
    assert(index > current || this.snapshots.completedBy(index), `prepareSnapshot(${index}) is not after the snapshot at ${current}`);
    return this.snapshots.prepare(index, this.log.term(index), chunks);
  }

  /** Makes a prepared snapshot current (metadata in LevelDB) and compacts the log behind it. */
  async recordSnapshot(prepared: PreparedSnapshot, confState: ConfState): Promise<void> {
    const { index } = prepared;
    // A file for the point the log is already compacted behind completes that snapshot.
    if (index <= this.snapshots.index() && !this.snapshots.completedBy(index)) {
      await this.snapshots.removeOtherFiles();
      return;
    }
    assert(
      prepared.term === this.log.term(index),
      `snapshot at ${index} prepared with term ${prepared.term}, the log has ${this.log.term(index)}`,
    );
    await this.compactBehind({ index, term: prepared.term, confState: copyConfState(confState) }, prepared.bytes);
  }

  /**
   * Compacts the log up to `index` (applied, hence committed) with no
   * snapshot file: the state machine holds that state. A file is built
   * only if a follower needs it (snapshot() asks the node through
   * onSnapshotWanted). Older snapshot files describe a point the log no
   * longer continues from, so they go.
   */
  async compact(index: number, confState: ConfState): Promise<void> {
    if (index <= this.snapshots.index()) return;
    await this.compactBehind({ index, term: this.log.term(index), confState: copyConfState(confState) }, undefined);
  }

  /** Records `metadata` (with its file's size, or no file) and deletes the log up to its index. */
  private async compactBehind(metadata: SnapshotMetadata, fileBytes: number | undefined): Promise<void> {
    const { index, term } = metadata;
    assert(index <= this.log.lastIndex(), `compaction at ${index} beyond last index ${this.log.lastIndex()}`);
    assert(index <= this.stable.commitIndex(), `compaction at ${index} beyond commit index ${this.stable.commitIndex()}`);
    const compactFrom = this.log.firstIndex();
    await this.writeStaged(combineStaged([this.snapshots.stageRecord(metadata, fileBytes), this.log.stageCompaction({ index, term })]), {
      sync: true,
    });
    await this.log.clearThrough(compactFrom, index);
    await this.snapshots.removeOtherFiles();
  }

  /** Persists a new membership (conf state plus member addresses). */
  async saveMembership(confState: ConfState, members: readonly Member[], options: { sync: boolean } = { sync: true }): Promise<void> {
    await this.writeStaged(this.stable.stageMembership(confState, members), options);
  }

  /**
   * Ops that replace the conf state and member addresses, so a caller can put
   * them in the same batch as the applied index that covers the conf change.
   */
  stageMembership(confState: ConfState, members: readonly Member[]): StagedWrite {
    return this.stable.stageMembership(confState, members);
  }

  /** Writes staged ops (possibly combined by the caller) and then updates the mirrors. */
  async writeStaged(staged: StagedWrite, options: { sync: boolean }): Promise<void> {
    assert(!this.writing, 'RaftStorage writes must not overlap');
    this.writing = true;
    try {
      await this.database.write(staged.ops, options);
      staged.onWritten();
    } finally {
      this.writing = false;
    }
  }

  async close(): Promise<void> {
    try {
      const unwritten = this.stable.stage(undefined);
      if (unwritten !== undefined) await this.writeStaged(unwritten, { sync: true });
    } finally {
      await this.database.close();
    }
  }
}
