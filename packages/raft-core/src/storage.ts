import type { ConfState, Entry, HardState, Snapshot } from '@cairn/proto';

/**
 * What raft-core reads from durable storage (etcd's `Storage`, split). All
 * reads are synchronous: the server keeps the log tail and snapshot metadata
 * in memory with LevelDB behind it.
 *
 * Index conventions (as in etcd): the log holds entries firstIndex()..lastIndex().
 * The entry at firstIndex() - 1 is the last one covered by the snapshot; its
 * term is available through term(firstIndex() - 1).
 */
export interface LogReader {
  /** Index of the first entry still in the log (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (snapshot index if the log is empty). */
  lastIndex(): number;
  /**
   * Term of the entry at `index`, for firstIndex() - 1 <= index <= lastIndex().
   * Throws StorageCompactedError below that range and StorageUnavailableError above.
   */
  term(index: number): number;
  /**
   * Entries [lo, hi), at least one entry if lo < hi, then at most `bytesMax`
   * bytes of entry data in total. Throws StorageCompactedError if lo < firstIndex().
   */
  entries(lo: number, hi: number, bytesMax: number): Entry[];
  /** The most recent snapshot (metadata plus data), for sending to a lagging follower. */
  snapshot(): Snapshot;
}

export interface InitialState {
  hardState: HardState;
  confState: ConfState;
}

export interface StateReader {
  initialState(): InitialState;
}

export type Storage = LogReader & StateReader;
