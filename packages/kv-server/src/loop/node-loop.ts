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
import type { Command, ConfChange, ConfState, Snapshot, SnapshotMetadata } from '@cairn/proto';
import { EntryType } from '@cairn/proto';
import type { NodeId, RawNode, RaftStatus, Ready } from '@cairn/raft-core';
import type { NodeOptions } from '../config.js';
import { type KvError, ShuttingDownError, TooManyRequestsError, UnknownMemberError } from '../errors.js';
import { PEER_INBOX_MESSAGES_MAX } from '../limits.js';
import type { Logger } from '../logger.js';
import { Applier } from './applier.js';
import type { Members } from './members.js';
import { Membership } from './membership.js';
import { Leadership } from './leadership.js';
import { PeerInbox, peerInbound } from './peer-inbox.js';
import type { AppliedResult, AppliedWrite, LoopStateMachine, LoopStorage, NodeEvents, PeerInbound, PeerTransport } from './ports.js';
import type { Waiter } from './proposals.js';
import { Proposer } from './proposer.js';
import { createRawNode } from './raw-node.js';
import { Reads } from './reads.js';
import { decodeSnapshotPayload } from './snapshot-payload.js';
import { Snapshotter } from './snapshotter.js';
import { VoteControl } from './vote-control.js';

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
  /** The lost-disk check's levers on raft (lost-disk-check.ts). */
  readonly votes: VoteControl;
  private readonly raft: RawNode;
  private readonly inbox: PeerInbox;
  private readonly proposer: Proposer;
  private readonly reads: Reads;
  private readonly membershipState: Membership;
  private readonly applier: Applier;
  private readonly snapshotter: Snapshotter;
  private readonly leadership: Leadership;
  private pendingTicks = 0;
  private turnScheduled = false;
  private turnRunning = false;
  private stopped = false;
  private tickTimer: NodeJS.Timeout | undefined;
  /** The turns running now, or the last ones: stop() waits for them. */
  private turns: Promise<void> = Promise.resolve();

  constructor(private readonly init: NodeLoopOptions<T>) {
    const { options, storage, stateMachine } = init;
    this.options = options;
    this.raft = createRawNode(options, storage, stateMachine.appliedIndex());
    this.proposer = new Proposer(options.requestTimeoutMs, () => this.notLeader());
    this.reads = new Reads({ nodeId: options.id, requestTimeoutMs: options.requestTimeoutMs, readableIndex: () => this.readableIndex });
    const { members, events, logger } = init;
    this.membershipState = new Membership({
      selfId: options.id,
      members,
      confState: storage.initialState().confState,
      storage,
      events,
      logger,
    });
    this.leadership = new Leadership(options.id, members, events);
    this.votes = new VoteControl({ raft: this.raft, storage, stopped: () => this.stopped, wake: () => this.wake() });
    this.applier = new Applier({
      stateMachine,
      proposals: this.proposer.pending,
      lost: () => this.notLeader(),
      changeMembership: (entry) => this.membershipState.applyEntry(entry, (change) => this.raft.applyConfChange(change), this.transport),
      readable: (index) => this.reads.readable(index),
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
      events,
      logger,
    });
    storage.onSnapshotWanted = () => this.snapshotter.want();
    this.inbox = new PeerInbox(PEER_INBOX_MESSAGES_MAX, () => this.wake());
    this.transport = init.connectPeers(peerInbound(this.inbox, this.membershipState, (peer) => this.votes.surveyAnswer(peer)));
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
    // A command entry settles with its AppliedResult, whose result is not an error (the applier rejects those).
    return this.submit((waiter) =>
      this.proposer.command(encode({ ...command, proposedAtMs: Date.now() }), waiter),
    ) as Promise<AppliedWrite>;
  }

  async proposeConfChange(change: ConfChange): Promise<void> {
    await this.submit((waiter) => this.proposer.confChange(change, waiter));
  }

  /** Waits until a read at this moment is linearizable on this node (ReadIndex). */
  readBarrier(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return reject(new ShuttingDownError());
      if (!this.leadership.isLeader) return reject(this.notLeader());
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
    return this.reads.waitReadable(index);
  }

  transferLeader(target: number): void {
    if (!this.leadership.isLeader) throw this.notLeader();
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

  get term(): number {
    return this.raft.lastIndexAndTerm().term;
  }

  get isLeader(): boolean {
    return this.leadership.isLeader;
  }

  get currentLeaderId(): number {
    return this.leadership.leaderId;
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
    return this.leadership.notLeader();
  }

  async stop(): Promise<void> {
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    this.stopped = true;
    this.inbox.close();
    this.proposer.rejectAll(() => new ShuttingDownError());
    this.reads.rejectAll(() => new ShuttingDownError());
    const snapshotsSettled = this.snapshotter.stop();
    await this.turns;
    await this.applier.drained();
    await snapshotsSettled;
  }

  // ---- the loop ----

  /** Queues a write for the next turn, unless this node cannot take it now. */
  private submit(queue: (waiter: Waiter<AppliedResult | undefined>) => void): Promise<AppliedResult | undefined> {
    return new Promise((resolve, reject) => {
      if (this.stopped) return reject(new ShuttingDownError());
      if (!this.leadership.isLeader) return reject(this.notLeader());
      if (this.proposer.full()) return reject(new TooManyRequestsError());
      queue({ resolve, reject });
      this.wake();
    });
  }

  private wake(): void {
    if (this.turnScheduled || this.turnRunning || this.stopped) return;
    this.turnScheduled = true;
    setImmediate(() => {
      this.turnScheduled = false;
      if (!this.turnRunning) this.turns = this.runTurns();
    });
  }

  private hasWork(): boolean {
    // Queued reads count too: one arriving during a turn must not wait for the next tick.
    return (
      this.inbox.hasWork() ||
      this.proposer.hasQueued() ||
      this.reads.hasQueued() ||
      this.pendingTicks > 0 ||
      this.snapshotter.hasWork() ||
      this.raft.hasReady()
    );
  }

  private async runTurns(): Promise<void> {
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
    }
  }

  private stepInputs(): void {
    for (; this.pendingTicks > 0; this.pendingTicks--) this.raft.tick();
    const dropped = this.inbox.drain({
      unreachable: (peer) => this.raft.reportUnreachable(peer as NodeId),
      snapshotStatus: (peer, ok) => this.raft.reportSnapshot(peer as NodeId, ok),
      message: (message) => this.raft.step(message),
    });
    if (dropped > 0) this.init.logger.warn('peer-inbox-full', { droppedBatches: dropped, messagesMax: PEER_INBOX_MESSAGES_MAX });
    this.proposer.proposeQueued(this.leadership.isLeader ? this.raft : undefined);
    const context = this.leadership.isLeader ? this.reads.takeBatch(this.options.requestTimeoutMs) : undefined;
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
    const persist = this.init.storage.write(ready, { sync });
    // Committed entries were made durable by an earlier Ready (raft-core's
    // contract), so applying them need not wait for this Ready's fsync.
    const confChange = ready.committedEntries.some((entry) => entry.type === EntryType.CONF_CHANGE);
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

  private releaseReads(): void {
    this.reads.applied(this.applier.applied, this.applier.readableIndex);
  }

  /** The applier finished a batch up to `index`. */
  private afterApply(index: number): void {
    this.raft.appliedTo(index);
    this.releaseReads();
    // The chain is between batches here, so the state machine's view matches the applied index.
    this.snapshotter.maybeStartBuild();
    this.wake();
  }

  private async restoreSnapshot(snapshot: Snapshot, metadata: SnapshotMetadata): Promise<void> {
    const { members, stateMachineData } = decodeSnapshotPayload(snapshot.data);
    await this.init.stateMachine.restore(stateMachineData, metadata.index);
    await this.membershipState.replace(members, metadata.confState, this.transport);
    this.applier.restoredTo(metadata.index);
    this.snapshotter.restored(metadata.index);
    this.init.events.event('snapshot-restored', { index: metadata.index, bytes: snapshot.data.length });
  }

  private onSoftState(role: RaftStatus['role'], leaderId: number): void {
    if (!this.leadership.update(role, leaderId, this.term)) return;
    this.proposer.leadershipLost();
    this.reads.lostLeadership(() => this.notLeader());
  }

  /** The followers' progress for compaction: none unless this node leads. */
  private followers(): ReadonlyArray<{ matchIndex: number; recentActive: boolean }> {
    const progress = this.leadership.isLeader ? this.raft.status().progress : undefined;
    if (progress === undefined) return [];
    return [...progress].filter(([id]) => id !== this.options.id).map(([, peer]) => peer);
  }

  private fail(error: unknown): void {
    if (this.stopped) return;
    this.init.logger.error('node-loop-failed', { error });
    this.stopped = true;
    this.inbox.close();
    this.init.onFatal(error);
  }
}
