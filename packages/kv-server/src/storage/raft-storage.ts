/**
 * Durable raft storage over the node's LevelDB: the log (hashicorp LogStore),
 * hard state, conf state and member addresses (StableStore), and the snapshot
 * the log was compacted behind (metadata in LevelDB, data in a file).
 *
 * Compaction writes no file: the state machine in the same LevelDB already
 * holds the state at the applied index, and rewriting all of it every few
 * thousand entries cost a large store most of its CPU and memory. The file
 * is built only when raft asks for a snapshot to send (see snapshot()).
 *
 * Reads are synchronous, as raft-core requires: every entry after the last
 * snapshot is mirrored in memory (the log is bounded by snapshotting). The
 * mirror only ever shows what is durable: it is updated after a write lands.
 * Writes are serialised (one at a time); the node loop issues one `write()`
 * per Ready, so a turn's appends and hard state share one batch (group commit).
 */
import { assert, ConfState, encodeToBuffer, Entry, HardState, Member, SnapshotMetadata } from '@cairn/proto';
import type { Snapshot } from '@cairn/proto';
import {
  SnapshotTemporarilyUnavailableError,
  StorageCompactedError,
  StorageUnavailableError,
  type InitialState,
  type Storage,
} from '@cairn/raft-core';
import { CorruptionError } from '../errors.js';
import { decodeRecord, RECORD_HEADER_BYTES } from './codec.js';
import { CONF_STATE_KEY, HARD_STATE_KEY, logIndexOfKey, logKey, memberKey, PREFIX, prefixRange, SNAPSHOT_FILE_ABSENT_KEY, SNAPSHOT_KEY } from './keys.js';
import { NodeDatabase, type BatchOp, type NodeIdentity } from './database.js';
import { readSnapshotFile, removeSnapshotFilesExcept, SnapshotFileWriter, snapshotFileName, writeSnapshotFile } from './snapshot-files.js';
import { readU64BE, writeU64BE } from './u64.js';

/** Everything one Ready asks to persist. */
export interface StorageWrite {
  entries?: readonly Entry[] | undefined;
  hardState?: HardState | undefined;
  /** A snapshot received from the leader (already restored into the state machine). */
  snapshot?: Snapshot | undefined;
}

/** Ops to add to a LevelDB batch, and the mirror update to run once it is written. */
export interface StagedWrite {
  ops: BatchOp[];
  onWritten(): void;
}

/** A snapshot file written for (index, term), not yet recorded (see recordSnapshot). */
export interface PreparedSnapshot {
  index: number;
  term: number;
  bytes: number;
}

interface LoadedRaftState {
  snapshotMetadata: SnapshotMetadata;
  snapshotBytes: number;
  snapshotFileAbsent: boolean;
  entries: Entry[];
  hardState: HardState;
  confState: ConfState;
  members: Map<number, Member>;
}

/**
 * raft-core's `Storage` (LogReader & StateReader) plus the node's write side.
 * Reads outside the log throw raft-core's StorageCompactedError /
 * StorageUnavailableError, which raft-core handles (e.g. by sending a snapshot).
 */
export class RaftStorage implements Storage {
  private snapshotMetadata: SnapshotMetadata;
  /** Size of the snapshot's data; the bytes stay in the file (memory must not grow with the data). */
  private snapshotBytes: number;
  /** The log was compacted behind snapshotMetadata, but no file holds that state yet. */
  private snapshotFileAbsent: boolean;
  /** Called when raft asks for a snapshot that has no file: the node builds one. */
  onSnapshotWanted: () => void = () => {};
  /** entryLog[i].index === snapshotMetadata.index + 1 + i */
  private entryLog: Entry[];
  /** Memory the mirrored log holds (data plus per-entry overhead), kept as it changes. */
  private entryLogBytes: number;
  private hardState: HardState;
  private currentConfState: ConfState;
  private memberMap: Map<number, Member>;
  private writing = false;
  /**
   * The mirrored hard state differs from the stored one only in its commit
   * index: that change rides along with the next write instead of costing a
   * LevelDB write of its own (see write()).
   */
  private hardStateUnwritten = false;

  private constructor(
    readonly database: NodeDatabase,
    loaded: LoadedRaftState,
  ) {
    this.snapshotMetadata = loaded.snapshotMetadata;
    this.snapshotBytes = loaded.snapshotBytes;
    this.snapshotFileAbsent = loaded.snapshotFileAbsent;
    this.entryLog = loaded.entries;
    this.entryLogBytes = mirroredBytes(this.entryLog);
    this.hardState = loaded.hardState;
    this.currentConfState = loaded.confState;
    this.memberMap = loaded.members;
  }

  /**
   * Opens (or creates) data-dir/db, verifies its identity, then loads and
   * verifies every record. Throws ClusterMismatchError, NodeIdMismatchError,
   * FailedPreconditionError (newer format) or CorruptionError: it never starts
   * on damaged data.
   */
  static async open(dataDir: string, identity: NodeIdentity): Promise<RaftStorage> {
    const database = await NodeDatabase.open(dataDir, identity);
    try {
      const loaded = await loadRaftState(database);
      const hasFile = loaded.snapshotMetadata.index > 0 && !loaded.snapshotFileAbsent;
      const keep = hasFile ? snapshotFileName(loaded.snapshotMetadata.index, loaded.snapshotMetadata.term) : undefined;
      await removeSnapshotFilesExcept(dataDir, keep);
      return new RaftStorage(database, loaded);
    } catch (error) {
      await database.close();
      throw error;
    }
  }

  get dataDir(): string {
    return this.database.dataDir;
  }

  // ---- LogReader / StateReader (synchronous, from the mirror) ----

  firstIndex(): number {
    return this.snapshotMetadata.index + 1;
  }

  lastIndex(): number {
    return this.snapshotMetadata.index + this.entryLog.length;
  }

  term(index: number): number {
    if (index === this.snapshotMetadata.index) return this.snapshotMetadata.term;
    if (index < this.snapshotMetadata.index) throw new StorageCompactedError(index, this.firstIndex());
    if (index > this.lastIndex()) throw new StorageUnavailableError(index, this.lastIndex());
    return this.entryAt(index).term;
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    if (lo < this.firstIndex()) throw new StorageCompactedError(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new StorageUnavailableError(hi - 1, this.lastIndex());
    assert(lo <= hi, `entries(${lo}, ${hi}): lo > hi`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.entryAt(index);
      bytes += entry.data.length;
      if (result.length > 0 && bytes > bytesMax) break;
      result.push(entry);
    }
    return result;
  }

  snapshot(): Snapshot {
    // Read (and verified) on demand: raft-core asks only to send one to a lagging follower.
    const { index, term } = this.snapshotMetadata;
    if (!this.snapshotServable()) {
      // raft-core retries on a later heartbeat; by then the node may have built the file.
      this.onSnapshotWanted();
      throw new SnapshotTemporarilyUnavailableError();
    }
    return { data: index > 0 ? readSnapshotFile(this.dataDir, index, term) : Buffer.alloc(0), metadata: this.snapshotMetadata };
  }

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: this.confState() };
  }

  // ---- other reads ----

  /** The membership in force (last saved conf change or snapshot). */
  confState(): ConfState {
    return copyConfState(this.currentConfState);
  }

  /** Member addresses, sorted by id. */
  members(): Member[] {
    return [...this.memberMap.values()].sort((a, b) => a.id - b.id);
  }

  snapshotIndex(): number {
    return this.snapshotMetadata.index;
  }

  /**
   * The snapshot the log is compacted behind: index, term, whether its file
   * exists yet, and whether that file can be sent: it exists and lists every
   * current member (raft refuses a snapshot that does not list the receiver,
   * so a member added since needs a newer one; role changes and removals
   * after the snapshot arrive as log entries, as usual).
   */
  snapshotInfo(): { index: number; term: number; hasFile: boolean; servable: boolean } {
    const { index, term } = this.snapshotMetadata;
    return { index, term, hasFile: index > 0 && !this.snapshotFileAbsent, servable: this.snapshotServable() };
  }

  private snapshotServable(): boolean {
    if (this.snapshotFileAbsent) return false;
    const inFile = this.snapshotMetadata.confState;
    return this.snapshotMetadata.index === 0 || (inFile !== undefined && listsEveryMember(inFile, this.currentConfState));
  }

  snapshotSizeBytes(): number {
    return this.snapshotBytes;
  }

  /** Memory held by the log entries after the snapshot (their data plus per-entry overhead). */
  logBytes(): number {
    return this.entryLogBytes;
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
    // A Ready that only moves the commit index (raft's mustSync is false) is
    // kept in memory: the commit index needs no durability, since a restarted
    // node relearns it from the leader, and raft-core raises it to the
    // state machine's applied index on start. Writing it cost every node a
    // LevelDB write per commit, which traces showed delaying the next append
    // behind the disk, as etcd's buffered WAL never does.
    const entryCount = change.entries?.length ?? 0;
    if (!options.sync && entryCount === 0 && change.hardState !== undefined &&
        change.hardState.term === this.hardState.term && change.hardState.vote === this.hardState.vote) {
      this.hardState = { ...change.hardState };
      this.hardStateUnwritten = true;
      return RESOLVED;
    }
    const hardState = change.hardState ?? (this.hardStateUnwritten ? this.hardState : undefined);
    const append = entryCount > 0 ? this.stageAppend(change.entries!, undefined) : undefined;
    const hard = hardState !== undefined ? this.stageHardState(hardState) : undefined;
    if (append === undefined && hard === undefined) return RESOLVED;
    const staged = append === undefined ? hard! : hard === undefined ? append : combineStaged([append, hard]);
    return this.writeStaged(staged, options);
  }

  /** A write that installs a snapshot received from the leader (rare: not on the hot path). */
  private async writeWithSnapshot(change: StorageWrite, options: { sync: boolean }): Promise<void> {
    const staged: StagedWrite[] = [];
    const snapshot = change.snapshot;
    const snapshotIndex = snapshot?.metadata?.index ?? 0;
    const installsSnapshot = snapshot !== undefined && snapshotIndex > this.snapshotMetadata.index;
    if (installsSnapshot) staged.push(await this.stageSnapshot(snapshot.metadata!, snapshot.data));
    if (change.entries !== undefined && change.entries.length > 0) {
      staged.push(this.stageAppend(change.entries, installsSnapshot ? snapshotIndex : undefined));
    }
    const hardState = change.hardState ?? (this.hardStateUnwritten ? this.hardState : undefined);
    if (hardState !== undefined) staged.push(this.stageHardState(hardState));
    if (staged.length === 0) return;
    await this.writeStaged(combineStaged(staged), options);
    if (installsSnapshot) await removeSnapshotFilesExcept(this.dataDir, snapshotFileName(snapshotIndex, snapshot.metadata!.term));
  }

  /**
   * Records a state machine snapshot taken at `index` (applied, hence
   * committed) with membership `confState`, then deletes the log up to
   * `index`. `data` is what snapshot() serves to lagging followers.
   */
  async createSnapshot(index: number, confState: ConfState, data: Buffer): Promise<void> {
    if (index <= this.snapshotMetadata.index) return;
    await this.recordSnapshot(await this.prepareSnapshot(index, [data]), confState);
  }

  /**
   * Streams a snapshot's data at `index` to its file. Only writes a file, so
   * it may run while the node keeps writing the log; recordSnapshot() then
   * makes it the current snapshot.
   */
  async prepareSnapshot(index: number, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<PreparedSnapshot> {
    const current = this.snapshotMetadata.index;
    assert(index > current || (index === current && this.snapshotFileAbsent), `prepareSnapshot(${index}) is not after the snapshot at ${current}`);
    const term = this.term(index);
    const writer = await SnapshotFileWriter.create(this.dataDir, index, term);
    try {
      for await (const chunk of chunks) await writer.write(chunk);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return { index, term, bytes: await writer.commit() };
  }

  /** Makes a prepared snapshot current (metadata in LevelDB) and compacts the log behind it. */
  async recordSnapshot(prepared: PreparedSnapshot, confStateIn: ConfState): Promise<void> {
    const { index } = prepared;
    // A file for the point the log is already compacted behind completes that snapshot.
    const fillsCompaction = index === this.snapshotMetadata.index && this.snapshotFileAbsent;
    if (index <= this.snapshotMetadata.index && !fillsCompaction) {
      await removeSnapshotFilesExcept(this.dataDir, this.currentSnapshotFileName());
      return;
    }
    assert(prepared.term === this.term(index), `snapshot at ${index} prepared with term ${prepared.term}, the log has ${this.term(index)}`);
    await this.compactBehind({ index, term: prepared.term, confState: copyConfState(confStateIn) }, prepared.bytes);
  }

  /**
   * Compacts the log up to `index` (applied, hence committed) with no
   * snapshot file: the state machine holds that state. A file is built
   * only if a follower needs it (snapshot() asks the node through
   * onSnapshotWanted). Older snapshot files describe a point the log no
   * longer continues from, so they go.
   */
  async compact(index: number, confStateIn: ConfState): Promise<void> {
    if (index <= this.snapshotMetadata.index) return;
    await this.compactBehind({ index, term: this.term(index), confState: copyConfState(confStateIn) }, undefined);
  }

  /** Records `metadata` (with its file's size, or no file) and deletes the log up to its index. */
  private async compactBehind(metadata: SnapshotMetadata, fileBytes: number | undefined): Promise<void> {
    const { index } = metadata;
    assert(index <= this.lastIndex(), `compaction at ${index} beyond last index ${this.lastIndex()}`);
    assert(index <= this.hardState.commit, `compaction at ${index} beyond commit index ${this.hardState.commit}`);
    const compactFrom = this.firstIndex();
    const fileAbsent = fileBytes === undefined;
    await this.writeStaged(this.stageSnapshotMetadata(metadata, fileBytes ?? 0, { keepLog: true, fileAbsent }), { sync: true });
    // The compacted entries go in one native range delete, not a del op each in
    // the batch (10k ops blocked the loop for tens of ms). A crash before it
    // leaves entries at or below the snapshot, which open() skips and deletes.
    if (compactFrom <= index) await this.database.db.clear({ gte: logKey(compactFrom), lte: logKey(index) });
    await removeSnapshotFilesExcept(this.dataDir, fileAbsent ? undefined : snapshotFileName(index, metadata.term));
  }

  /** Persists a new membership (conf state plus member addresses). */
  async saveMembership(confState: ConfState, members: readonly Member[], options: { sync: boolean } = { sync: true }): Promise<void> {
    await this.writeStaged(this.stageMembership(confState, members), options);
  }

  /**
   * Ops that replace the conf state and member addresses, so a caller can put
   * them in the same batch as the applied index that covers the conf change.
   */
  stageMembership(confStateIn: ConfState, membersIn: readonly Member[]): StagedWrite {
    const confState = copyConfState(confStateIn);
    const memberMap = new Map(membersIn.map((member) => [member.id, { ...member }]));
    const ops: BatchOp[] = [NodeDatabase.putRecord(CONF_STATE_KEY, ConfState.encode(confState).finish())];
    for (const id of this.memberMap.keys()) {
      if (!memberMap.has(id)) ops.push({ type: 'del', key: memberKey(id) });
    }
    for (const member of memberMap.values()) {
      ops.push(NodeDatabase.putRecord(memberKey(member.id), Member.encode(member).finish()));
    }
    return {
      ops,
      onWritten: () => {
        this.currentConfState = confState;
        this.memberMap = memberMap;
      },
    };
  }

  private stageHardState(hardStateIn: HardState): StagedWrite {
    const hardState = { ...hardStateIn };
    return {
      ops: [NodeDatabase.putSealed(HARD_STATE_KEY, encodeToBuffer(HardState, hardState, RECORD_HEADER_BYTES))],
      onWritten: () => {
        // A commit-only update that arrived meanwhile is newer: keep it (unwritten).
        const current = this.hardState;
        if (current.term === hardState.term && current.vote === hardState.vote && current.commit > hardState.commit) return;
        this.hardState = hardState;
        this.hardStateUnwritten = false;
      },
    };
  }

  /** Writes staged ops (possibly combined by the caller) and then updates the mirror. */
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
      if (this.hardStateUnwritten) await this.writeStaged(this.stageHardState(this.hardState), { sync: true });
    } finally {
      await this.database.close();
    }
  }

  // ---- internals ----

  private entryAt(index: number): Entry {
    const entry = this.entryLog[index - this.snapshotMetadata.index - 1];
    assert(entry !== undefined, `log mirror has no entry ${index}`);
    assert(entry.index === index, `log mirror holds ${entry.index} at ${index}`);
    return entry;
  }

  private currentSnapshotFileName(): string | undefined {
    const { index, term } = this.snapshotMetadata;
    return index > 0 && !this.snapshotFileAbsent ? snapshotFileName(index, term) : undefined;
  }

  /** A leader's snapshot: writes its file, then stages its metadata (replacing the whole log). */
  private async stageSnapshot(metadataIn: SnapshotMetadata, data: Uint8Array): Promise<StagedWrite> {
    const metadata: SnapshotMetadata = { index: metadataIn.index, term: metadataIn.term, confState: copyConfState(metadataIn.confState ?? emptyConfState()) };
    assert(metadata.index > this.snapshotMetadata.index, 'snapshot older than the current one');
    const bytes = await writeSnapshotFile(this.dataDir, metadata.index, metadata.term, data);
    return this.stageSnapshotMetadata(metadata, bytes, { keepLog: false, fileAbsent: false });
  }

  /**
   * Stages the metadata of a snapshot whose file is in place. With keepLog (a
   * local snapshot) entries after the snapshot stay; without (one from the
   * leader) the whole log is replaced, as in etcd's ApplySnapshot.
   */
  private stageSnapshotMetadata(metadata: SnapshotMetadata, bytes: number, options: { keepLog: boolean; fileAbsent: boolean }): StagedWrite {
    const ops: BatchOp[] = [
      NodeDatabase.putRecord(SNAPSHOT_KEY, SnapshotMetadata.encode(metadata).finish()),
      // The marker names the index it belongs to, so a mismatch is detectable.
      options.fileAbsent ? NodeDatabase.putRecord(SNAPSHOT_FILE_ABSENT_KEY, encodeIndex(metadata.index)) : { type: 'del', key: SNAPSHOT_FILE_ABSENT_KEY },
    ];
    if (!options.keepLog) {
      // A leader's snapshot replaces the whole log, atomically (a local one's compaction runs after, see recordSnapshot).
      ops.push(NodeDatabase.putRecord(CONF_STATE_KEY, ConfState.encode(metadata.confState!).finish()));
      for (let index = this.firstIndex(); index <= this.lastIndex(); index++) ops.push({ type: 'del', key: logKey(index) });
    }
    return {
      ops,
      onWritten: () => {
        this.entryLog = options.keepLog ? this.entryLog.slice(metadata.index - this.snapshotMetadata.index) : [];
        this.entryLogBytes = mirroredBytes(this.entryLog);
        this.snapshotMetadata = metadata;
        this.snapshotBytes = bytes;
        this.snapshotFileAbsent = options.fileAbsent;
        if (!options.keepLog) this.currentConfState = copyConfState(metadata.confState!);
      },
    };
  }

  /** `afterSnapshot`: the index of a snapshot installed in the same batch (the log is then empty). */
  private stageAppend(entries: readonly Entry[], afterSnapshot: number | undefined): StagedWrite {
    const baseIndex = afterSnapshot ?? this.snapshotMetadata.index;
    const lastIndex = afterSnapshot ?? this.lastIndex();
    const first = entries[0]!;
    assert(first.index > baseIndex, `append at ${first.index} overwrites the snapshot at ${baseIndex}`);
    assert(first.index <= lastIndex + 1, `append at ${first.index} leaves a gap after ${lastIndex}`);
    const ops: BatchOp[] = [];
    entries.forEach((entry, offset) => {
      assert(entry.index === first.index + offset, 'appended entries must be contiguous');
      ops.push(NodeDatabase.putSealed(logKey(entry.index), encodeToBuffer(Entry, entry, RECORD_HEADER_BYTES)));
    });
    const newLast = first.index + entries.length - 1;
    // Truncate the conflicting suffix that the new entries do not overwrite.
    for (let index = newLast + 1; index <= lastIndex; index++) ops.push({ type: 'del', key: logKey(index) });
    const copies = entries.map((entry) => ({ ...entry, data: Buffer.from(entry.data) }));
    return {
      ops,
      onWritten: () => {
        // Runs after any snapshot in the same batch, so snapshotMetadata is current.
        const keep = first.index - this.snapshotMetadata.index - 1;
        // In place: copying the whole log per append cost O(log length) each time.
        if (keep < this.entryLog.length) {
          this.entryLogBytes -= mirroredBytes(this.entryLog.slice(keep));
          this.entryLog.length = keep;
        }
        for (const copy of copies) this.entryLog.push(copy);
        this.entryLogBytes += mirroredBytes(copies);
      },
    };
  }
}

/** Per mirrored entry beyond its data: the Entry object, its Buffer and the array slot (approximate). */
const ENTRY_OVERHEAD_BYTES = 200;

function mirroredBytes(entries: readonly Entry[]): number {
  let bytes = 0;
  for (const entry of entries) bytes += entry.data.length + ENTRY_OVERHEAD_BYTES;
  return bytes;
}

const RESOLVED: Promise<void> = Promise.resolve();

function combineStaged(parts: StagedWrite[]): StagedWrite {
  const ops: BatchOp[] = [];
  for (const part of parts) for (const op of part.ops) ops.push(op);
  return {
    ops,
    onWritten: () => {
      for (const part of parts) part.onWritten();
    },
  };
}

function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [] };
}

function listsEveryMember(inFile: ConfState, current: ConfState): boolean {
  const listed = (id: number): boolean => inFile.voters.includes(id) || inFile.learners.includes(id);
  return current.voters.every(listed) && current.learners.every(listed);
}

function copyConfState(confState: ConfState): ConfState {
  return { voters: [...confState.voters], learners: [...confState.learners], votersOutgoing: [...confState.votersOutgoing] };
}

/** Reads every raft record, verifying checksums, decodings and log contiguity. */
async function loadRaftState(database: NodeDatabase): Promise<LoadedRaftState> {
  const dataDir = database.dataDir;
  const hardStatePayload = await database.getRecord(HARD_STATE_KEY, 'hard state');
  const hardState = hardStatePayload ? withoutAbsentFields(decodeProto(HardState, hardStatePayload, dataDir, 'hard state')) : { term: 0, vote: 0, commit: 0 };
  const confStatePayload = await database.getRecord(CONF_STATE_KEY, 'conf state');
  const confState = confStatePayload ? decodeProto(ConfState, confStatePayload, dataDir, 'conf state') : emptyConfState();
  const snapshotPayload = await database.getRecord(SNAPSHOT_KEY, 'snapshot metadata');
  const snapshotMetadata = snapshotPayload
    ? decodeProto(SnapshotMetadata, snapshotPayload, dataDir, 'snapshot metadata')
    : { index: 0, term: 0, confState: emptyConfState() };

  const members = new Map<number, Member>();
  for await (const [key, value] of database.db.iterator(prefixRange(Buffer.of(PREFIX.member)))) {
    const what = `member record ${key.toString('hex')}`;
    const member = decodeProto(Member, decodeRecord(key, value, { dataDir, what }), dataDir, what);
    members.set(member.id, member);
  }

  const entries: Entry[] = [];
  let expectedIndex = snapshotMetadata.index + 1;
  let previousTerm = snapshotMetadata.term;
  let compactedLeftover = false;
  for await (const [key, value] of database.db.iterator(prefixRange(Buffer.of(PREFIX.log)))) {
    const keyIndex = logIndexOfKey(key);
    // Entries the snapshot covers whose range delete a crash interrupted (see recordSnapshot).
    if (keyIndex <= snapshotMetadata.index) {
      compactedLeftover = true;
      continue;
    }
    const what = `log entry ${keyIndex}`;
    const entry = decodeProto(Entry, decodeRecord(key, value, { dataDir, what }), dataDir, what);
    if (entry.index !== keyIndex) throw new CorruptionError(dataDir, `${what} holds index ${entry.index}`);
    if (keyIndex !== expectedIndex) {
      throw new CorruptionError(dataDir, `the log has ${what} where index ${expectedIndex} was expected (gap or stale entry)`);
    }
    if (entry.term < previousTerm) throw new CorruptionError(dataDir, `${what} has term ${entry.term} below the previous ${previousTerm}`);
    entries.push(entry);
    expectedIndex += 1;
    previousTerm = entry.term;
  }
  if (compactedLeftover) await database.db.clear({ gte: logKey(0), lte: logKey(snapshotMetadata.index) });
  const lastIndex = expectedIndex - 1;
  const absentPayload = await database.getRecord(SNAPSHOT_FILE_ABSENT_KEY, 'snapshot file marker');
  const snapshotFileAbsent = absentPayload !== undefined;
  if (snapshotFileAbsent && (absentPayload.length !== 8 || readU64BE(absentPayload, 0) !== snapshotMetadata.index)) {
    throw new CorruptionError(dataDir, `the snapshot file marker does not match the snapshot at index ${snapshotMetadata.index}`);
  }
  // Verified whole now (a damaged file refuses to start), then dropped: it is read again only to be sent.
  const hasFile = snapshotMetadata.index > 0 && !snapshotFileAbsent;
  const snapshotBytes = hasFile ? readSnapshotFile(dataDir, snapshotMetadata.index, snapshotMetadata.term).length : 0;
  if (hardState.commit > lastIndex) {
    throw new CorruptionError(dataDir, `the hard state commits index ${hardState.commit} but the log ends at ${lastIndex}`);
  }
  return { snapshotMetadata, snapshotBytes, snapshotFileAbsent, entries, hardState, confState, members };
}

function encodeIndex(index: number): Buffer {
  const bytes = Buffer.allocUnsafe(8);
  writeU64BE(bytes, index, 0);
  return bytes;
}

function decodeProto<T>(codec: { decode(input: Uint8Array): T }, payload: Uint8Array, dataDir: string, what: string): T {
  try {
    return codec.decode(payload);
  } catch (error) {
    throw new CorruptionError(dataDir, `${what} does not decode (${(error as Error).message})`);
  }
}

/** The decoder sets absent optional fields to undefined; raft-core leaves them out (a healthy node's hard state has none). */
function withoutAbsentFields(decoded: HardState): HardState {
  const hardState: HardState = { term: decoded.term, vote: decoded.vote, commit: decoded.commit };
  if (decoded.recovering !== undefined) hardState.recovering = decoded.recovering;
  if (decoded.flaggedTerm !== undefined) hardState.flaggedTerm = decoded.flaggedTerm;
  return hardState;
}
