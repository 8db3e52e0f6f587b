/**
 * The configuration (voters and learners) and, on the leader, the Progress of
 * every member (etcd's ProgressTracker, for single-server changes only).
 */
import { assert, ConfChangeType, type ConfChange, type ConfState } from '@cairn/proto';
import { Progress } from './progress.js';
import { committedIndex, voteResult, type VoteResult } from './quorum.js';
import type { NodeId } from './types.js';

export class ProgressTracker {
  readonly voters = new Set<NodeId>();
  readonly learners = new Set<NodeId>();
  readonly progress = new Map<NodeId, Progress>();

  constructor(private readonly inflightsMax: number) {}

  /** Replaces the configuration; every member gets fresh Progress starting at `nextIndex`. */
  reset(confState: ConfState, nextIndex: number): void {
    this.voters.clear();
    this.learners.clear();
    this.progress.clear();
    for (const id of confState.voters) this.voters.add(id as NodeId);
    for (const id of confState.learners) {
      if (!this.voters.has(id as NodeId)) this.learners.add(id as NodeId);
    }
    this.resetProgress(nextIndex);
  }

  resetProgress(nextIndex: number): void {
    this.progress.clear();
    for (const id of this.members()) this.addProgress(id, nextIndex);
  }

  private addProgress(id: NodeId, nextIndex: number): Progress {
    const progress = new Progress({ matchIndex: 0, nextIndex, inflightsMax: this.inflightsMax, isLearner: this.learners.has(id) });
    this.progress.set(id, progress);
    return progress;
  }

  members(): NodeId[] {
    return [...this.voters, ...this.learners].sort((a, b) => a - b);
  }

  voterIds(): NodeId[] {
    return [...this.voters].sort((a, b) => a - b);
  }

  isMember(id: NodeId): boolean {
    return this.voters.has(id) || this.learners.has(id);
  }

  confState(): ConfState {
    return {
      voters: this.voterIds(),
      learners: [...this.learners].sort((a, b) => a - b),
      votersOutgoing: [],
    };
  }

  /** The index a majority of voters has acknowledged. */
  committed(): number {
    // The Set itself: order does not matter here, and this runs on every append response.
    // A follower still recovering from lost storage counts for nothing (docs/disk-loss.md).
    return committedIndex(this.voters, (id) => {
      const progress = this.progress.get(id);
      return progress === undefined || progress.recovering ? 0 : progress.matchIndex;
    });
  }

  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    return voteResult(this.voterIds(), votes);
  }

  /** Whether a quorum of voters was recently active (the leader counts itself). */
  quorumActive(selfId: NodeId): boolean {
    const votes = new Map<NodeId, boolean>();
    for (const [id, progress] of this.progress) {
      // A follower still recovering from lost storage does not keep a leader in office.
      if (this.voters.has(id)) votes.set(id, id === selfId || (progress.recentActive && !progress.recovering));
    }
    return this.voteResult(votes) === 'won';
  }

  /**
   * Applies one single-server change. New members start probing at
   * `nextIndex` and count as recently active so CheckQuorum gives them a round.
   */
  applyChange(change: ConfChange, nextIndex: number): void {
    const id = change.nodeId as NodeId;
    assert(id !== 0, 'a conf change names a node');
    switch (change.type) {
      case ConfChangeType.ADD_NODE:
        this.learners.delete(id);
        this.voters.add(id);
        break;
      case ConfChangeType.ADD_LEARNER_NODE:
        this.voters.delete(id);
        this.learners.add(id);
        break;
      case ConfChangeType.REMOVE_NODE:
        this.voters.delete(id);
        this.learners.delete(id);
        this.progress.delete(id);
        return;
      case ConfChangeType.UNRECOGNIZED:
        return;
    }
    const existing = this.progress.get(id);
    if (existing !== undefined) {
      existing.isLearner = this.learners.has(id);
    } else {
      this.addProgress(id, nextIndex).recentActive = true;
    }
  }
}
