/**
 * Entries and a snapshot that raft-core holds but the application has not yet
 * persisted (etcd's `unstable`). `entries[i]` has index `offset + i`.
 */
import type { Entry, Snapshot } from '@cairn/proto';
import { assert } from '@cairn/proto';

export class UnstableLog {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];

  constructor(public offset: number) {
    assert(offset >= 1, 'unstable offset is at least 1');
  }

  /** First log index if a snapshot is pending (the log restarts after it). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : snapshotIndex(this.snapshot) + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === undefined ? undefined : snapshotIndex(this.snapshot);
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot !== undefined && snapshotIndex(this.snapshot) === index) return this.snapshot.metadata!.term;
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset]!.term;
  }

  /**
   * The application persisted entries up to (index, term). Ignored if the
   * entry there changed meanwhile (a conflicting append replaced it).
   * Returns whether anything became stable.
   */
  stableTo(index: number, term: number): boolean {
    if (index < this.offset) return false;
    const currentTerm = this.maybeTerm(index);
    if (currentTerm !== term) return false;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
    return true;
  }

  stableSnapshotTo(index: number): void {
    if (this.snapshot !== undefined && snapshotIndex(this.snapshot) === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshotIndex(snapshot) + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Appends `entries`, first truncating any suffix they conflict with. */
  truncateAndAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const after = entries[0]!.index;
    if (after === this.offset + this.entries.length) {
      this.entries.push(...entries);
    } else if (after <= this.offset) {
      // Replace everything; the application's append truncates its copy too.
      this.offset = after;
      this.entries = [...entries];
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries);
    }
  }

  /** Entries [lo, hi), all within the unstable range. */
  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && lo <= hi, `unstable slice [${lo}, ${hi}) starts at or after offset ${this.offset}`);
    assert(hi <= this.offset + this.entries.length, `unstable slice [${lo}, ${hi}) is within the unstable entries`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

export function snapshotIndex(snapshot: Snapshot): number {
  return snapshot.metadata?.index ?? 0;
}

export function snapshotTerm(snapshot: Snapshot): number {
  return snapshot.metadata?.term ?? 0;
}
