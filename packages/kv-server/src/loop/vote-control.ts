/**
 * What the lost-disk check (lost-disk-check.ts) may do to raft: hold and
 * release this node's votes, fence it, settle its term; and what it and a
 * peer's survey read: whether the cluster has run, and raft's view of a peer.
 * Each lever wakes the loop, whose next turn sends what raft decided.
 */
import type { NodeId, RaftStatus, RawNode } from '@cairn/raft-core';
import type { LoopLog, SurveyAnswer } from './ports.js';

export interface VoteControlOptions {
  readonly raft: RawNode;
  readonly storage: Pick<LoopLog, 'term'>;
  readonly stopped: () => boolean;
  readonly wake: () => void;
}

export class VoteControl {
  constructor(private readonly options: VoteControlOptions) {}

  /** Votes held until release() or fence(); call before the loop starts. */
  hold(): void {
    this.options.raft.holdVotes();
  }

  release(): void {
    this.pull((raft) => raft.releaseVotes());
  }

  /** Recovering, the survey complete: raise the term to `term`, the highest the voting peers reported. */
  settleTerm(term: number): void {
    this.pull((raft) => raft.settleTerm(term));
  }

  /** The data dir was lost or rolled back: no vote until a leader catches this node up (durable). */
  fence(): void {
    this.pull((raft) => raft.fence());
  }

  /** Whether an entry of a term past the bootstrap term is committed here: the cluster has run. */
  clusterStarted(): boolean {
    const { commitIndex } = this.options.raft.status();
    if (commitIndex === 0) return false;
    try {
      return this.options.storage.term(commitIndex) > 1;
    } catch {
      return true; // compacted behind a snapshot: the cluster ran
    }
  }

  /** What this node's raft knows of `peer`, which asks at startup whether it lost its disk. */
  surveyAnswer(peer: number): SurveyAnswer {
    const status: RaftStatus = this.options.raft.status();
    const progress = status.role === 'leader' ? status.progress?.get(peer as NodeId) : undefined;
    return {
      clusterStarted: this.clusterStarted(),
      term: status.term,
      matchIndex: progress?.matchIndex ?? 0,
      // Raft may already have found the gap (a rejected append) and lowered the match.
      matchIndexBeforeLoss: progress?.matchIndexBeforeLoss ?? 0,
      voting: !status.recovering && !status.votesHeld,
      voters: status.voters,
    };
  }

  private pull(lever: (raft: RawNode) => void): void {
    if (this.options.stopped()) return;
    lever(this.options.raft);
    this.options.wake();
  }
}
