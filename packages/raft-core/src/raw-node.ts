/**
 * RawNode: the application's handle on one Raft node (etcd's RawNode). Input
 * goes in through tick/step/propose/...; effects come out as a Ready, which
 * the application carries out in the order documented in ready.ts and then
 * acknowledges with advance(). Exactly one Ready is outstanding at a time.
 */
import { assert, EntryType, MessageType, type ConfChange, type ConfState, type Entry, type HardState, type Message } from '@cairn/proto';
import { encodeConfChange } from './conf-change.js';
import { withDefaults, validate, type RaftConfig } from './config.js';
import { COMMITTED_BYTES_PER_READY_MAX } from './limits.js';
import { isValidPeerMessage } from './messages.js';
import { Raft, newMessage } from './raft.js';
import type { RaftStatus, Ready, SoftState } from './ready.js';
import type { Rng } from './rng.js';
import type { Storage } from './storage.js';
import type { NodeId, ProposeResult } from './types.js';
import { snapshotIndex } from './unstable-log.js';

interface OutstandingReady {
  readonly number: number;
  /** This node's own acknowledgements, stepped once the Ready is durable. */
  readonly selfMessages: readonly Message[];
}

function sameHardState(a: HardState, b: HardState): boolean {
  return (
    a.term === b.term &&
    a.vote === b.vote &&
    a.commit === b.commit &&
    (a.recovering ?? false) === (b.recovering ?? false) &&
    (a.flaggedTerm ?? 0) === (b.flaggedTerm ?? 0)
  );
}

export class RawNode {
  private readonly raft: Raft;
  private previousSoftState: SoftState;
  private previousHardState: HardState;
  private readyNumber = 0;
  private outstanding: OutstandingReady | undefined = undefined;

  private constructor(raft: Raft) {
    this.raft = raft;
    this.previousSoftState = this.softState();
    this.previousHardState = this.hardState();
  }

  /**
   * Creates a node from its config and storage (restarting from storage's
   * hard state and conf state). Throws ConfigInvalidError for a bad config.
   */
  static create(config: RaftConfig, storage: Storage, rng: Rng): RawNode {
    const resolved = withDefaults(config);
    validate(resolved);
    return new RawNode(new Raft(resolved, storage, rng));
  }

  /** Advances logical time by one tick (election and heartbeat timeouts are in ticks). */
  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (a pre-vote first when preVote is on). */
  campaign(): void {
    this.raft.step(newMessage({ type: MessageType.HUP, from: this.raft.id }));
  }

  /**
   * Network input. Malformed messages, local-only types and responses from
   * nodes outside the configuration are dropped; this never throws for peer input.
   */
  step(message: Message): void {
    if (!isValidPeerMessage(message, this.raft.id)) return;
    if (!this.raft.acceptsFrom(message)) return;
    this.raft.step(message);
  }

  /** Proposes a command. A follower forwards it to the leader (ok means forwarded, not committed). */
  propose(data: Uint8Array): ProposeResult {
    return this.proposeMany([data]);
  }

  /**
   * Proposes several commands at once, all or none: on a leader they are
   * appended together and go out in one MsgApp per follower, where separate
   * propose() calls would send one each.
   */
  proposeMany(datas: readonly Uint8Array[]): ProposeResult {
    return this.raft.propose(datas.map((data) => ({ term: 0, index: 0, type: EntryType.NORMAL, data: Buffer.from(data) })));
  }

  /** Proposes a single-server membership change; apply it with applyConfChange() once committed. */
  proposeConfChange(change: ConfChange): ProposeResult {
    if (!Number.isSafeInteger(change.nodeId) || change.nodeId <= 0) return { ok: false, reason: 'invalid-conf-change' };
    const data = encodeConfChange(change);
    return this.raft.propose([{ term: 0, index: 0, type: EntryType.CONF_CHANGE, data }]);
  }

  /** Applies a committed conf change; persist the returned ConfState with the applied index. */
  applyConfChange(change: ConfChange): ConfState {
    return this.raft.applyConfChange(change);
  }

  /** Requests a linearizable read; a ReadState with the same context appears in a later Ready. */
  readIndex(context: Uint8Array): void {
    this.raft.step(newMessage({ type: MessageType.READ_INDEX, from: this.raft.id, context: Buffer.from(context) }));
  }

  /** Asks the leader to hand leadership to `target` (a voter). */
  transferLeader(target: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.TRANSFER_LEADER, from: target, to: this.raft.id, term: 0 }));
  }

  /**
   * This node's storage was lost or rolled back (found by the application):
   * from now until a leader catches it up it neither votes nor campaigns, and
   * it says so durably in the next Ready's hard state.
   */
  fence(): void {
    this.raft.fence();
  }

  /**
   * A recovering node's survey is complete (every other voter answered, a
   * majority of the voters may vote) and `term` is the highest term of those
   * that may: raise this node's term there and take its vote in it, so leaders
   * of earlier terms are refused, and let it recover (docs/disk-loss.md).
   */
  settleTerm(term: number): void {
    this.raft.settleTerm(term);
  }

  /** Hold votes (as config.holdVotes) until releaseVotes() or fence(). */
  holdVotes(): void {
    this.raft.votesHeld = true;
  }

  /** The application found no sign of lost storage: end the hold of config.holdVotes. */
  releaseVotes(): void {
    this.raft.releaseVotes();
  }

  /** The transport could not deliver to `id`: slow replication to it down to probing. */
  reportUnreachable(id: NodeId): void {
    this.raft.step(newMessage({ type: MessageType.UNREACHABLE, from: id }));
  }

  /** The transport finished sending a snapshot to `id`, successfully or not. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(newMessage({ type: MessageType.SNAP_STATUS, from: id, reject: !ok }));
  }

  /** Whether ready() has anything to do. False while a Ready is outstanding (call advance first). */
  hasReady(): boolean {
    if (this.outstanding !== undefined) return false;
    const raft = this.raft;
    if (!sameSoftState(this.softState(), this.previousSoftState)) return true;
    if (!sameHardState(this.hardState(), this.previousHardState)) return true;
    if (raft.log.unstable.snapshot !== undefined || raft.log.unstable.entries.length > 0) return true;
    if (raft.msgs.length > 0 || raft.msgsAfterPersist.length > 0 || raft.selfMsgsAfterPersist.length > 0) return true;
    if (raft.readStates.length > 0) return true;
    return raft.log.hasNextCommittedEntries();
  }

  /** The effects to carry out now. Call advance(ready) when done, before the next ready(). */
  ready(): Ready {
    assert(this.outstanding === undefined, 'advance() the previous Ready before asking for another');
    const raft = this.raft;
    const softState = this.softState();
    const hardState = this.hardState();
    const hardStateChanged = !sameHardState(hardState, this.previousHardState);
    const entries = [...raft.log.unstable.entries];
    const committedEntries = raft.log.nextCommittedEntries(COMMITTED_BYTES_PER_READY_MAX);
    const ready: Ready = {
      number: ++this.readyNumber,
      softState: sameSoftState(softState, this.previousSoftState) ? undefined : softState,
      hardState: hardStateChanged ? hardState : undefined,
      entries,
      snapshot: raft.log.unstable.snapshot,
      messages: raft.msgs,
      persistedMessages: raft.msgsAfterPersist,
      committedEntries,
      readStates: raft.readStates,
      mustSync:
        entries.length > 0 ||
        hardState.term !== this.previousHardState.term ||
        hardState.vote !== this.previousHardState.vote ||
        (hardState.recovering ?? false) !== (this.previousHardState.recovering ?? false) ||
        (hardState.flaggedTerm ?? 0) !== (this.previousHardState.flaggedTerm ?? 0),
    };
    this.outstanding = { number: ready.number, selfMessages: raft.selfMsgsAfterPersist };
    raft.msgs = [];
    raft.msgsAfterPersist = [];
    raft.selfMsgsAfterPersist = [];
    raft.readStates = [];
    this.previousSoftState = softState;
    this.previousHardState = hardState;
    if (committedEntries.length > 0) {
      raft.log.applying = committedEntries[committedEntries.length - 1]!.index;
      raft.reduceUncommittedBytes(committedEntries);
    }
    return ready;
  }

  /**
   * The application carried out `ready`: its entries, hard state and snapshot
   * are durable and its committed entries applied.
   */
  advance(ready: Ready): void {
    this.finishReady(ready, { applied: true });
  }

  /**
   * The application made `ready`'s entries, hard state and snapshot durable
   * but may still be applying its committed entries (etcd's pipelined apply):
   * the next Ready can be produced and persisted meanwhile, and never repeats
   * those entries. Report the apply with appliedTo().
   */
  advancePersisted(ready: Ready): void {
    this.finishReady(ready, { applied: false });
  }

  private finishReady(ready: Ready, options: { applied: boolean }): void {
    const outstanding = this.outstanding;
    assert(outstanding !== undefined && outstanding.number === ready.number, `advance(#${ready.number}) matches the outstanding Ready`);
    this.outstanding = undefined;
    const raft = this.raft;
    if (ready.snapshot !== undefined) {
      const index = snapshotIndex(ready.snapshot);
      raft.log.stableSnapshotTo(index);
      raft.log.appliedTo(index);
    }
    const lastEntry: Entry | undefined = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined && raft.log.stableTo(lastEntry.index, lastEntry.term)) {
      raft.acknowledgeOwnLog(lastEntry.index);
    }
    const lastCommitted = ready.committedEntries[ready.committedEntries.length - 1];
    if (options.applied && lastCommitted !== undefined) raft.log.appliedTo(lastCommitted.index);
    for (const message of outstanding.selfMessages) raft.step(message);
  }

  /** The application applied every committed entry up to `index` (after advancePersisted). */
  appliedTo(index: number): void {
    assert(index <= this.raft.log.applying, `appliedTo(${index}) beyond the entries handed out (${this.raft.log.applying})`);
    this.raft.log.appliedTo(index);
  }

  /**
   * The last log index and current term, without building a full status: the
   * server calls it after every accepted proposal to learn the entry's index.
   */
  lastIndexAndTerm(): { lastIndex: number; term: number } {
    return { lastIndex: this.raft.log.lastIndex(), term: this.raft.term };
  }

  status(): RaftStatus {
    const raft = this.raft;
    const status: RaftStatus = {
      id: raft.id,
      role: raft.role,
      term: raft.term,
      leaderId: raft.leaderId,
      vote: raft.vote,
      commitIndex: raft.log.committed,
      appliedIndex: raft.log.applied,
      lastIndex: raft.log.lastIndex(),
      firstIndex: raft.log.firstIndex(),
      voters: raft.tracker.voterIds(),
      learners: [...raft.tracker.learners].sort((a, b) => a - b),
      leadTransferee: raft.leadTransferee,
      recovering: raft.recovering,
      termSettled: raft.termSettled,
      votesHeld: raft.votesHeld,
    };
    if (raft.role === 'leader') {
      status.progress = new Map(
        [...raft.tracker.progress].map(([id, progress]) => [
          id,
          {
            matchIndex: progress.matchIndex,
            matchIndexBeforeLoss: progress.matchIndexBeforeLoss,
            nextIndex: progress.nextIndex,
            state: progress.state,
            recentActive: progress.recentActive,
          },
        ]),
      );
    }
    return status;
  }

  private softState(): SoftState {
    return { leaderId: this.raft.leaderId, role: this.raft.role };
  }

  private hardState(): HardState {
    const hardState: HardState = { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
    // Absent rather than false, so a healthy node's hard state is as before.
    if (this.raft.recovering) hardState.recovering = true;
    if (this.raft.flagsAcks()) hardState.flaggedTerm = this.raft.term;
    return hardState;
  }
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leaderId === b.leaderId && a.role === b.role;
}
