/**
 * Snapshots and log compaction, as one state machine the loop drives.
 *
 * - Every snapshotEntries applied entries the log is compacted with no
 *   snapshot file (the state machine holds that state; RaftStorage.compact).
 * - When raft needs a snapshot to send and none has a file, one is built in
 *   the background: the state machine's view is captured between apply
 *   batches (a LevelDB snapshot) and streamed to a file without stalling the
 *   loop; the loop records it (file, metadata, compaction) in a later turn,
 *   and raft sends it on its next try.
 * - Cluster.Snapshot takes one inside a turn.
 *
 * Storage writes never overlap: a build starts only from `wanted`, and
 * compaction only from `idle`, so neither runs while a record is written.
 */
import { assert, assertNever, type ConfState } from '@cairn/proto';
import { ShuttingDownError } from '../errors.js';
import { COMPACTION_HOLD_MAX_FACTOR } from '../limits.js';
import type { Logger } from '../logger.js';
import type { Membership } from './membership.js';
import type { LoopStateMachine, NodeEvents, PreparedSnapshot, LoopSnapshots } from './ports.js';
import { snapshotPayload } from './snapshot-payload.js';

/**
 * Where to compact the log: half of snapshotEntries behind the applied index,
 * so a follower slightly behind needs no snapshot (etcd keeps 5000 such
 * entries), and on a leader not past what a live follower still needs (one
 * catching up, or installing a snapshot, which would otherwise need another
 * at once), unless that holds more than COMPACTION_HOLD_MAX_FACTOR ×
 * snapshotEntries entries. `followers` is empty on a follower.
 */
export function compactionIndex(state: {
  appliedIndex: number;
  snapshotEntries: number;
  followers: ReadonlyArray<{ matchIndex: number; recentActive: boolean }>;
}): number {
  let index = state.appliedIndex - Math.floor(state.snapshotEntries / 2);
  const floor = state.appliedIndex - COMPACTION_HOLD_MAX_FACTOR * state.snapshotEntries;
  for (const follower of state.followers) {
    if (!follower.recentActive) continue;
    index = Math.min(index, Math.max(follower.matchIndex, floor));
  }
  return index;
}

interface BuiltSnapshot {
  readonly prepared: PreparedSnapshot;
  readonly confState: ConfState;
}

type SnapshotState =
  /** Nothing under way; compaction may run. */
  | { readonly kind: 'idle' }
  /** raft asked for a snapshot to send and the log is compacted behind one with no file: build one. */
  | { readonly kind: 'wanted' }
  /** A snapshot being encoded in the background; `done` settles once it is `built` (or failed). */
  | { readonly kind: 'building'; readonly index: number; readonly done: Promise<void> }
  /** An encoded snapshot waiting for the loop to record it. */
  | { readonly kind: 'built'; readonly built: BuiltSnapshot }
  /** A compaction or a snapshot record is being written; `wantedMeanwhile` if raft asked for one since. */
  | { readonly kind: 'recording'; readonly wantedMeanwhile: boolean };

type Kind = SnapshotState['kind'];

const NEXT: Record<Kind, readonly Kind[]> = {
  idle: ['wanted', 'recording'],
  wanted: ['wanted', 'idle', 'building', 'recording'],
  building: ['built', 'idle'],
  built: ['idle'],
  recording: ['recording', 'idle', 'wanted'],
};

export interface SnapshotterOptions {
  readonly snapshotEntries: number;
  readonly storage: LoopSnapshots;
  readonly stateMachine: Pick<LoopStateMachine, 'snapshot'>;
  readonly membership: Pick<Membership, 'confState' | 'members'>;
  /** The applied index, which the state machine's view matches between apply batches. */
  readonly appliedIndex: () => number;
  /** The followers' progress on a leader (none on a follower), for where to compact. */
  readonly followers: () => ReadonlyArray<{ matchIndex: number; recentActive: boolean }>;
  readonly stopped: () => boolean;
  /** Asks the loop for a turn. */
  readonly wake: () => void;
  readonly events: NodeEvents;
  readonly logger: Logger;
}

export class Snapshotter {
  private state: SnapshotState = { kind: 'idle' };
  /** Cluster.Snapshot calls waiting for the next turn. */
  private requests: Array<{ resolve(): void; reject(error: Error): void }> = [];
  /** The index the log is compacted at (with or without a snapshot file). */
  private compactedIndex: number;

  constructor(private readonly options: SnapshotterOptions) {
    this.compactedIndex = options.storage.snapshotIndex();
  }

  get index(): number {
    return this.compactedIndex;
  }

  /** raft asked for a snapshot that has no file yet (storage.onSnapshotWanted). */
  want(): void {
    const state = this.state;
    switch (state.kind) {
      case 'idle':
      case 'wanted':
        this.set({ kind: 'wanted' });
        break;
      case 'building':
      case 'built':
        // raft's next try gets the one under way.
        return;
      case 'recording':
        this.set({ kind: 'recording', wantedMeanwhile: true });
        break;
      default:
        assertNever(state);
    }
    this.options.wake();
  }

  /** Whether the loop has snapshot work for a turn. */
  hasWork(): boolean {
    return this.state.kind === 'built' || this.requests.length > 0 || this.buildDue();
  }

  /** The snapshot part of a loop turn; `drained` waits for the apply chain. */
  async turn(drained: () => Promise<void>): Promise<void> {
    if (this.state.kind === 'built') await this.recordBuilt(this.state.built);
    if (this.requests.length > 0) await this.serveRequests(drained);
    if (this.buildDue()) {
      // The view must match the applied index: capture it between apply batches.
      await drained();
      this.maybeStartBuild();
    }
    const compactAt = this.dueCompaction();
    if (compactAt !== undefined) await this.compact(compactAt);
  }

  /** Starts building a wanted snapshot; call only between apply batches, when the state machine matches the applied index. */
  maybeStartBuild(): void {
    if (!this.buildDue()) return;
    // A file recorded since the request serves it.
    if (this.options.storage.snapshotInfo().servable) return this.set({ kind: 'idle' });
    const started = this.capture();
    const done = started.prepared.then(
      (prepared) => {
        this.set({ kind: 'built', built: { prepared, confState: started.confState } });
        this.options.wake();
      },
      (error: unknown) => {
        this.set({ kind: 'idle' });
        if (this.options.stopped()) this.options.logger.debug('snapshot-abandoned', { index: started.index });
        else this.options.logger.error('snapshot-write-failed', { index: started.index, error });
      },
    );
    this.set({ kind: 'building', index: started.index, done });
  }

  /** Takes a snapshot in the loop's next turn (Cluster.Snapshot). */
  async snapshotNow(): Promise<{ index: number; term: number; sizeBytes: number }> {
    await new Promise<void>((resolve, reject) => {
      if (this.options.stopped()) return reject(new ShuttingDownError());
      this.requests.push({ resolve, reject });
      this.options.wake();
    });
    const { index, term } = this.options.storage.snapshotInfo();
    return { index, term, sizeBytes: this.options.storage.snapshotSizeBytes() };
  }

  /** Before a leader's snapshot replaces the state: a local one must not share its file, and one built is stale. */
  async beforeRestore(): Promise<void> {
    await this.settleBuild();
    if (this.state.kind !== 'built') return;
    this.options.logger.debug('snapshot-abandoned', { index: this.state.built.prepared.index });
    this.set({ kind: 'idle' });
  }

  /** A leader's snapshot at `index` replaced the state and the log. */
  restored(index: number): void {
    assert(this.state.kind !== 'building' && this.state.kind !== 'built', 'no local snapshot outlives a restore');
    this.compactedIndex = index;
  }

  async stop(): Promise<void> {
    const requests = this.requests;
    this.requests = [];
    for (const r of requests) r.reject(new ShuttingDownError());
    await this.settleBuild();
  }

  private set(next: SnapshotState): void {
    assert(NEXT[this.state.kind].includes(next.kind), `snapshot state ${this.state.kind} -> ${next.kind}`);
    this.state = next;
  }

  private buildDue(): boolean {
    return this.state.kind === 'wanted' && !this.options.stopped();
  }

  private async settleBuild(): Promise<void> {
    if (this.state.kind === 'building') await this.state.done;
  }

  /** The index to compact at, if due: only when idle, as compacting past a file being built would make it useless. */
  private dueCompaction(): number | undefined {
    if (this.state.kind !== 'idle' || this.options.stopped()) return undefined;
    const { snapshotEntries } = this.options;
    const appliedIndex = this.options.appliedIndex();
    if (appliedIndex - this.compactedIndex < snapshotEntries) return undefined;
    const index = compactionIndex({ appliedIndex, snapshotEntries, followers: this.options.followers() });
    return index > this.compactedIndex ? index : undefined;
  }

  private async compact(index: number): Promise<void> {
    // The membership in force now: a file-less snapshot's ConfState is never sent (a built file carries its own).
    const confState = { ...this.options.membership.confState };
    await this.whileRecording(() => this.options.storage.compact(index, confState));
    this.compactedIndex = index;
    this.options.events.event('log-compacted', { index });
  }

  /**
   * Captures the state at the applied index now (a LevelDB view) and streams
   * it to the snapshot file; the snapshot is never whole in memory.
   */
  private capture(): { index: number; confState: ConfState; prepared: Promise<PreparedSnapshot> } {
    const index = this.options.appliedIndex();
    const view = this.options.stateMachine.snapshot();
    const { membership, storage } = this.options;
    return {
      index,
      confState: { ...membership.confState },
      // close(): the LevelDB view is released even if writing fails before reading it.
      prepared: storage.prepareSnapshot(index, snapshotPayload(membership.members.encode(), view)).finally(() => view.close()),
    };
  }

  private async recordBuilt(built: BuiltSnapshot): Promise<void> {
    this.set({ kind: 'idle' });
    await this.record(built);
  }

  private async record(built: BuiltSnapshot): Promise<void> {
    const { storage } = this.options;
    const index = built.prepared.index;
    const fillsCompaction = index === this.compactedIndex && !storage.snapshotInfo().servable;
    if (index <= this.compactedIndex && !fillsCompaction) return;
    await this.whileRecording(() => storage.recordSnapshot(built.prepared, built.confState));
    this.compactedIndex = index;
    this.options.events.event('snapshot-taken', { index, bytes: built.prepared.bytes });
  }

  private async whileRecording(write: () => Promise<void>): Promise<void> {
    const before = this.state;
    assert(before.kind === 'idle' || before.kind === 'wanted', `recording from ${before.kind}`);
    this.set({ kind: 'recording', wantedMeanwhile: before.kind === 'wanted' });
    try {
      await write();
    } finally {
      const after = this.state;
      assert(after.kind === 'recording', `recording ended in ${after.kind}`);
      this.set(after.wantedMeanwhile ? { kind: 'wanted' } : { kind: 'idle' });
    }
  }

  /** Takes a snapshot inside the turn: finishes (and records) one being built first, as one file is written at a time. */
  private async snapshotInLoop(drained: () => Promise<void>): Promise<void> {
    await drained();
    await this.settleBuild();
    if (this.state.kind === 'built') await this.recordBuilt(this.state.built);
    const { storage } = this.options;
    if (this.options.appliedIndex() <= this.compactedIndex && (this.compactedIndex === 0 || storage.snapshotInfo().servable)) return;
    const started = this.capture();
    await this.record({ prepared: await started.prepared, confState: started.confState });
  }

  private async serveRequests(drained: () => Promise<void>): Promise<void> {
    const requests = this.requests;
    this.requests = [];
    try {
      await this.snapshotInLoop(drained);
      for (const r of requests) r.resolve();
    } catch (error) {
      for (const r of requests) r.reject(error as Error);
      throw error;
    }
  }
}
