/**
 * The snapshot the log is compacted behind (hashicorp SnapshotStore): its
 * metadata is a record in the node's LevelDB, its data a file (see
 * snapshot-files.ts), read again only to be sent to a lagging follower, so
 * memory does not grow with the data.
 *
 * A compaction may record metadata with no file ("file absent", with a marker
 * record naming its index): the state machine in the same LevelDB already
 * holds that state, and rewriting all of it every few thousand entries cost a
 * large store most of its CPU and memory. The file is built only when a
 * follower needs it, then completes that snapshot.
 */
import { assert, type ConfState, type Snapshot, SnapshotMetadata } from '@cairn/proto';
import { CorruptionError } from '../errors.js';
import { decodeProto } from './codec.js';
import { copyConfState, emptyConfState, listsEveryMember } from './conf-state.js';
import { type BatchOp, NodeDatabase } from './database.js';
import { SNAPSHOT_FILE_ABSENT_KEY, SNAPSHOT_KEY } from './keys.js';
import type { LogBase } from './log-store.js';
import { readSnapshotFile, removeSnapshotFilesExcept, SnapshotFileWriter, snapshotFileName, writeSnapshotFile } from './snapshot-files.js';
import type { StagedWrite } from './staged-write.js';
import { readU64BE, writeU64BE } from './u64.js';

/** A snapshot file written for (index, term), not yet recorded as the current snapshot. */
export interface PreparedSnapshot {
  index: number;
  term: number;
  bytes: number;
}

export class SnapshotStore {
  private constructor(
    private readonly dataDir: string,
    private metadata: SnapshotMetadata,
    /** Size of the snapshot's data; the bytes stay in the file. */
    private bytes: number,
    /** The log was compacted behind `metadata`, but no file holds that state yet. */
    private fileAbsent: boolean,
  ) {}

  /**
   * Reads the snapshot metadata and its file marker, and verifies the file
   * whole (a damaged file refuses to start; its bytes are then dropped).
   * Throws CorruptionError.
   */
  static async load(database: NodeDatabase): Promise<SnapshotStore> {
    const dataDir = database.dataDir;
    const payload = await database.getRecord(SNAPSHOT_KEY, 'snapshot metadata');
    const metadata = payload
      ? decodeProto(SnapshotMetadata, payload, dataDir, 'snapshot metadata')
      : { index: 0, term: 0, confState: emptyConfState() };
    const absentPayload = await database.getRecord(SNAPSHOT_FILE_ABSENT_KEY, 'snapshot file marker');
    const fileAbsent = absentPayload !== undefined;
    if (fileAbsent && (absentPayload.length !== 8 || readU64BE(absentPayload, 0) !== metadata.index)) {
      throw new CorruptionError(dataDir, `the snapshot file marker does not match the snapshot at index ${metadata.index}`);
    }
    const hasFile = metadata.index > 0 && !fileAbsent;
    const bytes = hasFile ? readSnapshotFile(dataDir, metadata.index, metadata.term).length : 0;
    return new SnapshotStore(dataDir, metadata, bytes, fileAbsent);
  }

  /** The point the log continues from. */
  base(): LogBase {
    return { index: this.metadata.index, term: this.metadata.term };
  }

  index(): number {
    return this.metadata.index;
  }

  sizeBytes(): number {
    return this.bytes;
  }

  /**
   * Whether the file exists and lists every member of `current` (raft refuses
   * a snapshot that does not list the receiver, so a member added since needs
   * a newer one; role changes and removals after the snapshot arrive as log
   * entries, as usual).
   */
  servable(current: ConfState): boolean {
    if (this.fileAbsent) return false;
    const inFile = this.metadata.confState;
    return this.metadata.index === 0 || (inFile !== undefined && listsEveryMember(inFile, current));
  }

  info(current: ConfState): { index: number; term: number; hasFile: boolean; servable: boolean } {
    const { index, term } = this.metadata;
    return { index, term, hasFile: index > 0 && !this.fileAbsent, servable: this.servable(current) };
  }

  /** The snapshot with its data, read from the file and verified. The caller checks servable() first. */
  read(): Snapshot {
    const { index, term } = this.metadata;
    return { data: index > 0 ? readSnapshotFile(this.dataDir, index, term) : Buffer.alloc(0), metadata: this.metadata };
  }

  /** Whether a file for `index` would complete the current snapshot, recorded by a compaction without one. */
  completedBy(index: number): boolean {
    return index === this.metadata.index && this.fileAbsent;
  }

  // ---- files ----

  /** Streams a snapshot's data at (index, term) to its file. Writes only the file. */
  async prepare(index: number, term: number, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<PreparedSnapshot> {
    const current = this.metadata.index;
    assert(index > current || this.completedBy(index), `prepareSnapshot(${index}) is not after the snapshot at ${current}`);
    const writer = await SnapshotFileWriter.create(this.dataDir, index, term);
    try {
      for await (const chunk of chunks) await writer.write(chunk);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    return { index, term, bytes: await writer.commit() };
  }

  /** Writes the file of a snapshot received from the leader; returns its data's size. */
  async writeFile(metadata: SnapshotMetadata, data: Uint8Array): Promise<number> {
    assert(metadata.index > this.metadata.index, 'snapshot older than the current one');
    return writeSnapshotFile(this.dataDir, metadata.index, metadata.term, data);
  }

  /** Removes every snapshot file but the current one (leftovers, and files of older snapshots). */
  async removeOtherFiles(): Promise<void> {
    const { index, term } = this.metadata;
    await removeSnapshotFilesExcept(this.dataDir, index > 0 && !this.fileAbsent ? snapshotFileName(index, term) : undefined);
  }

  // ---- staged writes ----

  /** Records `metadataIn` as the current snapshot, with its file's size, or no file (undefined). */
  stageRecord(metadataIn: SnapshotMetadata, fileBytes: number | undefined): StagedWrite {
    const metadata: SnapshotMetadata = {
      index: metadataIn.index,
      term: metadataIn.term,
      confState: copyConfState(metadataIn.confState ?? emptyConfState()),
    };
    const fileAbsent = fileBytes === undefined;
    const ops: BatchOp[] = [
      NodeDatabase.putRecord(SNAPSHOT_KEY, SnapshotMetadata.encode(metadata).finish()),
      // The marker names the index it belongs to, so a mismatch is detectable.
      fileAbsent
        ? NodeDatabase.putRecord(SNAPSHOT_FILE_ABSENT_KEY, encodeIndex(metadata.index))
        : { type: 'del', key: SNAPSHOT_FILE_ABSENT_KEY },
    ];
    return {
      ops,
      onWritten: () => {
        this.metadata = metadata;
        this.bytes = fileBytes ?? 0;
        this.fileAbsent = fileAbsent;
      },
    };
  }
}

function encodeIndex(index: number): Buffer {
  const bytes = Buffer.allocUnsafe(8);
  writeU64BE(bytes, index, 0);
  return bytes;
}
