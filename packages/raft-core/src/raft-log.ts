/**
 * The node's log: durable entries (read through LogReader) followed by the
 * unstable tail, plus the commit and apply positions (etcd's raftLog).
 */
import type { Entry, Snapshot } from '@cairn/proto';
import { assert } from '@cairn/proto';
import { RaftError } from './errors.js';
import type { LogReader } from './storage.js';
import { UnstableLog, snapshotIndex, snapshotTerm } from './unstable-log.js';

/** Byte size counted for limits: the entry's payload. */
export function entryBytes(entry: Entry): number {
  return entry.data.length;
}

function isStorageGap(error: unknown): boolean {
  return error instanceof RaftError && (error.code === 'STORAGE_COMPACTED' || error.code === 'STORAGE_UNAVAILABLE');
}

export class RaftLog {
  readonly unstable: UnstableLog;
  /** Highest index known to be committed. */
  committed: number;
  /** Highest index handed to the application in a Ready (not yet advanced). */
  applying: number;
  /** Highest index the application applied. */
  applied: number;

  constructor(readonly storage: LogReader) {
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new UnstableLog(lastIndex + 1);
    // The log starts right after the snapshot, which is committed and applied.
    this.committed = firstIndex - 1;
    this.applying = firstIndex - 1;
    this.applied = firstIndex - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The term at `index`, or undefined if it is compacted or beyond the log. */
  term(index: number): number | undefined {
    const dummyIndex = this.firstIndex() - 1;
    if (index < dummyIndex || index > this.lastIndex()) return undefined;
    const unstableTerm = this.unstable.maybeTerm(index);
    if (unstableTerm !== undefined) return unstableTerm;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (isStorageGap(error)) return undefined;
      throw error;
    }
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, 'the last entry has a term');
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourLastTerm = this.lastTerm();
    return lastTerm > ourLastTerm || (lastTerm === ourLastTerm && lastIndex >= this.lastIndex());
  }

  /**
   * AppendEntries consistency check and append. Returns the index of the last
   * new entry, or undefined if the log does not contain (prevIndex, prevTerm).
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: readonly Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNewIndex = prevIndex + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      assert(conflictIndex > this.committed, `conflict at ${conflictIndex} is above commit ${this.committed}`);
      this.append(entries.slice(conflictIndex - prevIndex - 1));
    }
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return lastNewIndex;
  }

  /** Appends after truncating conflicts; returns the new last index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0]!.index - 1;
    assert(after >= this.committed, `append after ${after} would overwrite committed ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** The first index whose term differs from ours (or is new), or 0 if all match. */
  findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest (index, term) with index <= `index` and term <= `term`
   * (etcd's findConflictByTerm): entries above it cannot match a log whose
   * entry at `index` has `term`. A compacted index answers term 0.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let candidate = index; candidate > 0; candidate -= 1) {
      const candidateTerm = this.term(candidate);
      if (candidateTerm === undefined) return { index: candidate, term: 0 };
      if (candidateTerm <= term) return { index: candidate, term: candidateTerm };
    }
    return { index: 0, term: 0 };
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} is within the log (last ${this.lastIndex()})`);
    this.committed = index;
  }

  /** §5.4.2: commit `index` only if its entry is from the current `term`. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index <= this.applied) return;
    assert(index <= this.committed, `applied ${index} is committed (commit ${this.committed})`);
    this.applied = index;
    this.applying = Math.max(this.applying, index);
  }

  /** Highest index the application may apply: committed and already durable locally. */
  private applicableIndex(): number {
    if (this.unstable.snapshot !== undefined) return this.applying;
    return Math.min(this.committed, this.unstable.offset - 1);
  }

  hasNextCommittedEntries(): boolean {
    return this.applicableIndex() > Math.max(this.applying, this.firstIndex() - 1);
  }

  /** Committed, durable entries not yet handed out, at most `bytesMax` (at least one). */
  nextCommittedEntries(bytesMax: number): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const hi = this.applicableIndex() + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, bytesMax) ?? [];
  }

  /** Entries from `lo` to the end, at most `bytesMax`; undefined if compacted. */
  entriesFrom(lo: number, bytesMax: number): Entry[] | undefined {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, bytesMax);
  }

  /**
   * Entries [lo, hi) limited to `bytesMax` (at least one entry), or undefined
   * if part of the range is compacted.
   */
  slice(lo: number, hi: number, bytesMax: number): Entry[] | undefined {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) is within the log`);
    let result: Entry[] = [];
    const unstableStart = this.unstable.offset;
    if (lo < unstableStart) {
      try {
        result = this.storage.entries(lo, Math.min(hi, unstableStart), bytesMax);
      } catch (error) {
        if (isStorageGap(error)) return undefined;
        throw error;
      }
      // Storage stopped early because of the byte limit.
      if (result.length < Math.min(hi, unstableStart) - lo) return result;
    }
    if (hi > unstableStart) {
      const fromUnstable = this.unstable.slice(Math.max(lo, unstableStart), hi);
      result = result.length === 0 ? fromUnstable : result.concat(fromUnstable);
    }
    return limitBytes(result, bytesMax);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Installs a snapshot received from the leader; the log restarts after it. */
  restore(snapshot: Snapshot): void {
    assert(snapshotIndex(snapshot) > this.committed, 'a restored snapshot is ahead of commit');
    this.committed = snapshotIndex(snapshot);
    this.unstable.restore(snapshot);
  }

  stableTo(index: number, term: number): boolean {
    return this.unstable.stableTo(index, term);
  }

  stableSnapshotTo(index: number): void {
    this.unstable.stableSnapshotTo(index);
  }

  describe(): string {
    return (
      `committed=${this.committed} applied=${this.applied} applying=${this.applying} ` +
      `unstable.offset=${this.unstable.offset} unstable.len=${this.unstable.entries.length} ` +
      `snapshot=${this.unstable.snapshot ? `${snapshotIndex(this.unstable.snapshot)}/${snapshotTerm(this.unstable.snapshot)}` : '-'}`
    );
  }
}

/** The longest prefix within `bytesMax`, but always at least one entry. */
export function limitBytes(entries: Entry[], bytesMax: number): Entry[] {
  let total = 0;
  for (let i = 0; i < entries.length; i += 1) {
    total += entryBytes(entries[i]!);
    if (i > 0 && total > bytesMax) return entries.slice(0, i);
  }
  return entries;
}
