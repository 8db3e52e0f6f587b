/**
 * The Raft state machine: roles, terms, elections, replication, ReadIndex,
 * leader transfer and membership (modelled on etcd-io/raft's raft.go).
 *
 * Messages leave through three queues: `msgs` may be sent at once,
 * `msgsAfterPersist` only once the Ready that carried them is durable, and
 * `selfMsgsAfterPersist` (this node's own vote and log acknowledgements) are
 * stepped by RawNode.advance(), so nothing counts this node's vote or log
 * before it is durable.
 */
import {
  assert,
  assertNever,
  ConfChangeType,
  EntryType,
  MessageType,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type Snapshot,
} from '@cairn/proto';
import { decodeConfChange, isAcceptableConfChange } from './conf-change.js';
import type { ResolvedRaftConfig } from './config.js';
import { RaftError } from './errors.js';
import { PENDING_READS_BEFORE_COMMIT_MAX, READ_STATES_MAX } from './limits.js';
import { isResponseMessage, voteResponseType } from './messages.js';
import { RaftLog, entryBytes } from './raft-log.js';
import { ReadOnly, type ReadRequest } from './read-only.js';
import type { ReadState } from './ready.js';
import type { Rng } from './rng.js';
import type { Storage } from './storage.js';
import type { Progress } from './progress.js';
import { ProgressTracker } from './tracker.js';
import { NO_NODE, type NodeId, type ProposeResult, type Role, type Term } from './types.js';
import { snapshotIndex, snapshotTerm } from './unstable-log.js';

/** Marks vote requests of a TimeoutNow-triggered campaign: they bypass the leader lease. */
export const CAMPAIGN_TRANSFER_CONTEXT: Buffer = Buffer.from('campaign-transfer', 'utf8');
const EMPTY_BYTES: Buffer = Buffer.alloc(0);

type CampaignKind = 'pre-election' | 'election' | 'transfer';

/** Builds a Message with every field defaulted. */
export function newMessage(fields: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    to: 0,
    from: 0,
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    snapshot: undefined,
    reject: false,
    rejectHint: 0,
    context: EMPTY_BYTES,
    ...fields,
  };
}

/** Whether `change` takes `id` out of the voters. */
function removesOrDemotes(change: ConfChange, id: NodeId): boolean {
  return change.nodeId === id && (change.type === ConfChangeType.REMOVE_NODE || change.type === ConfChangeType.ADD_LEARNER_NODE);
}

function isTransferCampaign(context: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(context), CAMPAIGN_TRANSFER_CONTEXT) === 0;
}

export class Raft {
  readonly id: NodeId;
  term: Term = 0 as Term;
  vote: NodeId = NO_NODE;
  role: Role = 'follower';
  leaderId: NodeId = NO_NODE;
  isLearner = false;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;

  msgs: Message[] = [];
  msgsAfterPersist: Message[] = [];
  selfMsgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  leadTransferee: NodeId = NO_NODE;
  /** Index of the newest conf-change entry this leader appended; no new one until it is applied. */
  pendingConfIndex = 0;
  /**
   * Index of a conf change in this leader's log, not yet applied, that removes
   * or demotes this node; 0 if none. The leader appends nothing after it: once
   * it applies the change it steps down and cannot campaign, yet voters that
   * have not applied the change still need its vote, which it refuses to any
   * log shorter than its own. So its log must end where the change commits.
   */
  selfRemovalIndex = 0;
  uncommittedBytes = 0;
  /**
   * Durable: this node lost or rolled back its storage, so it may hold less
   * than it once acknowledged, and it may have forgotten its vote and even its
   * term (docs/disk-loss.md). It neither votes nor campaigns, and its leader
   * counts it toward no quorum, until it is caught up: see maybeEndRecovery.
   */
  recovering = false;
  /**
   * Volatile: the application has raised this recovering node's term to the
   * highest its peers reported (settleTerm), so no leader of a term the
   * cluster has left behind can catch it up. Recovery waits for it.
   */
  termSettled = false;
  /**
   * Volatile: the application has not yet established that this node's
   * storage is current (a restart waiting for its peers' answers): it neither
   * votes nor campaigns, nor takes a commit index from heartbeats, until
   * releaseVotes() or fence().
   */
  votesHeld = false;
  /**
   * The term in which this node's responses carry `afterLoss`: any term in
   * which it was recovering (durable, as HardState.flaggedTerm). Its leader in
   * that term ignores unflagged responses, which may predate the loss.
   */
  recoveringAcksTerm = -1;
  private votes = new Map<NodeId, boolean>();
  private readOnly = new ReadOnly();
  /** ReadIndex requests held until this leader commits an entry of its term. */
  private pendingReadIndexMessages: Message[] = [];

  constructor(
    readonly config: ResolvedRaftConfig,
    storage: Storage,
    private readonly rng: Rng,
  ) {
    this.id = config.id;
    this.log = new RaftLog(storage);
    this.tracker = new ProgressTracker(config.maxInflightMsgs);
    const { hardState, confState } = storage.initialState();
    this.tracker.reset(confState, this.log.lastIndex() + 1);
    this.isLearner = this.tracker.learners.has(this.id);
    this.loadHardState(hardState.term, hardState.vote, hardState.commit);
    this.recovering = hardState.recovering === true;
    this.votesHeld = config.holdVotes;
    this.recoveringAcksTerm = hardState.flaggedTerm ?? -1;
    if (config.appliedIndex > this.log.committed) {
      // The application applied it, so it was committed; the commit index in
      // the hard state may simply not have been synced.
      this.log.commitTo(Math.min(config.appliedIndex, this.log.lastIndex()));
    }
    this.log.appliedTo(Math.min(config.appliedIndex, this.log.committed));
    this.becomeFollower(this.term, NO_NODE);
  }

  private loadHardState(term: number, vote: number, commit: number): void {
    assert(commit <= this.log.lastIndex(), `hard state commit ${commit} is within the log (last ${this.log.lastIndex()})`);
    this.term = term as Term;
    this.vote = vote as NodeId;
    this.log.commitTo(commit);
  }

  // ---- roles -------------------------------------------------------------

  private reset(term: Term): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NO_NODE;
    }
    this.leaderId = NO_NODE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.config.electionTicks + this.rng.intBelow(this.config.electionTicks);
    this.leadTransferee = NO_NODE;
    this.votes = new Map();
    this.tracker.resetProgress(this.log.lastIndex() + 1);
    this.pendingConfIndex = 0;
    this.selfRemovalIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(term: Term, leaderId: NodeId): void {
    this.reset(term);
    this.role = 'follower';
    this.leaderId = leaderId;
  }

  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not become a pre-candidate');
    // A pre-candidate keeps its term and vote: a pre-election changes nothing durable.
    this.votes = new Map();
    this.leaderId = NO_NODE;
    this.role = 'pre-candidate';
  }

  becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not become a candidate');
    this.reset((this.term + 1) as Term);
    this.vote = this.id;
    this.role = 'candidate';
  }

  becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.reset(this.term);
    this.leaderId = this.id;
    this.role = 'leader';
    const self = this.tracker.progress.get(this.id);
    assert(self !== undefined, 'a leader is a member');
    self.becomeReplicate();
    self.recentActive = true;
    // Conservatively treat the whole log as possibly holding a conf change.
    this.pendingConfIndex = this.log.lastIndex();
    // §8: commit an entry of the new term to learn what is committed.
    this.appendEntries([{ term: 0, index: 0, type: EntryType.NORMAL, data: EMPTY_BYTES }]);
    this.selfRemovalIndex = this.findUnappliedSelfRemoval();
  }

  /** The index of an unapplied conf change in our log that removes or demotes us, or 0. */
  private findUnappliedSelfRemoval(): number {
    const lo = this.log.applied + 1;
    // Entries above the applied index are never compacted; `?? []` only guards a storage gap.
    const entries = this.log.slice(lo, this.log.lastIndex() + 1, Number.MAX_SAFE_INTEGER) ?? [];
    let found = 0;
    for (const entry of entries) {
      if (entry.type !== EntryType.CONF_CHANGE) continue;
      try {
        if (removesOrDemotes(decodeConfChange(entry), this.id)) found = entry.index;
      } catch {
        // A malformed change is refused when applied; it removes nobody.
      }
    }
    return found;
  }

  /** Whether this node may campaign: a voter whose vote is safe, not in the middle of installing a snapshot. */
  promotable(): boolean {
    return this.tracker.voters.has(this.id) && this.log.unstable.snapshot === undefined && this.mayVote();
  }

  /**
   * Whether this node's responses carry `afterLoss` now (see
   * recoveringAcksTerm). A node whose votes are held may have lost its disk
   * (that is what its check is finding out), so it is flagged like one.
   */
  flagsAcks(): boolean {
    if (!this.mayVote()) this.recoveringAcksTerm = this.term;
    return this.recoveringAcksTerm === this.term;
  }

  /** Neither recovering from lost storage nor waiting to learn whether it did. */
  mayVote(): boolean {
    return !this.recovering && !this.votesHeld;
  }

  /** The application found that this node's storage was lost or rolled back. */
  fence(): void {
    this.recovering = true;
    this.termSettled = false;
    this.votesHeld = false;
  }

  /**
   * Every other voter answered the application's survey and a majority of the
   * voters may vote; `term` is the highest term of those that may. Every entry
   * committed so far was committed in a term no later than it, and every
   * candidate this node could have voted for before the loss, and that could
   * still win, answered with its term. Raising our term there refuses every
   * leader of an earlier term, and taking the vote in it (as if for ourselves)
   * refuses to vote twice in a term we may have voted in (docs/disk-loss.md).
   */
  settleTerm(term: number): void {
    if (!this.recovering) return;
    if (term > this.term) this.becomeFollower(term as Term, NO_NODE);
    if (this.vote === NO_NODE) this.vote = this.id;
    this.termSettled = true;
  }

  /** The application found no sign of lost storage. */
  releaseVotes(): void {
    this.votesHeld = false;
  }

  /**
   * After a successful append (`lastNewIndex` is our log's end as the leader
   * knows it): a recovering node may vote again once (0) its term is settled,
   * so this leader's term is at least every term anything was committed in,
   * (1) the leader has confirmed that it counts only our after-loss responses
   * (so nothing it commits from now on rests on an ack we lost), (2) we hold
   * its whole committed prefix, and (3) that prefix ends in an entry of its
   * own term, so it covers every entry committed in earlier terms
   * (docs/disk-loss.md has the argument).
   */
  private maybeEndRecovery(message: Message, lastNewIndex: number): void {
    if (!this.recovering || !this.termSettled || message.afterLoss !== true) return;
    if (message.commit > lastNewIndex || message.commit === 0 || this.log.term(message.commit) !== message.term) return;
    this.recovering = false;
  }

  // ---- ticks -------------------------------------------------------------

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed += 1;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.HUP, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed += 1;
    this.electionElapsed += 1;
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) this.step(newMessage({ type: MessageType.CHECK_QUORUM, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NO_NODE) this.abortLeaderTransfer();
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.BEAT, from: this.id }));
    }
  }

  // ---- sending -----------------------------------------------------------

  /** Queues `message` from this node; see the file comment for the three queues. */
  private send(message: Message): void {
    if (message.from === 0) message.from = this.id;
    const isVoteType =
      message.type === MessageType.VOTE ||
      message.type === MessageType.PRE_VOTE ||
      message.type === MessageType.VOTE_RESP ||
      message.type === MessageType.PRE_VOTE_RESP;
    if (isVoteType) {
      assert(message.term !== 0, 'vote messages carry an explicit term');
    } else if (message.type === MessageType.PROP || message.type === MessageType.READ_INDEX) {
      message.term = 0;
    } else {
      message.term = this.term;
    }
    if (message.type === MessageType.APP_RESP || message.type === MessageType.HEARTBEAT_RESP) {
      if (this.flagsAcks()) {
        message.afterLoss = true;
        if (!this.mayVote()) message.recovering = true;
      }
    }
    const afterPersist =
      message.type === MessageType.APP_RESP || message.type === MessageType.VOTE_RESP || message.type === MessageType.PRE_VOTE_RESP;
    if (message.to === this.id) {
      assert(afterPersist, 'only acknowledgements are addressed to self');
      this.selfMsgsAfterPersist.push(message);
    } else if (afterPersist) {
      this.msgsAfterPersist.push(message);
    } else {
      this.msgs.push(message);
    }
  }

  // ---- step --------------------------------------------------------------

  /** Handles one message: terms first (§5.1), then the role's handler. */
  step(message: Message): void {
    if (message.term > this.term) {
      if (!this.stepHigherTerm(message)) return;
    } else if (message.term !== 0 && message.term < this.term) {
      this.stepLowerTerm(message);
      return;
    }
    switch (message.type) {
      case MessageType.HUP:
        this.hup(this.config.preVote ? 'pre-election' : 'election');
        return;
      case MessageType.VOTE:
      case MessageType.PRE_VOTE:
        this.handleVoteRequest(message);
        return;
      default:
        break;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(message);
        return;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(message);
        return;
      case 'follower':
        this.stepFollower(message);
        return;
      default:
        assertNever(this.role);
    }
  }

  /** A message from a later term. Returns whether to go on handling it. */
  private stepHigherTerm(message: Message): boolean {
    const isVoteRequest = message.type === MessageType.VOTE || message.type === MessageType.PRE_VOTE;
    if (isVoteRequest) {
      const force = isTransferCampaign(message.context);
      const inLease = this.config.checkQuorum && this.leaderId !== NO_NODE && this.electionElapsed < this.config.electionTicks;
      // Leader lease: while we hear from a leader, ignore disruptive candidates.
      if (!force && inLease) return false;
    }
    if (message.type === MessageType.PRE_VOTE) {
      // A pre-vote never changes our term.
    } else if (message.type === MessageType.PRE_VOTE_RESP && !message.reject) {
      // A granted pre-vote carries the term we would campaign in; we move there on a quorum.
    } else if (message.type === MessageType.APP || message.type === MessageType.HEARTBEAT || message.type === MessageType.SNAP) {
      this.becomeFollower(message.term as Term, message.from as NodeId);
    } else {
      this.becomeFollower(message.term as Term, NO_NODE);
    }
    return true;
  }

  private stepLowerTerm(message: Message): void {
    // A node that may not vote never campaigns, so this answer is the only way
    // a leader of an older term learns the newer one and steps down.
    if (
      (this.config.checkQuorum || this.config.preVote || !this.mayVote()) &&
      (message.type === MessageType.HEARTBEAT || message.type === MessageType.APP)
    ) {
      // A stale leader (e.g. partitioned away) learns our term and steps down;
      // without this it could stall a pre-voting or lease-holding cluster.
      this.send(newMessage({ type: MessageType.APP_RESP, to: message.from }));
    } else if (message.type === MessageType.PRE_VOTE) {
      this.send(newMessage({ type: MessageType.PRE_VOTE_RESP, to: message.from, term: this.term, reject: true }));
    }
    // Anything else from an old term is ignored.
  }

  private handleVoteRequest(message: Message): void {
    const responseType = voteResponseType(message.type as MessageType.VOTE | MessageType.PRE_VOTE);
    const candidate = message.from as NodeId;
    const canVote =
      this.mayVote() &&
      (this.vote === candidate ||
        (this.vote === NO_NODE && this.leaderId === NO_NODE) ||
        (message.type === MessageType.PRE_VOTE && message.term > this.term));
    if (canVote && this.log.isUpToDate(message.index, message.logTerm)) {
      // A granted vote is sent in the candidate's term (for a pre-vote, its future term).
      this.send(newMessage({ type: responseType, to: candidate, term: message.term }));
      if (message.type === MessageType.VOTE) {
        this.electionElapsed = 0;
        this.vote = candidate;
      }
    } else if (this.term > 0) {
      // (A node with no term yet, a wiped one, has no term to refuse in; silence refuses as well.)
      this.send(newMessage({ type: responseType, to: candidate, term: this.term, reject: true }));
    }
  }

  // ---- elections ---------------------------------------------------------

  private hup(kind: CampaignKind): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // A committed but unapplied conf change could change who may campaign.
    if (this.hasUnappliedConfChanges()) return;
    this.campaign(kind);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    const entries = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    return (entries ?? []).some((entry) => entry.type === EntryType.CONF_CHANGE);
  }

  private campaign(kind: CampaignKind): void {
    let voteType: MessageType.VOTE | MessageType.PRE_VOTE;
    let term: number;
    if (kind === 'pre-election') {
      this.becomePreCandidate();
      voteType = MessageType.PRE_VOTE;
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = MessageType.VOTE;
      term = this.term;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.tracker.voterIds()) {
      if (id === this.id) {
        // Our own vote counts only once the Ready carrying it is durable.
        this.send(newMessage({ type: voteResponseType(voteType), to: id, term }));
        continue;
      }
      this.send(
        newMessage({
          type: voteType,
          to: id,
          term,
          index: lastIndex,
          logTerm: lastTerm,
          context: kind === 'transfer' ? CAMPAIGN_TRANSFER_CONTEXT : EMPTY_BYTES,
        }),
      );
    }
  }

  private stepCandidate(message: Message): void {
    const myResponseType = this.role === 'pre-candidate' ? MessageType.PRE_VOTE_RESP : MessageType.VOTE_RESP;
    switch (message.type) {
      case MessageType.APP:
        this.becomeFollower(message.term as Term, message.from as NodeId);
        this.handleAppendEntries(message);
        return;
      case MessageType.HEARTBEAT:
        this.becomeFollower(message.term as Term, message.from as NodeId);
        this.handleHeartbeat(message);
        return;
      case MessageType.SNAP:
        this.becomeFollower(message.term as Term, message.from as NodeId);
        this.handleSnapshot(message);
        return;
      case MessageType.VOTE_RESP:
      case MessageType.PRE_VOTE_RESP:
        if (message.type === myResponseType) this.handleVoteResponse(message);
        return;
      case MessageType.PROP:
      case MessageType.READ_INDEX:
      case MessageType.TIMEOUT_NOW:
      case MessageType.TRANSFER_LEADER:
      case MessageType.APP_RESP:
      case MessageType.HEARTBEAT_RESP:
      case MessageType.READ_INDEX_RESP:
      case MessageType.SNAP_STATUS:
      case MessageType.UNREACHABLE:
      case MessageType.BEAT:
      case MessageType.CHECK_QUORUM:
      case MessageType.HUP:
      case MessageType.VOTE:
      case MessageType.PRE_VOTE:
      case MessageType.UNSPECIFIED:
      case MessageType.UNRECOGNIZED:
        return; // Nothing for a candidate to do (proposals are dropped: no leader).
      default:
        assertNever(message.type);
    }
  }

  private handleVoteResponse(message: Message): void {
    const voter = message.from as NodeId;
    if (!this.votes.has(voter)) this.votes.set(voter, !message.reject);
    switch (this.tracker.voteResult(this.votes)) {
      case 'won':
        if (this.role === 'pre-candidate') {
          this.campaign('election');
        } else {
          this.becomeLeader();
          this.broadcastAppend();
        }
        return;
      case 'lost':
        this.becomeFollower(this.term, NO_NODE);
        return;
      case 'pending':
        return;
    }
  }

  // ---- follower ----------------------------------------------------------

  private stepFollower(message: Message): void {
    switch (message.type) {
      case MessageType.PROP:
      case MessageType.READ_INDEX:
      case MessageType.TRANSFER_LEADER:
        // Forwarded to the leader as etcd does; dropped when there is none.
        if (this.leaderId === NO_NODE) return;
        this.send({ ...message, to: this.leaderId });
        return;
      case MessageType.APP:
        this.electionElapsed = 0;
        this.leaderId = message.from as NodeId;
        this.handleAppendEntries(message);
        return;
      case MessageType.HEARTBEAT:
        this.electionElapsed = 0;
        this.leaderId = message.from as NodeId;
        this.handleHeartbeat(message);
        return;
      case MessageType.SNAP:
        this.electionElapsed = 0;
        this.leaderId = message.from as NodeId;
        this.handleSnapshot(message);
        return;
      case MessageType.TIMEOUT_NOW:
        // Leader transfer: campaign at once, without a pre-vote and past the lease.
        this.hup('transfer');
        return;
      case MessageType.READ_INDEX_RESP:
        if (this.readStates.length < READ_STATES_MAX) {
          this.readStates.push({ index: message.index, context: message.context });
        }
        return;
      case MessageType.APP_RESP:
      case MessageType.HEARTBEAT_RESP:
      case MessageType.VOTE_RESP:
      case MessageType.PRE_VOTE_RESP:
      case MessageType.SNAP_STATUS:
      case MessageType.UNREACHABLE:
      case MessageType.BEAT:
      case MessageType.CHECK_QUORUM:
      case MessageType.HUP:
      case MessageType.VOTE:
      case MessageType.PRE_VOTE:
      case MessageType.UNSPECIFIED:
      case MessageType.UNRECOGNIZED:
        return;
      default:
        assertNever(message.type);
    }
  }

  private handleAppendEntries(message: Message): void {
    if (message.index < this.log.committed) {
      // Everything up to our commit index matches the leader already.
      this.send(newMessage({ type: MessageType.APP_RESP, to: message.from, index: this.log.committed }));
      return;
    }
    const lastNewIndex = this.log.maybeAppend(message.index, message.logTerm, message.commit, message.entries);
    if (lastNewIndex !== undefined) {
      this.send(newMessage({ type: MessageType.APP_RESP, to: message.from, index: lastNewIndex }));
      this.maybeEndRecovery(message, lastNewIndex);
      return;
    }
    // Fast backtracking: tell the leader the last (index, term) that could match.
    const hint = this.log.findConflictByTerm(Math.min(message.index, this.log.lastIndex()), message.logTerm);
    this.send(
      newMessage({
        type: MessageType.APP_RESP,
        to: message.from,
        index: message.index,
        reject: true,
        rejectHint: hint.index,
        logTerm: hint.term,
      }),
    );
  }

  private handleHeartbeat(message: Message): void {
    // The leader only sends commit <= our acknowledged match; clamp in case our log lost a suffix.
    // A node that lost its storage cannot trust that match (its log may differ
    // below it): only an append, which checks the log, moves its commit index.
    if (this.mayVote()) this.log.commitTo(Math.min(message.commit, this.log.lastIndex()));
    this.send(newMessage({ type: MessageType.HEARTBEAT_RESP, to: message.from, context: message.context }));
    if (message.commit > this.log.lastIndex()) {
      // We once acknowledged entries we no longer have (wiped data dir). An idle
      // leader would never send an append for us to reject, so tell it now.
      const last = this.log.lastIndex();
      this.send(
        newMessage({
          type: MessageType.APP_RESP,
          to: message.from,
          index: message.commit,
          reject: true,
          rejectHint: last,
          logTerm: this.log.term(last) ?? 0,
        }),
      );
    }
  }

  private handleSnapshot(message: Message): void {
    const snapshot = message.snapshot!;
    if (this.restore(snapshot)) {
      this.send(newMessage({ type: MessageType.APP_RESP, to: message.from, index: this.log.lastIndex() }));
    } else {
      this.send(newMessage({ type: MessageType.APP_RESP, to: message.from, index: this.log.committed }));
    }
  }

  /** Installs `snapshot` if it is news to us; returns whether it was installed. */
  private restore(snapshot: Snapshot): boolean {
    const index = snapshotIndex(snapshot);
    const term = snapshotTerm(snapshot);
    if (index <= this.log.committed) return false;
    if (this.role !== 'follower') {
      // Only a follower installs snapshots; this should not happen (belt and braces, as etcd).
      this.becomeFollower((this.term + 1) as Term, NO_NODE);
      return false;
    }
    const confState = snapshot.metadata!.confState!;
    const inConfig = confState.voters.includes(this.id) || confState.learners.includes(this.id);
    if (!inConfig) return false;
    if (this.log.matchTerm(index, term)) {
      // We have the snapshot's last entry: just fast-forward the commit index.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snapshot);
    this.tracker.reset(confState, this.log.lastIndex() + 1);
    this.isLearner = this.tracker.learners.has(this.id);
    return true;
  }

  // ---- leader ------------------------------------------------------------

  private stepLeader(message: Message): void {
    switch (message.type) {
      case MessageType.BEAT:
        this.broadcastHeartbeat();
        return;
      case MessageType.CHECK_QUORUM:
        this.checkQuorum();
        return;
      case MessageType.PROP:
        this.proposeAsLeader(message.entries);
        return;
      case MessageType.READ_INDEX:
        this.handleReadIndex(message);
        return;
      case MessageType.APP_RESP:
        this.handleAppendResponse(message);
        return;
      case MessageType.HEARTBEAT_RESP:
        this.handleHeartbeatResponse(message);
        return;
      case MessageType.SNAP_STATUS:
        this.handleSnapshotStatus(message);
        return;
      case MessageType.UNREACHABLE: {
        const progress = this.tracker.progress.get(message.from as NodeId);
        // Sending in replicate state assumed delivery; fall back to probing.
        if (progress?.state === 'replicate') progress.becomeProbe();
        return;
      }
      case MessageType.TRANSFER_LEADER:
        this.handleTransferLeader(message.from as NodeId);
        return;
      case MessageType.APP:
      case MessageType.HEARTBEAT:
      case MessageType.SNAP:
      case MessageType.TIMEOUT_NOW:
      case MessageType.VOTE_RESP:
      case MessageType.PRE_VOTE_RESP:
      case MessageType.READ_INDEX_RESP:
      case MessageType.HUP:
      case MessageType.VOTE:
      case MessageType.PRE_VOTE:
      case MessageType.UNSPECIFIED:
      case MessageType.UNRECOGNIZED:
        return; // Not for a leader (another leader in our term cannot exist; such input is garbage).
      default:
        assertNever(message.type);
    }
  }

  private checkQuorum(): void {
    if (!this.tracker.quorumActive(this.id)) {
      this.becomeFollower(this.term, NO_NODE);
      return;
    }
    for (const [id, progress] of this.tracker.progress) {
      if (id !== this.id) progress.recentActive = false;
    }
  }

  /** Whether this leader has committed an entry of its own term (§8, thesis §6.4). */
  committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Local proposals (RawNode.propose) and forwarded MsgProp. */
  propose(entries: readonly Entry[]): ProposeResult {
    switch (this.role) {
      case 'leader':
        return this.proposeAsLeader(entries);
      case 'follower':
        if (this.leaderId === NO_NODE) return { ok: false, reason: 'no-leader' };
        this.send(newMessage({ type: MessageType.PROP, to: this.leaderId, entries: [...entries] }));
        return { ok: true };
      case 'candidate':
      case 'pre-candidate':
        return { ok: false, reason: 'no-leader' };
      default:
        return assertNever(this.role);
    }
  }

  private proposeAsLeader(entries: readonly Entry[]): ProposeResult {
    assert(this.role === 'leader', 'only a leader appends proposals');
    if (entries.length === 0) return { ok: true };
    // A leader removed from the configuration no longer accepts proposals.
    if (!this.tracker.progress.has(this.id)) return { ok: false, reason: 'not-leader' };
    // Leaving: see selfRemovalIndex. Clients retry on the next leader.
    if (this.leadTransferee !== NO_NODE || this.selfRemovalIndex !== 0) return { ok: false, reason: 'transfer-in-progress' };
    const confChanges = entries.filter((entry) => entry.type === EntryType.CONF_CHANGE);
    if (confChanges.length > 0) {
      const rejection = this.checkConfChanges(confChanges);
      if (rejection !== undefined) return { ok: false, reason: rejection };
    }
    if (!this.increaseUncommittedBytes(entries)) return { ok: false, reason: 'too-many-uncommitted' };
    const firstIndex = this.log.lastIndex() + 1;
    this.appendEntries(entries);
    if (confChanges.length > 0) {
      this.pendingConfIndex = this.log.lastIndex();
      // checkConfChanges decoded it already, so this cannot throw.
      const change = confChanges[0]!;
      if (removesOrDemotes(decodeConfChange(change), this.id)) this.selfRemovalIndex = firstIndex + entries.indexOf(change);
    }
    this.broadcastAppend();
    return { ok: true };
  }

  private checkConfChanges(
    confChanges: readonly Entry[],
  ): 'conf-change-pending' | 'invalid-conf-change' | 'conf-change-unsafe' | undefined {
    if (confChanges.length > 1) return 'conf-change-pending';
    // One change at a time: the previous one must be applied before the next is appended.
    if (this.pendingConfIndex > this.log.applied) return 'conf-change-pending';
    // Ongaro (raft-dev, 2015): a leader must commit an entry of its term before
    // changing membership, or a single-server change can lose a committed one.
    if (!this.committedInCurrentTerm()) return 'conf-change-pending';
    let change: ConfChange;
    try {
      change = decodeConfChange(confChanges[0]!);
    } catch {
      return 'invalid-conf-change';
    }
    if (!isAcceptableConfChange(change, this.tracker)) return 'invalid-conf-change';
    return this.leavesVotersRecovering(change) ? 'conf-change-unsafe' : undefined;
  }

  /**
   * Whether, after `change`, half the voters or more would be recovering from
   * lost storage: they count toward no quorum, so no leader could commit, be
   * elected, or catch them up, and nothing could undo the change.
   */
  private leavesVotersRecovering(change: ConfChange): boolean {
    const voters = new Set(this.tracker.voters);
    if (change.type === ConfChangeType.ADD_NODE) voters.add(change.nodeId as NodeId);
    else voters.delete(change.nodeId as NodeId);
    let recovering = 0;
    for (const id of voters) if (this.tracker.progress.get(id)?.recovering === true) recovering++;
    return recovering > 0 && recovering * 2 >= voters.size;
  }

  private increaseUncommittedBytes(entries: readonly Entry[]): boolean {
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    // An empty or first proposal always fits, so one large entry cannot be stuck forever.
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.config.maxUncommittedEntriesBytes) {
      return false;
    }
    this.uncommittedBytes += bytes;
    return true;
  }

  /** Called as committed entries are handed to the application. */
  reduceUncommittedBytes(entries: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    let bytes = 0;
    for (const entry of entries) bytes += entryBytes(entry);
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - bytes);
  }

  private appendEntries(entries: readonly Entry[]): void {
    let index = this.log.lastIndex();
    const stamped = entries.map((entry) => {
      index += 1;
      return { term: this.term as number, index, type: entry.type, data: entry.data };
    });
    this.log.append(stamped);
    // This node's own match advances in RawNode.advance(), once the entries are durable.
  }

  /** Called by RawNode.advance() when this node's log is durable up to `index`. */
  acknowledgeOwnLog(index: number): void {
    if (this.role !== 'leader') return;
    this.step(newMessage({ type: MessageType.APP_RESP, from: this.id, to: this.id, term: this.term, index }));
  }

  private handleAppendResponse(message: Message): void {
    const from = message.from as NodeId;
    const progress = this.tracker.progress.get(from);
    if (progress === undefined) return;
    if (!this.trustAck(progress, message)) return;
    progress.recentActive = true;
    if (message.reject) {
      let hintIndex = message.rejectHint;
      if (message.logTerm > 0) hintIndex = this.log.findConflictByTerm(message.rejectHint, message.logTerm).index;
      if (progress.state !== 'snapshot' && message.rejectHint < progress.matchIndex) {
        // The follower no longer has entries it acknowledged (wiped data dir).
        // Checked first: maybeDecrTo never moves nextIndex below matchIndex + 1.
        progress.resetAfterLogLoss(message.rejectHint);
        this.sendAppend(from);
      } else if (progress.maybeDecrTo(message.index, hintIndex)) {
        if (progress.state === 'replicate') progress.becomeProbe();
        this.sendAppend(from);
      }
      return;
    }
    // Nobody can hold an entry beyond our log: such an ack is not about our log
    // (it came from a node whose storage outlived a leader that lacks it).
    if (message.index > this.log.lastIndex()) return;
    const wasPaused = progress.isPaused();
    const updated = progress.maybeUpdate(message.index);
    // An ack of a probe at our known match still proves the follower is in sync.
    if (!updated && !(progress.state === 'probe' && progress.matchIndex === message.index)) return;
    switch (progress.state) {
      case 'probe':
        progress.becomeReplicate();
        break;
      case 'snapshot':
        if (progress.matchIndex + 1 >= this.log.firstIndex()) {
          progress.becomeProbe();
          progress.becomeReplicate();
        }
        break;
      case 'replicate':
        progress.inflights.freeLE(message.index);
        break;
    }
    if (this.maybeCommit() && this.config.broadcastCommit) {
      this.broadcastAppend();
    } else if (wasPaused && from !== this.id) {
      this.sendAppend(from);
    }
    if (from !== this.id) {
      // Fill the pipeline while flow control allows.
      while (this.maybeSendAppend(from, false)) {
        /* keep sending */
      }
    }
    if (from === this.leadTransferee && progress.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(from);
  }

  /**
   * Whether to act on a follower's response. An after-loss one means the
   * follower lost its storage: what we knew of its log may be more than it
   * holds, so forget it and, for the rest of this term, ignore its unflagged
   * responses (sent before the loss, still in flight). While it says it is
   * recovering it counts toward no quorum: it may have lost its term, and
   * with it the refusal of a leader like us whose term the cluster has left.
   */
  private trustAck(progress: Progress, message: Message): boolean {
    if (message.afterLoss !== true) return !progress.lostStorage;
    if (!progress.lostStorage) progress.forgetForRecovery();
    progress.recovering = message.recovering === true;
    return true;
  }

  private maybeCommit(): boolean {
    if (!this.log.maybeCommit(this.tracker.committed(), this.term)) return false;
    if (this.committedInCurrentTerm()) this.releasePendingReadIndexMessages();
    return true;
  }

  private handleHeartbeatResponse(message: Message): void {
    const from = message.from as NodeId;
    const progress = this.tracker.progress.get(from);
    if (progress === undefined) return;
    if (!this.trustAck(progress, message)) return;
    progress.recentActive = true;
    progress.probeSent = false;
    // A lost MsgApp can leave a full window that no ack will free; free one slot to retry.
    if (progress.state === 'replicate' && progress.inflights.full()) progress.inflights.freeFirstOne();
    // A recovering follower learns the commit index only from appends, and must learn it to recover.
    if (progress.matchIndex < this.log.lastIndex() || progress.state === 'probe' || progress.recovering) this.sendAppend(from);
    if (message.context.length === 0 || progress.recovering) return;
    const ack = this.readOnly.recvAck(from, message.context);
    if (ack === undefined) return;
    const votes = new Map<NodeId, boolean>([...ack.acks].map((id) => [id, true]));
    if (this.tracker.voteResult(votes) !== 'won') return;
    for (const request of this.readOnly.releaseThrough(ack.round)) this.respondToRead(request);
    // Reads that arrived while that round was in flight get their own round now.
    if (this.readOnly.hasUnassigned() && !this.readOnly.hasRoundInFlight()) this.broadcastHeartbeat();
  }

  private handleSnapshotStatus(message: Message): void {
    const progress = this.tracker.progress.get(message.from as NodeId);
    if (progress === undefined || progress.state !== 'snapshot') return;
    if (message.reject) progress.pendingSnapshot = 0;
    progress.becomeProbe();
    // Wait for a heartbeat response before probing again, as etcd does.
    progress.probeSent = true;
  }

  // ---- replication -------------------------------------------------------

  broadcastAppend(): void {
    for (const id of this.tracker.progress.keys()) {
      if (id !== this.id) this.sendAppend(id);
    }
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next MsgApp (or MsgSnap) to `to` if flow control allows.
   * Returns whether a message was sent.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    assert(to !== this.id, 'the leader does not send appends to itself');
    const progress = this.tracker.progress.get(to);
    if (progress === undefined || progress.isPaused()) return false;
    const prevIndex = progress.nextIndex - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = prevTerm === undefined ? undefined : this.log.entriesFrom(progress.nextIndex, this.config.maxSizePerMsgBytes);
    if (prevTerm === undefined || entries === undefined) return this.sendSnapshot(to);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.send(
      newMessage({
        type: MessageType.APP,
        to,
        index: prevIndex,
        logTerm: prevTerm,
        entries,
        commit: this.log.committed,
        afterLoss: progress.lostStorage ? true : undefined,
      }),
    );
    progress.sentEntries(entries.length, prevIndex + entries.length);
    return true;
  }

  private sendSnapshot(to: NodeId): boolean {
    const progress = this.tracker.progress.get(to)!;
    // Only send a (large) snapshot to a follower we recently heard from.
    if (!progress.recentActive) return false;
    let snapshot: Snapshot;
    try {
      snapshot = this.log.snapshot();
    } catch (error) {
      if (error instanceof RaftError && error.code === 'SNAPSHOT_TEMPORARILY_UNAVAILABLE') return false;
      throw error;
    }
    const index = snapshotIndex(snapshot);
    assert(index > 0, 'a snapshot is needed only after compaction, so one exists');
    this.send(newMessage({ type: MessageType.SNAP, to, snapshot }));
    progress.becomeSnapshot(index);
    return true;
  }

  private broadcastHeartbeat(): void {
    let context: Buffer = EMPTY_BYTES;
    if (this.readOnly.hasUnassigned()) context = this.readOnly.startRound(this.id);
    else context = this.readOnly.latestRoundContext() ?? EMPTY_BYTES;
    for (const [id, progress] of this.tracker.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(progress.matchIndex, this.log.committed);
      this.send(newMessage({ type: MessageType.HEARTBEAT, to: id, commit, context }));
    }
  }

  // ---- ReadIndex ---------------------------------------------------------

  private handleReadIndex(message: Message): void {
    if (!this.committedInCurrentTerm()) {
      // Our commit index may be stale until an entry of our term commits (thesis §6.4).
      if (this.pendingReadIndexMessages.length < PENDING_READS_BEFORE_COMMIT_MAX) this.pendingReadIndexMessages.push(message);
      return;
    }
    const request: ReadRequest = { index: this.log.committed, context: message.context, from: message.from as NodeId };
    if (this.tracker.voters.size === 1 && this.tracker.voters.has(this.id)) {
      this.respondToRead(request);
      return;
    }
    if (!this.readOnly.addRequest(request)) return;
    if (!this.readOnly.hasRoundInFlight()) this.broadcastHeartbeat();
  }

  private releasePendingReadIndexMessages(): void {
    const pending = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const message of pending) this.handleReadIndex(message);
  }

  private respondToRead(request: ReadRequest): void {
    if (request.from === this.id) {
      if (this.readStates.length < READ_STATES_MAX) this.readStates.push({ index: request.index, context: request.context });
      return;
    }
    this.send(
      newMessage({
        type: MessageType.READ_INDEX_RESP,
        to: request.from,
        index: request.index,
        context: Buffer.from(request.context),
      }),
    );
  }

  // ---- leader transfer ---------------------------------------------------

  private handleTransferLeader(target: NodeId): void {
    if (!this.tracker.voters.has(target)) return; // Learners and strangers cannot lead.
    if (this.leadTransferee !== NO_NODE) {
      if (this.leadTransferee === target) return;
      this.abortLeaderTransfer();
    }
    if (target === this.id) return;
    // The transfer must finish within one election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = target;
    const progress = this.tracker.progress.get(target)!;
    if (progress.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(target);
    else this.sendAppend(target);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send(newMessage({ type: MessageType.TIMEOUT_NOW, to }));
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NO_NODE;
  }

  // ---- membership --------------------------------------------------------

  /** Applies a committed conf change (called as the application applies its entry). */
  applyConfChange(change: ConfChange): ConfState {
    this.tracker.applyChange(change, this.log.lastIndex() + 1);
    this.isLearner = this.tracker.learners.has(this.id);
    if (this.role !== 'leader') return this.tracker.confState();
    if (!this.tracker.voters.has(this.id)) {
      // A removed (or demoted) leader steps down; the rest elect a new one, with
      // our vote even if they lack the commit: our log ends where the change
      // committed (selfRemovalIndex).
      this.becomeFollower(this.term, NO_NODE);
      return this.tracker.confState();
    }
    if (this.leadTransferee !== NO_NODE && !this.tracker.voters.has(this.leadTransferee)) this.abortLeaderTransfer();
    if (change.type === ConfChangeType.REMOVE_NODE && this.maybeCommit()) {
      // A smaller quorum may commit more.
      this.broadcastAppend();
    } else {
      for (const id of this.tracker.progress.keys()) {
        if (id !== this.id) this.maybeSendAppend(id, false);
      }
    }
    // Probe a newly added member at once rather than at the next heartbeat.
    const added = change.nodeId as NodeId;
    if (change.type !== ConfChangeType.REMOVE_NODE && added !== this.id && this.tracker.progress.has(added)) {
      this.maybeSendAppend(added, true);
    }
    return this.tracker.confState();
  }

  /** Drops a response from a node outside the configuration (etcd's RawNode check). */
  acceptsFrom(message: Message): boolean {
    return !isResponseMessage(message.type) || this.tracker.progress.has(message.from as NodeId);
  }
}
