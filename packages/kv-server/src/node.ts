/**
 * The node loop: the one owner of a RawNode (STYLE.md §7.2).
 *
 * gRPC/HTTP handlers and the transport only enqueue (proposals, reads, peer
 * messages); ticks come from the one interval timer. A loop turn steps every
 * queued input into raft, then handles one Ready:
 *   send `messages` → persist entries + hard state in ONE LevelDB batch with
 *   fsync → send `persistedMessages` → advance.
 * Committed entries go to the apply chain, which applies them in order while
 * the next turns persist newer entries (etcd's pipelined apply): persisting
 * and applying overlap instead of alternating. Conf changes and snapshots
 * wait for the chain, so they are still applied inside their turn.
 * While a turn awaits its fsync, new requests queue up and the next turn
 * writes them together: group commit and batching fall out of the structure.
 * The leader's AppendEntries leave before its own fsync, so the leader
 * persists in parallel with replication; raft counts the leader's own copy
 * only after advance().
 */
import { randomBytes } from 'node:crypto';
import {
  type Command,
  type CommandResult,
  ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  Member,
  type Message,
  type Snapshot,
} from '@cairn/proto';
import { RawNode, createRng, type Ready, type RaftStatus, type NodeId, type ProposeRejection } from '@cairn/raft-core';
import type { Logger } from './logger.js';
import { Members } from './members.js';
import { ProposalTracker, ReadTracker } from './proposals.js';
import { AppliedIndexWaiters } from './applied-waiters.js';
import type { NodeOptions } from './config.js';
import {
  KvError,
  NoLeaderError,
  NotLeaderError,
  ShuttingDownError,
  TimeoutError,
  TooManyRequestsError,
  UnavailableError,
  UnknownOutcomeError,
  FailedPreconditionError,
  UnknownMemberError,
} from './errors.js';
import { COMPACTION_HOLD_MAX_FACTOR, MIN_INDEX_WAIT_MS_MAX, MIN_INDEX_WAITERS_MAX, PENDING_PROPOSALS_MAX } from './limits.js';
import type { AppliedResult, NodeStorage, NodeStateMachine } from './node-storage.js';
import type { PreparedSnapshot } from './storage/snapshot-store.js';
import { GrpcTransport } from './transport/grpc-transport.js';

export interface NodeEvents {
  /** Something the dashboard and logs show (leader changes, conf changes, snapshots). */
  event(kind: string, fields: Record<string, unknown>): void;
}

/** A write's result and the log index it was applied at (the client's read-your-writes token). */
export interface AppliedWrite {
  readonly index: number;
  readonly result: CommandResult;
}

interface QueuedProposal {
  kind: 'command' | 'conf-change';
  data: Buffer;
  change?: ConfChange;
  resolve(value: AppliedResult | undefined): void;
  reject(error: Error): void;
}

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

export class RaftLoop {
  private readonly inbox: Message[] = [];
  private proposals: QueuedProposal[] = [];
  private readonly pending: ProposalTracker<AppliedResult | undefined>;
  private readonly reads: ReadTracker;
  /** Serializable reads waiting for their min_index to be readable here. */
  private readonly minIndexReads: AppliedIndexWaiters;
  /** The last entry of the latest apply batch whose results reads already see (before appliedIndex moves). */
  private answeredIndex = 0;
  private pendingTicks = 0;
  private turnScheduled = false;
  private turnRunning = false;
  private stopped = false;
  private tickTimer: NodeJS.Timeout | undefined;
  private role: RaftStatus['role'] = 'follower';
  private leaderId = 0;
  private appliedIndex: number;
  private snapshotIndex: number;
  private confState: ConfState;
  private idleWaiters: Array<() => void> = [];
  /** The end of the apply chain: resolves when every handed-out committed entry is applied. */
  private applyTail: Promise<void> = Promise.resolve();
  private appliesInFlight = 0;
  private snapshotRequests: Array<{ resolve(): void; reject(error: Error): void }> = [];
  /** A snapshot being encoded in the background (the loop keeps serving meanwhile). */
  private snapshotBuild: Promise<void> | undefined;
  /** An encoded snapshot waiting to be recorded by the loop (storage writes never overlap). */
  private snapshotBuilt: BuiltSnapshot | undefined;
  /** raft asked for a snapshot to send and the log is compacted behind one with no file: build it. */
  private snapshotWanted = false;
  /** A compaction or a snapshot record is being written: no build may start (its file could be swept). */
  private snapshotRecording = false;
  /** Bumped when a leader's snapshot replaces the state: a local one begun earlier is stale. */
  private restoreEpoch = 0;

  constructor(
    readonly options: NodeOptions,
    readonly raft: RawNode,
    readonly storage: NodeStorage,
    readonly stateMachine: NodeStateMachine,
    readonly members: Members,
    readonly transport: GrpcTransport,
    readonly logger: Logger,
    readonly events: NodeEvents,
    private readonly onFatal: (error: unknown) => void,
  ) {
    this.pending = new ProposalTracker(
      () => new TimeoutError('the write was not committed in time; it may still be applied (retry with the same session to find out)'),
      options.requestTimeoutMs,
    );
    this.reads = new ReadTracker(() => new TimeoutError('the read could not be confirmed with a quorum in time'));
    this.minIndexReads = new AppliedIndexWaiters(
      Math.min(options.requestTimeoutMs, MIN_INDEX_WAIT_MS_MAX),
      MIN_INDEX_WAITERS_MAX,
      (index) => new UnavailableError(`node ${options.id} has applied up to ${this.readableIndex}, short of the read's min_index ${index}; ask another node`),
      () => new TooManyRequestsError('too many reads waiting for their min_index'),
    );
    this.appliedIndex = stateMachine.appliedIndex();
    this.snapshotIndex = storage.snapshotIndex();
    this.confState = storage.initialState().confState;
    storage.onSnapshotWanted = () => {
      // Asked again while one is being built: raft's next try gets that one.
      if (this.snapshotBuild !== undefined || this.snapshotBuilt !== undefined) return;
      this.snapshotWanted = true;
      this.wake();
    };
  }

  static create(
    options: NodeOptions,
    storage: NodeStorage,
    stateMachine: NodeStateMachine,
    members: Members,
    transport: (loop: () => RaftLoop) => GrpcTransport,
    logger: Logger,
    events: NodeEvents,
    onFatal: (error: unknown) => void,
  ): RaftLoop {
    const raft = RawNode.create(
      {
        id: options.id as NodeId,
        electionTicks: options.electionTicks,
        heartbeatTicks: options.heartbeatTicks,
        appliedIndex: stateMachine.appliedIndex(),
        preVote: true,
        checkQuorum: true,
        // Followers learn a new commit index from the next append or heartbeat
        // (one tick at most): measured, this took 1-client puts from p50 1.25-1.32
        // to 1.08-1.10 ms, as each write no longer costs every follower an extra
        // message, Ready and reply. Follower reads are serializable (stale) anyway.
        broadcastCommit: false,
      },
      storage,
      createRng(BigInt('0x' + randomBytes(8).toString('hex'))),
    );
    // The transport's handlers call back into the loop, which needs the transport.
    const holder: { loop?: RaftLoop } = {};
    const link = transport(() => holder.loop!);
    holder.loop = new RaftLoop(options, raft, storage, stateMachine, members, link, logger, events, onFatal);
    return holder.loop;
  }

  start(): void {
    this.tickTimer = setInterval(() => {
      this.pendingTicks += 1;
      this.wake();
    }, this.options.tickMs);
    this.wake();
  }

  // ---- inputs (called from handlers) ----

  receive(messages: Message[]): void {
    if (this.stopped) return;
    for (const m of messages) this.inbox.push(m);
    this.wake();
  }

  unreachable(peer: number): void {
    if (!this.stopped) this.raft.reportUnreachable(peer as NodeId);
  }

  snapshotStatus(peer: number, ok: boolean): void {
    if (this.stopped) return;
    this.raft.reportSnapshot(peer as NodeId, ok);
    this.wake();
  }

  /** Proposes a command; resolves with its result and log index once applied on this (leader) node. */
  propose(command: Command, encode: (c: Command) => Buffer): Promise<AppliedWrite> {
    return new Promise((resolve, reject) => {
      const refusal = this.refuseWrite();
      if (refusal !== undefined) return reject(refusal);
      this.proposals.push({
        kind: 'command',
        data: encode({ ...command, proposedAtMs: Date.now() }),
        // A command entry settles with its AppliedResult, whose result is not an error (see apply()).
        resolve: (value) => resolve(value as AppliedWrite),
        reject,
      });
      this.wake();
    });
  }

  proposeConfChange(change: ConfChange): Promise<void> {
    return new Promise((resolve, reject) => {
      const refusal = this.refuseWrite();
      if (refusal !== undefined) return reject(refusal);
      this.proposals.push({ kind: 'conf-change', data: Buffer.from(ConfChange.encode(change).finish()), change, resolve: () => resolve(), reject });
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

  /**
   * Every entry up to this index is visible to reads on this node: the
   * applied index, or the last entry of an apply batch that is answered but
   * not yet written (the state machine serves reads from that batch).
   */
  get readableIndex(): number {
    return Math.max(this.appliedIndex, this.answeredIndex);
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
    if (!this.confState.voters.includes(target)) throw new UnknownMemberError(target);
    this.raft.transferLeader(target as NodeId);
    this.wake();
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

  /** Recovering, the survey complete: raise the term to `term`, the highest the voting peers reported (lost-disk-check.ts). */
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
    return this.appliedIndex;
  }

  get lastSnapshotIndex(): number {
    return this.snapshotIndex;
  }

  get membership(): ConfState {
    return this.confState;
  }

  notLeader(): KvError {
    if (this.leaderId === 0 || this.leaderId === this.options.id) return new NoLeaderError();
    const leader = this.members.get(this.leaderId);
    return new NotLeaderError(this.leaderId, leader?.clientAddress);
  }

  private refuseWrite(): KvError | undefined {
    if (this.stopped) return new ShuttingDownError();
    if (this.role !== 'leader') return this.notLeader();
    if (this.pending.size + this.proposals.length >= PENDING_PROPOSALS_MAX) return new TooManyRequestsError();
    return undefined;
  }

  // ---- the loop ----

  private wake(): void {
    if (this.turnScheduled || this.turnRunning || this.stopped) return;
    this.turnScheduled = true;
    setImmediate(() => void this.runTurns());
  }

  private hasWork(): boolean {
    // Queued reads count too: one arriving during a turn must not wait for the next tick.
    return this.inbox.length > 0 || this.proposals.length > 0 || this.reads.hasQueued() || this.pendingTicks > 0 ||
      this.snapshotBuilt !== undefined || this.snapshotRequests.length > 0 || this.raft.hasReady() || this.snapshotBuildDue();
  }

  private async runTurns(): Promise<void> {
    this.turnScheduled = false;
    if (this.turnRunning) return;
    this.turnRunning = true;
    try {
      while (!this.stopped && this.hasWork()) {
        this.stepInputs();
        // Back-pressure: at most one apply batch queued behind the running one.
        if (this.appliesInFlight >= 2) await this.applyTail;
        if (this.raft.hasReady()) await this.handleReady(this.raft.ready());
        if (this.snapshotBuilt !== undefined) await this.recordSnapshot(this.snapshotBuilt);
        if (this.snapshotRequests.length > 0) await this.serveSnapshotRequests();
        if (this.snapshotBuildDue()) {
          // The view must match appliedIndex: capture it between apply batches.
          await this.applyTail;
          this.maybeStartSnapshot();
        }
        const compactAt = this.dueCompaction();
        if (compactAt !== undefined) await this.compactLog(compactAt);
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
    const messages = this.inbox.splice(0, this.inbox.length);
    for (const m of messages) this.raft.step(m);
    const proposals = this.proposals;
    this.proposals = [];
    // Runs of commands are proposed together: one append, one MsgApp per follower.
    let run: QueuedProposal[] = [];
    for (const p of proposals) {
      if (p.kind === 'command') {
        run.push(p);
        continue;
      }
      this.proposeCommands(run);
      run = [];
      this.proposeConfChangeNow(p);
    }
    this.proposeCommands(run);
    const context = this.role === 'leader' ? this.reads.takeBatch(this.options.requestTimeoutMs) : undefined;
    if (context !== undefined) this.raft.readIndex(context);
  }

  private proposeCommands(proposals: readonly QueuedProposal[]): void {
    if (proposals.length === 0) return;
    const result = this.role === 'leader' ? this.raft.proposeMany(proposals.map((p) => p.data)) : undefined;
    if (result === undefined || !result.ok) {
      const error = this.proposalRefusal(result?.ok === false ? result.reason : 'not-leader');
      for (const p of proposals) p.reject(error);
      return;
    }
    // The leader appended the proposals just now: they are the last entries.
    const { lastIndex, term } = this.raft.lastIndexAndTerm();
    const first = lastIndex - proposals.length + 1;
    for (let i = 0; i < proposals.length; i++) this.pending.add(first + i, term, proposals[i]!);
  }

  private proposeConfChangeNow(p: QueuedProposal): void {
    const result = this.role === 'leader' ? this.raft.proposeConfChange(p.change!) : undefined;
    if (result === undefined || !result.ok) return p.reject(this.proposalRefusal(result?.ok === false ? result.reason : 'not-leader'));
    const { lastIndex, term } = this.raft.lastIndexAndTerm();
    this.pending.add(lastIndex, term, p);
  }

  private proposalRefusal(reason: ProposeRejection): KvError {
    switch (reason) {
      case 'too-many-uncommitted':
        return new TooManyRequestsError();
      case 'conf-change-pending':
        return new FailedPreconditionError('another membership change is in progress; retry when it completes');
      case 'conf-change-unsafe':
        return new FailedPreconditionError('the change would leave half the voters or more recovering from a lost disk; retry once they have caught up');
      case 'transfer-in-progress':
        return new NoLeaderError('leadership is being transferred; retry shortly');
      default:
        return this.notLeader();
    }
  }

  private async handleReady(ready: Ready): Promise<void> {
    if (ready.softState !== undefined) this.onSoftState(ready.softState.role, ready.softState.leaderId);
    this.transport.send(ready.messages);
    if (ready.snapshot !== undefined && ready.snapshot.metadata !== undefined && ready.snapshot.metadata.index > 0) {
      await this.applyTail;
      // A local snapshot being written must not share a file with the leader's.
      await this.snapshotBuild;
      await this.restoreSnapshot(ready.snapshot);
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
    const applied = ready.committedEntries.length > 0 ? this.enqueueApply(ready.committedEntries) : undefined;
    await persist;
    if (!sendNow) this.transport.send(ready.persistedMessages);
    // A conf change changes who raft talks to: apply it inside the turn.
    if (confChange) await applied;
    for (const rs of ready.readStates) this.reads.confirmed(rs.context, rs.index);
    this.reads.applied(this.appliedIndex);
    this.minIndexReads.advance(this.readableIndex);
    if (confChange) this.raft.advance(ready);
    else this.raft.advancePersisted(ready);
  }

  /** Queues committed entries on the apply chain; the promise settles when they are applied. */
  private enqueueApply(entries: readonly Entry[]): Promise<void> {
    this.appliesInFlight += 1;
    const last = entries[entries.length - 1]!.index;
    const run = this.applyTail.then(async () => {
      if (this.stopped) return;
      await this.apply(entries);
      this.raft.appliedTo(last);
      this.reads.applied(this.appliedIndex);
      this.minIndexReads.advance(this.readableIndex);
      // The chain is between batches here, so the state machine's view matches appliedIndex.
      this.maybeStartSnapshot();
      this.wake();
    });
    this.applyTail = run.then(
      () => {
        this.appliesInFlight -= 1;
      },
      (error: unknown) => {
        this.appliesInFlight -= 1;
        this.fail(error);
      },
    );
    return run;
  }

  private fail(error: unknown): void {
    if (this.stopped) return;
    this.logger.error('node-loop-failed', { error });
    this.stopped = true;
    this.onFatal(error);
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
      this.pending.rejectAll(() => new UnknownOutcomeError('leadership changed before the write committed; it may still be applied (retry with the same session to learn the result)'));
      this.reads.rejectAll(() => this.notLeader());
    }
  }

  private async apply(entries: readonly Entry[]): Promise<void> {
    let batch: Entry[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const entries = batch;
      batch = [];
      const first = entries[0]!.index;
      // Writes are answered once their results are known, before the apply
      // batch reaches LevelDB. Linearizable reads still wait for appliedIndex,
      // which moves only after the write.
      await this.stateMachine.applyEntries(entries, undefined, (results) => {
        for (const r of results) {
          // Batches hold consecutive indexes, so the entry is at a fixed offset.
          const entry = entries[r.index - first]!;
          const outcome = r.result instanceof Error ? { error: r.result } : { value: r };
          this.pending.settle(r.index, entry.term, outcome, () => this.notLeader());
        }
        // Reads see this batch from now on: a read waiting for one of its entries may go.
        this.answeredIndex = entries[entries.length - 1]!.index;
        this.minIndexReads.advance(this.readableIndex);
      });
    };
    for (const entry of entries) {
      if (entry.type === EntryType.CONF_CHANGE) {
        await flush();
        await this.applyConfChange(entry);
      } else {
        batch.push(entry);
      }
    }
    await flush();
    const last = entries[entries.length - 1]!;
    this.appliedIndex = last.index;
  }

  private async applyConfChange(entry: Entry): Promise<void> {
    const change = ConfChange.decode(entry.data);
    this.confState = this.raft.applyConfChange(change);
    if (change.type === ConfChangeType.REMOVE_NODE) {
      this.members.delete(change.nodeId);
      this.transport.removePeer(change.nodeId);
    } else if (change.context.length > 0) {
      const member = Member.decode(change.context);
      member.learner = change.type === ConfChangeType.ADD_LEARNER_NODE;
      this.members.set(member);
      this.transport.setPeer(member.id, member.peerAddress);
    }
    this.members.syncWith(this.confState);
    // The new membership and the applied index that covers it land in one batch:
    // a crash can never leave one without the other.
    await this.stateMachine.applyEntries([entry], this.storage.stageMembership(this.confState, this.members.list()));
    this.pending.settle(entry.index, entry.term, { value: undefined }, () => this.notLeader());
    this.events.event('membership-changed', { index: entry.index, change: ConfChangeType[change.type], nodeId: change.nodeId });
    if (change.type === ConfChangeType.REMOVE_NODE && change.nodeId === this.options.id) {
      this.logger.warn('removed-from-cluster', { index: entry.index });
    }
    // A snapshot file from before this change no longer names the members, so
    // it is not sent (RaftStorage.snapshotInfo().servable): a new one is built
    // only if raft asks for one, on the node that sends it. (Every node used to
    // cut a whole snapshot here, inside its loop turn.)
  }

  private snapshotBuildDue(): boolean {
    return this.snapshotWanted && this.snapshotBuild === undefined && this.snapshotBuilt === undefined && !this.snapshotRecording && !this.stopped;
  }

  /**
   * Every snapshotEntries applied entries the log is compacted, with no
   * snapshot file (see RaftStorage.compact): the index to compact at, if due.
   * Not while a file is being built: compacting past it would make it
   * useless before a follower received it.
   */
  private dueCompaction(): number | undefined {
    if (this.snapshotWanted || this.snapshotBuild !== undefined || this.snapshotBuilt !== undefined) return undefined;
    if (this.snapshotRecording || this.stopped) return undefined;
    if (this.appliedIndex - this.snapshotIndex < this.options.snapshotEntries) return undefined;
    const progress = this.role === 'leader' ? this.raft.status().progress : undefined;
    const followers = progress === undefined ? [] : [...progress].filter(([id]) => id !== this.options.id).map(([, peer]) => peer);
    const index = compactionIndex({ appliedIndex: this.appliedIndex, snapshotEntries: this.options.snapshotEntries, followers });
    return index > this.snapshotIndex ? index : undefined;
  }

  private async compactLog(index: number): Promise<void> {
    this.snapshotRecording = true;
    try {
      // The membership in force now: a file-less snapshot's ConfState is never sent (a built file carries its own).
      await this.storage.compact(index, { ...this.confState });
    } finally {
      this.snapshotRecording = false;
    }
    this.snapshotIndex = index;
    this.events.event('log-compacted', { index });
  }

  /**
   * When a follower needs a snapshot that has no file, starts encoding one
   * in the background: the state machine's view is captured now (a LevelDB
   * snapshot), but reading and encoding it must not stall the loop (it did:
   * every proposal waited for it, the p99 outlier). The loop records it
   * (file, metadata, log compaction) when it is ready, and raft sends it on
   * its next try.
   */
  private maybeStartSnapshot(): void {
    if (!this.snapshotBuildDue()) return;
    this.snapshotWanted = false;
    // A file recorded since the request serves it.
    if (this.storage.snapshotInfo().servable) return;
    const started = this.captureSnapshot();
    this.snapshotBuild = started.prepared
      .then((prepared) => {
        this.snapshotBuilt = { prepared, confState: started.confState, epoch: started.epoch };
        this.wake();
      })
      .catch((error: unknown) => {
        // A leader's snapshot installed meanwhile removes the half-written file; nothing is lost.
        if (started.epoch !== this.restoreEpoch || this.stopped) this.logger.debug('snapshot-abandoned', { index: started.index });
        else this.logger.error('snapshot-write-failed', { index: started.index, error });
      })
      .finally(() => {
        this.snapshotBuild = undefined;
      });
  }

  /**
   * Captures the state at the applied index now (a LevelDB view) and streams
   * it to the snapshot file; the snapshot is never whole in memory.
   */
  private captureSnapshot(): { index: number; confState: ConfState; epoch: number; prepared: Promise<PreparedSnapshot> } {
    const index = this.appliedIndex;
    const state = this.stateMachine.snapshot();
    return {
      index,
      confState: { ...this.confState },
      epoch: this.restoreEpoch,
      // close(): the LevelDB view is released even if writing fails before reading it.
      prepared: this.storage.prepareSnapshot(index, snapshotPayload(this.members.encode(), state)).finally(() => state.close()),
    };
  }

  private async recordSnapshot(built: BuiltSnapshot): Promise<void> {
    this.snapshotBuilt = undefined;
    // A leader's snapshot installed meanwhile replaced the state this one describes.
    if (built.epoch !== this.restoreEpoch) return;
    const fillsCompaction = built.prepared.index === this.snapshotIndex && !this.storage.snapshotInfo().servable;
    if (built.prepared.index <= this.snapshotIndex && !fillsCompaction) return;
    this.snapshotRecording = true;
    try {
      await this.storage.recordSnapshot(built.prepared, built.confState);
    } finally {
      this.snapshotRecording = false;
    }
    this.snapshotIndex = built.prepared.index;
    this.events.event('snapshot-taken', { index: built.prepared.index, bytes: built.prepared.bytes });
  }

  /** Takes a snapshot inside the turn (after a conf change, and for Cluster.Snapshot). */
  private async snapshotInLoop(): Promise<void> {
    await this.applyTail;
    // One snapshot file at a time: finish (and record) one being written in the background first.
    await this.snapshotBuild;
    if (this.snapshotBuilt !== undefined) await this.recordSnapshot(this.snapshotBuilt);
    if (this.appliedIndex <= this.snapshotIndex && (this.snapshotIndex === 0 || this.storage.snapshotInfo().servable)) return;
    const started = this.captureSnapshot();
    await this.recordSnapshot({ prepared: await started.prepared, confState: started.confState, epoch: started.epoch });
  }

  /** Takes a snapshot now (Cluster.Snapshot). */
  async snapshotNow(): Promise<{ index: number; term: number; sizeBytes: number }> {
    // Taken by the loop, between turns, so no other storage write overlaps it.
    await new Promise<void>((resolve, reject) => {
      if (this.stopped) return reject(new ShuttingDownError());
      this.snapshotRequests.push({ resolve, reject });
      this.wake();
    });
    const { index, term } = this.storage.snapshotInfo();
    return { index, term, sizeBytes: this.storage.snapshotSizeBytes() };
  }

  private async restoreSnapshot(snapshot: Snapshot): Promise<void> {
    const { members, stateMachineData } = decodeSnapshotPayload(snapshot.data);
    await this.stateMachine.restore(stateMachineData, snapshot.metadata!.index);
    this.members.replaceWith(members);
    for (const m of members.list()) this.transport.setPeer(m.id, m.peerAddress);
    this.confState = snapshot.metadata!.confState ?? this.confState;
    await this.storage.saveMembership(this.confState, members.list());
    this.appliedIndex = snapshot.metadata!.index;
    this.snapshotIndex = snapshot.metadata!.index;
    this.restoreEpoch += 1;
    this.events.event('snapshot-restored', { index: this.appliedIndex, bytes: snapshot.data.length });
  }

  private async serveSnapshotRequests(): Promise<void> {
    const requests = this.snapshotRequests;
    this.snapshotRequests = [];
    try {
      await this.snapshotInLoop();
      for (const r of requests) r.resolve();
    } catch (error) {
      for (const r of requests) r.reject(error as Error);
      throw error;
    }
  }

  private whenIdle(): Promise<void> {
    if (!this.turnRunning) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    this.stopped = true;
    this.pending.rejectAll(() => new ShuttingDownError());
    this.reads.rejectAll(() => new ShuttingDownError());
    this.minIndexReads.rejectAll(() => new ShuttingDownError());
    for (const p of this.proposals) p.reject(new ShuttingDownError());
    this.proposals = [];
    for (const r of this.snapshotRequests) r.reject(new ShuttingDownError());
    this.snapshotRequests = [];
    await this.whenIdle();
    await this.applyTail;
    await this.snapshotBuild;
  }
}

interface BuiltSnapshot {
  prepared: PreparedSnapshot;
  confState: ConfState;
  epoch: number;
}

function hasConfChange(entries: readonly Entry[]): boolean {
  for (const entry of entries) if (entry.type === EntryType.CONF_CHANGE) return true;
  return false;
}

/** Snapshot data = u32 length of the members JSON, the members JSON, the state machine's bytes. */
async function* snapshotPayload(encodedMembers: Buffer, stateMachine: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(encodedMembers.length);
  yield header;
  yield encodedMembers;
  yield* stateMachine;
}

function decodeSnapshotPayload(data: Buffer): { members: Members; stateMachineData: Buffer } {
  const length = data.readUInt32BE(0);
  return { members: Members.decode(data.subarray(4, 4 + length)), stateMachineData: data.subarray(4 + length) };
}
