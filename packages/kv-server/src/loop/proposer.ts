/**
 * Writes on their way into the log: queued by request handlers, proposed to
 * raft in the loop's next turn (runs of commands together: one append, one
 * MsgApp per follower), then tracked by log index until the applier settles
 * them. Both stages together are bounded by PENDING_PROPOSALS_MAX.
 */
import { assertNever, ConfChange } from '@cairn/proto';
import type { ProposeRejection, ProposeResult } from '@cairn/raft-core';
import { FailedPreconditionError, NoLeaderError, TimeoutError, TooManyRequestsError, UnknownOutcomeError } from '../errors.js';
import { PENDING_PROPOSALS_MAX } from '../limits.js';
import type { AppliedResult } from './ports.js';
import { ProposalTracker, type Waiter } from './proposals.js';

interface QueuedProposal extends Waiter<AppliedResult | undefined> {
  readonly data: Buffer;
  /** Set for a conf change; a command has none. */
  readonly change: ConfChange | undefined;
}

/** The part of RawNode a leader proposes through. */
export interface ProposeTarget {
  proposeMany(datas: readonly Uint8Array[]): ProposeResult;
  proposeConfChange(change: ConfChange): ProposeResult;
  lastIndexAndTerm(): { lastIndex: number; term: number };
}

export class Proposer {
  private queue: QueuedProposal[] = [];
  /** Proposed and not yet applied, by log index; the applier settles them. */
  readonly pending: ProposalTracker<AppliedResult | undefined>;

  constructor(
    requestTimeoutMs: number,
    private readonly notLeader: () => Error,
  ) {
    this.pending = new ProposalTracker(
      () => new TimeoutError('the write was not committed in time; it may still be applied (retry with the same session to find out)'),
      requestTimeoutMs,
    );
  }

  hasQueued(): boolean {
    return this.queue.length > 0;
  }

  /** Whether one more write would go past the bound. */
  full(): boolean {
    return this.pending.size + this.queue.length >= PENDING_PROPOSALS_MAX;
  }

  command(data: Buffer, waiter: Waiter<AppliedResult | undefined>): void {
    this.queue.push({ data, change: undefined, resolve: waiter.resolve, reject: waiter.reject });
  }

  confChange(change: ConfChange, waiter: Waiter<AppliedResult | undefined>): void {
    this.queue.push({ data: Buffer.from(ConfChange.encode(change).finish()), change, resolve: waiter.resolve, reject: waiter.reject });
  }

  /** Proposes everything queued through `leader`; with none (not the leader) every proposal fails. */
  proposeQueued(leader: ProposeTarget | undefined): void {
    const proposals = this.queue;
    this.queue = [];
    let run: QueuedProposal[] = [];
    for (const p of proposals) {
      if (p.change === undefined) {
        run.push(p);
        continue;
      }
      this.proposeCommands(leader, run);
      run = [];
      this.proposeConfChange(leader, p, p.change);
    }
    this.proposeCommands(leader, run);
  }

  /**
   * This node stopped leading. Pending writes may still commit under the next
   * leader, so their outcome is unknown here (NOT_LEADER would claim nothing
   * was applied). A retry with the same session is answered from the session
   * table, never applied twice.
   */
  leadershipLost(): void {
    this.pending.rejectAll(
      () =>
        new UnknownOutcomeError(
          'leadership changed before the write committed; it may still be applied (retry with the same session to learn the result)',
        ),
    );
  }

  rejectAll(error: () => Error): void {
    this.pending.rejectAll(error);
    const queued = this.queue;
    this.queue = [];
    for (const p of queued) p.reject(error());
  }

  private proposeCommands(leader: ProposeTarget | undefined, proposals: readonly QueuedProposal[]): void {
    if (proposals.length === 0) return;
    const result = leader?.proposeMany(proposals.map((p) => p.data));
    if (leader === undefined || result === undefined || !result.ok) {
      const error = this.refusal(result?.ok === false ? result.reason : 'not-leader');
      for (const p of proposals) p.reject(error);
      return;
    }
    // The leader appended the proposals just now: they are the last entries.
    const { lastIndex, term } = leader.lastIndexAndTerm();
    const first = lastIndex - proposals.length + 1;
    for (let i = 0; i < proposals.length; i++) this.pending.add(first + i, term, proposals[i]!);
  }

  private proposeConfChange(leader: ProposeTarget | undefined, p: QueuedProposal, change: ConfChange): void {
    const result = leader?.proposeConfChange(change);
    if (leader === undefined || result === undefined || !result.ok)
      return p.reject(this.refusal(result?.ok === false ? result.reason : 'not-leader'));
    const { lastIndex, term } = leader.lastIndexAndTerm();
    this.pending.add(lastIndex, term, p);
  }

  private refusal(reason: ProposeRejection): Error {
    switch (reason) {
      case 'too-many-uncommitted':
        return new TooManyRequestsError();
      case 'conf-change-pending':
        return new FailedPreconditionError('another membership change is in progress; retry when it completes');
      case 'conf-change-unsafe':
        return new FailedPreconditionError(
          'the change would leave half the voters or more recovering from a lost disk; retry once they have caught up',
        );
      case 'transfer-in-progress':
        return new NoLeaderError('leadership is being transferred; retry shortly');
      case 'no-leader':
      case 'not-leader':
      case 'invalid-conf-change':
        return this.notLeader();
      default:
        return assertNever(reason);
    }
  }
}
