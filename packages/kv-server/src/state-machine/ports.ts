/**
 * What the node loop and the APIs need from the state machine. KvStateMachine
 * (kv-state-machine.ts) implements both; the loop and the APIs are written
 * against these so each side can be tested alone.
 */
import type { CommandResult, Entry, KeyValue } from '@cairn/proto';
import type { StagedWrite } from '../storage/staged-write.js';
import type { SnapshotStream } from './generations.js';
import type { AppliedResult } from './kv-state-machine.js';
import type { KeyMatch, RevisionEvents } from './pending-batch.js';

export type { AppliedResult } from './kv-state-machine.js';
export type { KeyMatch, RevisionEvents } from './pending-batch.js';

export interface NodeStateMachine {
  appliedIndex(): number;
  /** `answer` gets the results as soon as they are final, before the batch is written. */
  applyEntries(entries: readonly Entry[], alsoWrite?: StagedWrite, answer?: (results: AppliedResult[]) => void): Promise<AppliedResult[]>;
  snapshot(): SnapshotStream;
  restore(data: Buffer, index: number): Promise<void>;
}

/** The reads the client APIs serve. */
export interface KvReader {
  /**
   * `revision` > 0 reads the store as of that revision (from history):
   * CompactedError below the compacted revision, FutureRevisionError above
   * the current one. 0 = the latest.
   */
  get(key: Buffer, revision?: number): Promise<KeyValue | undefined>;
  range(
    prefix: Buffer,
    startAfter: Buffer | undefined,
    limit: number,
    keysOnly: boolean,
    revision?: number,
  ): Promise<{ kvs: KeyValue[]; more: boolean }>;
  keyCount?(): number | Promise<number>;
  /** The store's revision as reads here see it. */
  revision(): number;
  /** The stored reply of an applied write, if (clientId, seq) is the session's latest. */
  appliedResult?(clientId: string, seq: number): Promise<CommandResult | undefined>;
}

/**
 * The retained history, for watches that start in the past (served by
 * history.ts in the state machine; the watch hub is written against this).
 */
export interface HistoryReader {
  /** The store's revision as reads here see it. */
  revision(): number;
  /** The oldest revision still readable; below it: COMPACTED. */
  compactRevision(): number;
  /**
   * The revisions in [from, to] that changed a key matching `match`, in
   * revision order, each with only its matching events, each event with its
   * prevKv. Stops after the revision that brings the event count to
   * `maxEvents` or more (a revision is never split). Throws CompactedError
   * when `from` is below the compacted revision.
   */
  eventsBetween(from: number, to: number, match: KeyMatch, maxEvents: number): Promise<RevisionEvents[]>;
  /** Every revision's events after its batch is in LevelDB, in order, once. Returns an unsubscribe. */
  onApplied(listener: (revisions: readonly RevisionEvents[]) => void): () => void;
}
