/**
 * MemoryStorage: an in-memory Storage for tests and the simulator (etcd's
 * MemoryStorage). `entries[0]` is a dummy holding the snapshot's index and
 * term, so term(firstIndex() - 1) always answers.
 */
import type { ConfState, Entry, HardState, Snapshot } from '@cairn/proto';
import { assert } from '@cairn/proto';
import { SnapshotOutOfDateError, StorageCompactedError, StorageUnavailableError } from './errors.js';
import { limitBytes } from './raft-log.js';
import type { InitialState, Storage } from './storage.js';
import type { NodeId } from './types.js';

function copyConfState(confState: ConfState): ConfState {
  return { voters: [...confState.voters], learners: [...confState.learners], votersOutgoing: [...confState.votersOutgoing] };
}

export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private confState: ConfState = { voters: [], learners: [], votersOutgoing: [] };
  private currentSnapshot: Snapshot = {
    data: Buffer.alloc(0),
    metadata: { index: 0, term: 0, confState: { voters: [], learners: [], votersOutgoing: [] } },
  };
  private entriesWithDummy: Entry[] = [{ term: 0, index: 0, type: 0, data: Buffer.alloc(0) }];

  /** Storage for a brand-new cluster member whose initial configuration is `voters` (+ `learners`). */
  static create(voters: readonly NodeId[], learners: readonly NodeId[] = []): MemoryStorage {
    const storage = new MemoryStorage();
    storage.setConfState({ voters: [...voters], learners: [...learners], votersOutgoing: [] });
    return storage;
  }

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: copyConfState(this.confState) };
  }

  setHardState(hardState: HardState): void {
    this.hardState = { ...hardState };
  }

  setConfState(confState: ConfState): void {
    this.confState = copyConfState(confState);
  }

  private offset(): number {
    return this.entriesWithDummy[0]!.index;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.entriesWithDummy.length - 1;
  }

  term(index: number): number {
    const offset = this.offset();
    if (index < offset) throw new StorageCompactedError(index, this.firstIndex());
    if (index > this.lastIndex()) throw new StorageUnavailableError(index, this.lastIndex());
    return this.entriesWithDummy[index - offset]!.term;
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw new StorageCompactedError(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new StorageUnavailableError(hi - 1, this.lastIndex());
    if (lo >= hi) return [];
    return limitBytes(this.entriesWithDummy.slice(lo - offset, hi - offset), bytesMax);
  }

  snapshot(): Snapshot {
    return this.currentSnapshot;
  }

  /**
   * Appends entries, first discarding any stored suffix they replace (a new
   * leader's entries win over uncommitted ones). Entries at or below the
   * snapshot are ignored.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const lastNew = entries[0]!.index + entries.length - 1;
    if (lastNew < first) return;
    const kept = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const start = kept[0]!.index - this.offset();
    assert(start <= this.entriesWithDummy.length, `append at ${kept[0]!.index} leaves no gap after ${this.lastIndex()}`);
    this.entriesWithDummy = this.entriesWithDummy.slice(0, start).concat(kept);
  }

  /** Replaces the log with `snapshot` (received from the leader). Throws SnapshotOutOfDateError if it is not newer. */
  applySnapshot(snapshot: Snapshot): void {
    const metadata = snapshot.metadata;
    assert(metadata !== undefined, 'a snapshot has metadata');
    if (metadata.index <= this.currentSnapshot.metadata!.index) {
      throw new SnapshotOutOfDateError(metadata.index, this.currentSnapshot.metadata!.index);
    }
    this.currentSnapshot = snapshot;
    this.entriesWithDummy = [{ term: metadata.term, index: metadata.index, type: 0, data: Buffer.alloc(0) }];
    if (metadata.confState !== undefined) this.confState = copyConfState(metadata.confState);
    if (this.hardState.commit < metadata.index) this.hardState = { ...this.hardState, commit: metadata.index };
  }

  /**
   * Records a snapshot of the application state at `index` (<= applied), for
   * sending to lagging followers. Compact separately with compact().
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    const currentIndex = this.currentSnapshot.metadata!.index;
    if (index <= currentIndex) throw new SnapshotOutOfDateError(index, currentIndex);
    assert(index <= this.lastIndex(), `snapshot index ${index} is within the log (last ${this.lastIndex()})`);
    this.currentSnapshot = {
      data: Buffer.from(data),
      metadata: { index, term: this.term(index), confState: copyConfState(confState) },
    };
    return this.currentSnapshot;
  }

  /** Discards entries up to and including `index`; they must be covered by a snapshot the app can send. */
  compact(index: number): void {
    const offset = this.offset();
    if (index <= offset) throw new StorageCompactedError(index, this.firstIndex());
    assert(index <= this.lastIndex(), `compact ${index} is within the log (last ${this.lastIndex()})`);
    const dummy = { term: this.entriesWithDummy[index - offset]!.term, index, type: 0, data: Buffer.alloc(0) };
    this.entriesWithDummy = [dummy, ...this.entriesWithDummy.slice(index - offset + 1)];
  }
}
