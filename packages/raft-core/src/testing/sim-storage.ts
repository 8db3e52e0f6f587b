import type { ConfState, Entry, HardState, Snapshot } from '@cairn/proto';
import { MemoryStorage } from '../memory-storage.js';
import type { InitialState, Storage } from '../storage.js';
import type { NodeId } from '../types.js';

/** An earlier copy of a simulated disk: the synced journal up to that point. */
export interface DiskBackup {
  readonly journalLength: number;
}

type Write =
  | { kind: 'append'; entries: readonly Entry[] }
  | { kind: 'hard-state'; hardState: HardState }
  | { kind: 'conf-state'; confState: ConfState }
  | { kind: 'apply-snapshot'; snapshot: Snapshot }
  | { kind: 'create-snapshot'; index: number; confState: ConfState; data: Uint8Array }
  | { kind: 'compact'; index: number };

/**
 * A disk for one simulated node. Reads see everything *written*; only what
 * was *synced* survives `crash()`. Built from two MemoryStorages: `written`
 * takes every write at once, `synced` replays the journal of pending writes
 * on `sync()`. A crash makes `synced` the live copy and rebuilds a fresh
 * `synced` by replaying the journal of every synced write (exact, and cheap
 * at simulation sizes).
 */
export class SimStorage implements Storage {
  private written: MemoryStorage;
  private synced: MemoryStorage;
  private pending: Write[] = [];
  private readonly syncedJournal: Write[] = [];
  /** Counts for the report: how much a crash threw away. */
  writesLost = 0;

  constructor(
    private readonly genesisVoters: readonly NodeId[],
    private readonly genesisLearners: readonly NodeId[] = [],
  ) {
    this.written = MemoryStorage.create([...genesisVoters], [...genesisLearners]);
    this.synced = MemoryStorage.create([...genesisVoters], [...genesisLearners]);
  }

  // LogReader and StateReader: what the node sees is what it wrote.
  firstIndex(): number {
    return this.written.firstIndex();
  }
  lastIndex(): number {
    return this.written.lastIndex();
  }
  term(index: number): number {
    return this.written.term(index);
  }
  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    return this.written.entries(lo, hi, bytesMax);
  }
  /**
   * The snapshot to send a lagging follower. Like etcd's server (which sends a
   * snapshot of the current applied state), the owner may refresh it first
   * through `beforeSnapshotRead`, so its ConfState includes recent members.
   */
  snapshot(): Snapshot {
    this.beforeSnapshotRead();
    return this.written.snapshot();
  }

  /** Index of the current snapshot (without running the refresh hook). */
  snapshotIndex(): number {
    return this.written.snapshot().metadata?.index ?? 0;
  }

  /** Hook run before every snapshot() read; the cluster installs a refresh here. */
  beforeSnapshotRead: () => void = () => {};
  initialState(): InitialState {
    return this.written.initialState();
  }

  get hasUnsyncedWrites(): boolean {
    return this.pending.length > 0;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    this.write({ kind: 'append', entries });
  }
  setHardState(hardState: HardState): void {
    this.write({ kind: 'hard-state', hardState });
  }
  setConfState(confState: ConfState): void {
    this.write({ kind: 'conf-state', confState });
  }
  applySnapshot(snapshot: Snapshot): void {
    this.write({ kind: 'apply-snapshot', snapshot });
  }
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    this.write({ kind: 'create-snapshot', index, confState, data });
    return this.written.snapshot();
  }
  compact(index: number): void {
    this.write({ kind: 'compact', index });
  }

  /** fsync: everything written so far becomes durable. */
  sync(): void {
    for (const write of this.pending) {
      applyWrite(this.synced, write);
      this.syncedJournal.push(write);
    }
    this.pending = [];
  }

  /** Power loss: unsynced writes vanish; reads now see only the synced state. */
  crash(): void {
    this.writesLost += this.pending.length;
    this.pending = [];
    this.written = this.synced;
    this.synced = this.replaySynced();
  }

  /** A copy of the disk as it is now (what an operator's backup or a VM image would hold). */
  backup(): DiskBackup {
    return { journalLength: this.syncedJournal.length };
  }

  /**
   * The disk is lost while the node is down: an empty data dir (`backup`
   * undefined) or one rolled back to an older copy. Either way the node may
   * now hold less than it acknowledged.
   */
  lose(backup?: DiskBackup): void {
    this.pending = [];
    this.syncedJournal.length = backup?.journalLength ?? 0;
    this.synced = this.replaySynced();
    this.written = this.replaySynced();
  }

  /** What the server's startup check does when it finds the loss: a durable fence. */
  markRecovering(): void {
    const { hardState } = this.written.initialState();
    this.setHardState({ ...hardState, recovering: true });
    this.sync();
  }

  /** True if the entry at `index` the node currently sees is on disk (or covered by the synced snapshot). */
  isDurable(index: number): boolean {
    if (index > this.synced.lastIndex()) return false;
    if (index < this.synced.firstIndex()) return true;
    try {
      return this.synced.term(index) === this.written.term(index);
    } catch {
      return false; // the node has since installed a snapshot past it: not the same log
    }
  }

  /** The durable hard state (what a restart will read). */
  syncedInitialState(): InitialState {
    return this.synced.initialState();
  }

  private write(write: Write): void {
    applyWrite(this.written, write);
    this.pending.push(write);
  }

  private replaySynced(): MemoryStorage {
    const copy = MemoryStorage.create([...this.genesisVoters], [...this.genesisLearners]);
    for (const write of this.syncedJournal) applyWrite(copy, write);
    return copy;
  }
}

function applyWrite(storage: MemoryStorage, write: Write): void {
  switch (write.kind) {
    case 'append':
      storage.append([...write.entries]);
      return;
    case 'hard-state':
      storage.setHardState(write.hardState);
      return;
    case 'conf-state':
      storage.setConfState(write.confState);
      return;
    case 'apply-snapshot':
      storage.applySnapshot(write.snapshot);
      return;
    case 'create-snapshot':
      storage.createSnapshot(write.index, write.confState, write.data);
      return;
    case 'compact':
      storage.compact(write.index);
      return;
  }
}
