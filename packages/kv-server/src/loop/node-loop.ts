/**
 * The node loop: the one owner of a RawNode (STYLE.md §7.2).
 *
 * Request handlers and the transport only enqueue (proposals, reads, peer
 * messages); ticks come from the one interval timer. A loop turn steps every
 * queued input into raft, then handles one Ready:
 *   send `messages` → persist entries + hard state in ONE LevelDB batch with
 *   fsync → send `persistedMessages` → advance.
 * Committed entries go to the applier, which applies them in order while the
 * next turns persist newer entries (etcd's pipelined apply). Conf changes and
 * snapshots wait for the apply chain, so they are applied inside their turn.
 * While a turn awaits its fsync, new requests queue up and the next turn
 * writes them together: group commit and batching fall out of the structure.
 * The leader's AppendEntries leave before its own fsync, so the leader
 * persists in parallel with replication; raft counts the leader's own copy
 * only after advance().
 */
import { randomBytes } from 'node:crypto';
import { assert, type Command, type CommandResult, ConfChange, ConfChangeType, type ConfState, type Entry, EntryType, type Message, type Snapshot, type SnapshotMetadata } from '@cairn/proto';
import { RawNode, createRng, type Ready, type RaftStatus, type NodeId } from '@cairn/raft-core';
import type { NodeOptions } from '../config.js';
import { type KvError, NoLeaderError, NotLeaderError, ShuttingDownError, TimeoutError, TooManyRequestsError, UnavailableError, UnknownMemberError, UnknownOutcomeError } from '../errors.js';
import { MIN_INDEX_WAIT_MS_MAX, MIN_INDEX_WAITERS_MAX, PEER_INBOX_MESSAGES_MAX, PENDING_READS_MAX } from '../limits.js';
import type { Logger } from '../logger.js';
import { AppliedIndexWaiters } from './applied-waiters.js';
import { Applier } from './applier.js';
import type { Members } from './members.js';
import { confChangeDelta, Membership } from './membership.js';
import { PeerInbox } from './peer-inbox.js';
import type { LoopStateMachine, LoopStorage, NodeEvents, PeerInbound, PeerTransport, StagedWrite, SurveyAnswer } from './ports.js';
import { ReadTracker } from './proposals.js';
import { Proposer } from './proposer.js';
import { decodeSnapshotPayload } from './snapshot-payload.js';
import { Snapshotter } from './snapshotter.js';

/** A write's result and the log index it was applied at (the client's read-your-writes token). */
export interface AppliedWrite {
  readonly index: number;
  readonly result: CommandResult;
}

export interface NodeLoopOptions<T extends PeerTransport> {
  readonly options: NodeOptions;
  readonly storage: LoopStorage;
  readonly stateMachine: LoopStateMachine;
  /** The members storage knows; the loop keeps them current from here on. */
  readonly members: Members;
  /** Builds the peer transport around what the loop offers it (called once, by the constructor). */
  readonly connectPeers: (inbound: PeerInbound) => T;
  readonly logger: Logger;
  readonly events: NodeEvents;
  /** The loop hit an error it cannot go on from. */
  readonly onFatal: (error: unknown) => void;
}

export class NodeLoop<T extends PeerTransport = PeerTransport> {
  readonly options: NodeOptions;
  readonly transport: T;
  private readonly raft: RawNode;
  private readonly storage: LoopStorage;
  private readonly stateMachine: LoopStateMachine;
  private readonly logger: Logger;
  private readonly events: NodeEvents;
  private readonly onFatal: (error: unknown) => void;
  private readonly inbox: PeerInbox;
  private readonly proposer: Proposer;
  private readonly reads: ReadTracker;
  /** Serializable reads waiting for their min_index to be readable here. */
  private readonly minIndexReads: AppliedIndexWaiters;
  private readonly membershipState: Membership;
  private readonly applier: Applier;
  private readonly snapshotter: Snapshotter;
  private pendingTicks = 0;
  private turnScheduled = false;
  private turnRunning = false;
  private stopped = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private role: RaftStatus['role'] = 'follower';
  private leaderId = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(init: NodeLoopOptions<T>) {
    const { options, storage, stateMachine } = init;
    this.options = options;
    this.storage = storage;
    this.stateMachine = stateMachine;
    this.logger = init.logger;
    this.events = init.events;
    this.onFatal = init.onFatal;
    this.raft = createRawNode(options, storage, stateMachine.appliedIndex());
    this.proposer = new Proposer(options.requestTimeoutMs, () => this.notLeader());
    this.reads = new ReadTracker(
      () => new TimeoutError('the read could not be confirmed with a quorum in time'),
      PENDING_READS_MAX,
      () => new TooManyRequestsError('too many linearizable reads waiting for a read index'),
    );
    this.minIndexReads = new AppliedIndexWaiters(
      Math.min(options.requestTimeoutMs, MIN_INDEX_WAIT_MS_MAX),
      MIN_INDEX_WAITERS_MAX,
      (index) => new UnavailableError(`node ${options.id} has applied up to ${this.readableIndex}, short of the read's min_index ${index}; ask another node`),
      () => new TooManyRequestsError('too many reads waiting for their min_index'),
    );
    this.membershipState = new Membership(init.members, storage.initialState().confState, storage);
    this.applier = new Applier({
      stateMachine,
      proposals: this.proposer.pending,
      lost: () => this.notLeader(),
      changeMembership: (entry) => this.changeMembership(entry),
      readable: (index) => this.minIndexReads.advance(index),
      applied: (index) => this.afterApply(index),
      failed: (error) => this.fail(error),
      stopped: () => this.stopped,
      initialIndex: stateMachine.appliedIndex(),
    });
    this.snapshotter = new Snapshotter({
      snapshotEntries: options.snapshotEntries,
      storage,
      stateMachine,
      membership: this.membershipState,
      appliedIndex: () => this.applier.applied,
      followers: () => this.followers(),
      stopped: () => this.stopped,
      wake: () => this.wake(),
      events: this.events,
      logger: this.logger,
    });
    storage.onSnapshotWanted = () => this.snapshotter.want();
    this.inbox = new PeerInbox(PEER_INBOX_MESSAGES_MAX, () => this.wake());
    this.transport = init.connectPeers(this.inbound());
    this.membershipState.connect(this.transport);
  }

  start(): void {
    this.tickTimer = setInterval(() => {
      this.pendingTicks += 1;
      this.wake();
    }, this.options.tickMs);
    this.wake();
  }

  // ---- requests (called from handlers) ----

  /** Proposes a command; resolves with its result and log index once applied on this (leader) node. */
  propose(command: Command, encode: (c: Command) => Buffer): Promise<AppliedWrite> {
    return new Promise((resolve, reject) => {
      const refusal = this.refuseWrite();
      if (refusal !== undefined) return reject(refusal);
      // A command entry settles with its AppliedResult, whose result is not an error (the applier rejects those).
      this.proposer.command(encode({ ...command, proposedAtMs: Date.now() }), { resolve: (value) => resolve(value as AppliedWrite), reject });
      this.wake();
    });
  }

  proposeConfChange(change: ConfChange): Promise<void> {
    return new Promise((resolve, reject) => {
      const refusal = this.refuseWrite();
      if (refusal !== undefined) return reject(refusal);
      this.proposer.confChange(change, { resolve: () => resolve(), reject });
      this.wake();
    });
  }

  /** Waits until a read at this moment is linearizable on this node (ReadIndex). */
  readBarrier(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return reject(new ShuttingDownError());
      if (this.role !== 'leader') return reject(this.notLeader());
      this.reads.enqueue({ resolve, reject });
      this.wake();
    });
  }

  /** Every entry up to this index is visible to reads on this node (Applier.readableIndex). */
  get readableIndex(): number {
    return this.applier.readableIndex;
  }

  /**
   * Resolves once reads on this node see entry `index` (a serializable read's
   * min_index); UNAVAILABLE if that takes longer than the wait bound.
   */
  waitReadable(index: number): Promise<void> {
    if (this.stopped) return Promise.reject(new ShuttingDownError());
    return this.minIndexReads.wait(index);
  }

  transferLeader(target: number): void {
    if (this.role !== 'leader') throw this.notLeader();
    if (!this.membership.voters.includes(target)) throw new UnknownMemberError(target);
    this.raft.transferLeader(target as NodeId);
    this.wake();
  }

  /** Takes a snapshot now (Cluster.Snapshot), between turns, so no other storage write overlaps it. */
  snapshotNow(): Promise<{ index: number; term: number; sizeBytes: number }> {
    return this.snapshotter.snapshotNow();
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  // ---- the lost-disk check (lost-disk-check.ts) ----

  /** Votes held until releaseVotes() or fenceStorage(); call before start(). */
  holdVotes(): void {
    this.raft.holdVotes();
  }

  releaseVotes(): void {
    if (this.stopped) return;
    this.raft.releaseVotes();
    this.wake();
  }

  /** Recovering, the survey complete: raise the term to `term`, the highest the voting peers reported. */
  settleTerm(term: number): void {
    if (this.stopped) return;
    this.raft.settleTerm(term);
    this.wake();
  }

  /** The data dir was lost or rolled back: no vote until a leader catches this node up (durable). */
  fenceStorage(): void {
    if (this.stopped) return;
    this.raft.fence();
    this.wake();
  }

  /** Whether an entry of a term past the bootstrap term is committed here: the cluster has run. */
  clusterStarted(): boolean {
    const { commitIndex } = this.raft.status();
    if (commitIndex === 0) return false;
    try {
      return this.storage.term(commitIndex) > 1;
    } catch {
      return true; // compacted behind a snapshot: the cluster ran
    }
  }

  get term(): number {
    return this.raft.lastIndexAndTerm().term;
  }

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  get currentLeaderId(): number {
    return this.leaderId;
  }

  get applied(): number {
    return this.applier.applied;
  }

  get lastSnapshotIndex(): number {
    return this.snapshotter.index;
  }

  /** The configuration in force (who votes, who learns). */
  get membership(): ConfState {
    return this.membershipState.confState;
  }

  get members(): Members {
    return this.membershipState.members;
  }

  notLeader(): KvError {
    if (this.leaderId === 0 || this.leaderId === this.options.id) return new NoLeaderError();
    const leader = this.members.get(this.leaderId);
    return new NotLeaderError(this.leaderId, leader?.clientAddress);
  }

  async stop(): Promise<void> {
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    this.stopped = true;
    this.inbox.close();
    this.proposer.rejectAll(() => new ShuttingDownError());
    this.reads.rejectAll(() => new ShuttingDownError());
    this.minIndexReads.rejectAll(() => new ShuttingDownError());
    const snapshotsSettled = this.snapshotter.stop();
    await this.whenIdle();
    await this.applier.drained();
    await snapshotsSettled;
  }

  // ---- the loop ----

  private refuseWrite(): KvError | undefined {
    if (this.stopped) return new ShuttingDownError();
    if (this.role !== 'leader') return this.notLeader();
    if (this.proposer.full()) return new TooManyRequestsError();
    return undefined;
  }

  private wake(): void {
    if (this.turnScheduled || this.turnRunning || this.stopped) return;
    this.turnScheduled = true;
    setImmediate(() => void this.runTurns());
  }

  private hasWork(): boolean {
    // Queued reads count too: one arriving during a turn must not wait for the next tick.
    return this.inbox.hasWork() || this.proposer.hasQueued() || this.reads.hasQueued() || this.pendingTicks > 0 ||
      this.snapshotter.hasWork() || this.raft.hasReady();
  }

  private async runTurns(): Promise<void> {
    this.turnScheduled = false;
    if (this.turnRunning) return;
    this.turnRunning = true;
    try {
      while (!this.stopped && this.hasWork()) {
        this.stepInputs();
        // Back-pressure: at most one apply batch queued behind the running one.
        if (this.applier.inFlight >= 2) await this.applier.drained();
        if (this.raft.hasReady()) await this.handleReady(this.raft.ready());
        await this.snapshotter.turn(() => this.applier.drained());
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.turnRunning = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private stepInputs(): void {
    for (; this.pendingTicks > 0; this.pendingTicks--) this.raft.tick();
    const dropped = this.inbox.drain({
      unreachable: (peer) => this.raft.reportUnreachable(peer as NodeId),
      snapshotStatus: (peer, ok) => this.raft.reportSnapshot(peer as NodeId, ok),
      message: (message) => this.raft.step(message),
    });
    if (dropped > 0) this.logger.warn('peer-inbox-full', { droppedBatches: dropped, messagesMax: PEER_INBOX_MESSAGES_MAX });
    this.proposer.proposeQueued(this.role === 'leader' ? this.raft : undefined);
    const context = this.role === 'leader' ? this.reads.takeBatch(this.options.requestTimeoutMs) : undefined;
    if (context !== undefined) this.raft.readIndex(context);
  }

  private async handleReady(ready: Ready): Promise<void> {
    if (ready.softState !== undefined) this.onSoftState(ready.softState.role, ready.softState.leaderId);
    this.transport.send(ready.messages);
    const metadata = ready.snapshot?.metadata;
    if (ready.snapshot !== undefined && metadata !== undefined && metadata.index > 0) {
      await this.applier.drained();
      await this.snapshotter.beforeRestore();
      await this.restoreSnapshot(ready.snapshot, metadata);
    }
    // A received snapshot replaces the log: always make it durable.
    const sync = ready.mustSync || ready.snapshot !== undefined;
    // Without new entries, term or vote, nothing these messages vouch for
    // changes on disk (only the commit index may), so they need not wait.
    const sendNow = !sync && ready.entries.length === 0;
    if (sendNow) this.transport.send(ready.persistedMessages);
    const persist = this.storage.write(ready, { sync });
    // Committed entries were made durable by an earlier Ready (raft-core's
    // contract), so applying them need not wait for this Ready's fsync.
    const confChange = hasConfChange(ready.committedEntries);
    const applied = ready.committedEntries.length > 0 ? this.applier.enqueue(ready.committedEntries) : undefined;
    await persist;
    if (!sendNow) this.transport.send(ready.persistedMessages);
    // A conf change changes who raft talks to: apply it inside the turn.
    if (confChange) await applied;
    for (const rs of ready.readStates) this.reads.confirmed(rs.context, rs.index);
    this.releaseReads();
    if (confChange) this.raft.advance(ready);
    else this.raft.advancePersisted(ready);
  }

  /** Reads waiting for the applied index (linearizable) or the readable one (min_index) that may go now. */
  private releaseReads(): void {
    this.reads.applied(this.applier.applied);
    this.minIndexReads.advance(this.applier.readableIndex);
  }

  /** The applier finished a batch up to `index`. */
  private afterApply(index: number): void {
    this.raft.appliedTo(index);
    this.releaseReads();
    // The chain is between batches here, so the state machine's view matches the applied index.
    this.snapshotter.maybeStartBuild();
    this.wake();
  }

  /** A committed conf change, from the applier: raft, members and transport change together; storage with the entry. */
  private changeMembership(entry: Entry): StagedWrite {
    const change = ConfChange.decode(entry.data);
    const staged = this.membershipState.apply(confChangeDelta(change, this.raft.applyConfChange(change)), this.transport);
    this.events.event('membership-changed', { index: entry.index, change: ConfChangeType[change.type], nodeId: change.nodeId });
    if (change.type === ConfChangeType.REMOVE_NODE && change.nodeId === this.options.id) this.logger.warn('removed-from-cluster', { index: entry.index });
    return staged;
  }

  private async restoreSnapshot(snapshot: Snapshot, metadata: SnapshotMetadata): Promise<void> {
    const { members, stateMachineData } = decodeSnapshotPayload(snapshot.data);
    await this.stateMachine.restore(stateMachineData, metadata.index);
    await this.membershipState.replace(members, metadata.confState, this.transport);
    this.applier.restoredTo(metadata.index);
    this.snapshotter.restored(metadata.index);
    this.events.event('snapshot-restored', { index: metadata.index, bytes: snapshot.data.length });
  }

  private onSoftState(role: RaftStatus['role'], leaderId: number): void {
    const wasLeader = this.role === 'leader';
    if (leaderId !== this.leaderId) this.events.event('leader-changed', { leaderId, term: this.term });
    this.role = role;
    this.leaderId = leaderId;
    if (wasLeader && role !== 'leader') {
      // Pending writes may still commit under the next leader, so their outcome
      // is unknown here (NOT_LEADER would claim nothing was applied). A retry
      // with the same session is answered from the session table, never applied twice.
      this.proposer.pending.rejectAll(() => new UnknownOutcomeError('leadership changed before the write committed; it may still be applied (retry with the same session to learn the result)'));
      this.reads.rejectAll(() => this.notLeader());
    }
  }

  /** The followers' progress for compaction: none unless this node leads. */
  private followers(): ReadonlyArray<{ matchIndex: number; recentActive: boolean }> {
    const progress = this.role === 'leader' ? this.raft.status().progress : undefined;
    if (progress === undefined) return [];
    return [...progress].filter(([id]) => id !== this.options.id).map(([, peer]) => peer);
  }

  /** What the transport may call: arrivals are queued for the next turn; questions are answered from raft's state. */
  private inbound(): PeerInbound {
    return {
      receive: (messages: Message[]) => void this.inbox.push(messages),
      unreachable: (peer) => this.inbox.unreachable(peer),
      snapshotStatus: (peer, ok) => this.inbox.snapshotStatus(peer, ok),
      isMember: (peer) => this.membershipState.isMember(peer),
      peerHttpAddress: (peer, address) => this.membershipState.noteHttpAddress(peer, address),
      surveyAnswer: (peer) => this.surveyAnswer(peer),
    };
  }

  private surveyAnswer(peer: number): SurveyAnswer {
    const status = this.raft.status();
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

  private fail(error: unknown): void {
    if (this.stopped) return;
    this.logger.error('node-loop-failed', { error });
    this.stopped = true;
    this.inbox.close();
    this.onFatal(error);
  }

  private whenIdle(): Promise<void> {
    if (!this.turnRunning) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

function createRawNode(options: NodeOptions, storage: LoopStorage, appliedIndex: number): RawNode {
  assert(Number.isSafeInteger(options.id) && options.id > 0, 'a node id is a positive integer');
  return RawNode.create(
    {
      id: options.id as NodeId,
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      appliedIndex,
      preVote: true,
      checkQuorum: true,
      // Followers learn a new commit index from the next append or heartbeat
      // (one tick at most), so a write costs no follower an extra message,
      // Ready and reply. Follower reads are serializable (stale) anyway.
      broadcastCommit: false,
    },
    storage,
    createRng(BigInt('0x' + randomBytes(8).toString('hex'))),
  );
}

function hasConfChange(entries: readonly Entry[]): boolean {
  for (const entry of entries) if (entry.type === EntryType.CONF_CHANGE) return true;
  return false;
}
