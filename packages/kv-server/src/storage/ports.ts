/**
 * What the node loop needs from durable storage and the state machine. The
 * LevelDB implementations live in storage/ and state-machine/; the loop is
 * written against these so each side can be tested alone.
 */
import type { CommandResult, ConfState, Entry, HardState, KeyValue, Member, Snapshot } from '@cairn/proto';
import type { Storage } from '@cairn/raft-core';
import type { PreparedSnapshot } from './storage/snapshot-store.js';
import type { StagedWrite } from './storage/staged-write.js';
import type { AppliedResult, SnapshotStream } from './state-machine/kv-state-machine.js';

export interface NodeStorage extends Storage {
  /** Appends entries (truncating a conflicting suffix), saves hard state and snapshot in one batch. */
  write(update: { entries: readonly Entry[]; hardState: HardState | undefined; snapshot: Snapshot | undefined }, options: { sync: boolean }): Promise<void>;
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

export type { AppliedResult } from './state-machine/kv-state-machine.js';

export interface NodeStateMachine {
  appliedIndex(): number;
  /** `answer` gets the results as soon as they are final, before the batch is written. */
  applyEntries(entries: readonly Entry[], alsoWrite?: StagedWrite, answer?: (results: AppliedResult[]) => void): Promise<AppliedResult[]>;
  snapshot(): SnapshotStream;
  restore(data: Buffer, index: number): Promise<void>;
}

export interface KvReader {
  get(key: Buffer): Promise<KeyValue | undefined>;
  range(prefix: Buffer, startAfter: Buffer | undefined, limit: number, keysOnly: boolean): Promise<{ kvs: KeyValue[]; more: boolean }>;
  keyCount?(): number | Promise<number>;
  /** The stored reply of an applied write, if (clientId, seq) is the session's latest. */
  appliedResult?(clientId: string, seq: number): Promise<CommandResult | undefined>;
}
