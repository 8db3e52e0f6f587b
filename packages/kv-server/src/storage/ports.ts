/**
 * What the node loop needs from durable raft storage: raft-core's `Storage`
 * plus the write side. RaftStorage (raft-storage.ts) implements it over the
 * log, hard state and snapshot stores; the loop is written against this so
 * each side can be tested alone.
 */
import type { ConfState, Entry, HardState, Member, Snapshot } from '@cairn/proto';
import type { Storage } from '@cairn/raft-core';
import type { PreparedSnapshot } from './snapshot-store.js';
import type { StagedWrite } from './staged-write.js';

export type { PreparedSnapshot } from './snapshot-store.js';
export type { StagedWrite } from './staged-write.js';

export interface NodeStorage extends Storage {
  /** Appends entries (truncating a conflicting suffix), saves hard state and snapshot in one batch. */
  write(
    update: { entries: readonly Entry[]; hardState: HardState | undefined; snapshot: Snapshot | undefined },
    options: { sync: boolean },
  ): Promise<void>;
  /** Streams a snapshot's data at `index` to its file (may run alongside log writes). */
  prepareSnapshot(index: number, chunks: AsyncIterable<Uint8Array>): Promise<PreparedSnapshot>;
  /** Makes a prepared snapshot current and compacts the log behind it. */
  recordSnapshot(prepared: PreparedSnapshot, confState: ConfState): Promise<void>;
  /** Compacts the log up to `index` with no snapshot file (the state machine holds that state). */
  compact(index: number, confState: ConfState): Promise<void>;
  /** Set by the loop: raft asked for a snapshot that has no file yet. */
  onSnapshotWanted: () => void;
  snapshotInfo(): { index: number; term: number; hasFile: boolean; servable: boolean };
  snapshotSizeBytes(): number;
  /** Memory held by the log entries after the snapshot. */
  logBytes(): number;
  saveMembership(confState: ConfState, members: Member[]): Promise<void>;
  /** The membership write as batch ops, to land in the same batch as an apply. */
  stageMembership(confState: ConfState, members: readonly Member[]): StagedWrite;
  members(): Member[];
  snapshotIndex(): number;
  close(): Promise<void>;
}
