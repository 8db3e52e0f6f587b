import { ConfChange, ConfChangeType, EntryType, MessageType } from '@cairn/proto';
import type { ConfState, Entry, Message } from '@cairn/proto';
import { RawNode } from '../raw-node.js';
import type { Ready, RaftStatus } from '../ready.js';
import { createRng } from '../rng.js';
import type { Rng } from '../rng.js';
import type { LogReader } from '../storage.js';
import type { NodeId, ProposeResult } from '../types.js';
import { check, dataText, SafetyChecker, SimViolationError } from './checkers.js';
import type { AppliedValue } from './checkers.js';
import { EventQueue } from './event-queue.js';
import { RELIABLE_NETWORK, SimNetwork } from './sim-network.js';
import type { SimNetworkOptions } from './sim-network.js';
import { SimNode } from './sim-node.js';
import { decodeValues } from './sim-state-machine.js';
import { describeMessage, describeReady } from '../messages.js';

/** The RawNode settings every simulated node shares. */
export interface SimRaftOptions {
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxSizePerMsgBytes?: number;
  maxInflightMsgs?: number;
  broadcastCommit?: boolean;
}

export interface SimClusterOptions {
  /** Number of voters at start (ids 1..size). */
  size: number;
  network?: Partial<SimNetworkOptions>;
  raft?: Partial<SimRaftOptions>;
  /** Virtual instants per tick: message delays are in instants, timeouts in ticks. @default 10 */
  instantsPerTick?: number;
  /** A Ready's fsync completes after [0, max] instants; crashing in between loses it. @default 0 */
  fsyncDelayMaxInstants?: number;
  /**
   * Apply a Ready's committed entries [0, max] instants after the Ready is
   * durable, through advancePersisted() and appliedTo(), as the server's
   * pipelined apply does (later Readies are produced and persisted
   * meanwhile); Readies with a conf change or a snapshot first drain the
   * queue and apply in their turn. 0 applies every Ready in its turn. @default 0
   */
  applyDelayMaxInstants?: number;
  /** Each node snapshots and compacts after this many applied entries; 0 never. @default 0 */
  snapshotEveryEntries?: number;
  /**
   * Send messages through a protobuf encode/decode, exactly as on the wire;
   * otherwise deep-copy them (faster, still no shared objects). @default true
   */
  wireEncoding?: boolean;
  /** Entries kept in the log behind a snapshot. @default 0 */
  snapshotTrailingEntries?: number;
  /**
   * When the leader reads storage.snapshot() to send one, first snapshot the
   * current applied state (etcd's server does this), so the snapshot's
   * ConfState lists members added since the last periodic snapshot; without
   * it such a learner can never catch up from a compacted log. @default true
   */
  snapshotOnSend?: boolean;
  /**
   * A node restarted on a lost or rolled-back disk starts fenced (recovering),
   * as the server's startup check makes it; false shows what Raft alone does
   * with such a node (acknowledged writes lost). @default true
   */
  fenceLostStorage?: boolean;
  /**
   * Receives one line per event (Ready, delivery, fault, conf change applied),
   * prefixed with the tick; for replaying a failing seed. Draws no randomness,
   * so a traced run is the same run.
   */
  trace?: (line: string) => void;
}

export interface SimClusterStats {
  proposed: number;
  acked: number;
  crashes: number;
  restarts: number;
  /** Restarts on a wiped or rolled-back disk. */
  storageLosses: number;
  snapshotsTaken: number;
  snapshotsInstalled: number;
  confChangesApplied: number;
  transfers: number;
  readies: number;
}

/** What SimCluster.propose() did. */
export interface ProposeOutcome {
  value: string;
  node: NodeId | undefined;
  result: ProposeResult;
}

export type TickHook = (cluster: SimCluster) => void;

const DEFAULT_RAFT: SimRaftOptions = { electionTicks: 10, heartbeatTicks: 1, preVote: true, checkQuorum: true };
/** A node that keeps reporting hasReady() after this many turns in one instant is stuck. */
const TURNS_PER_INSTANT_MAX = 1000;

/**
 * N RawNodes on one virtual clock, driven the way kv-server drives one: each
 * turn steps queued input, then handles one Ready (send `messages`; write;
 * fsync; send `persistedMessages`; apply; advance). Faults (crash, restart,
 * partitions, conf changes, transfers) are methods; random fault plans and
 * workloads attach through onTick().
 */
export class SimCluster {
  readonly network: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly stats: SimClusterStats = {
    proposed: 0,
    acked: 0,
    crashes: 0,
    restarts: 0,
    storageLosses: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    confChangesApplied: 0,
    transfers: 0,
    readies: 0,
  };
  /** Virtual time in instants, and in whole ticks. */
  now = 0;
  ticks = 0;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly fsyncs = new EventQueue<{ id: NodeId; generation: number }>();
  private readonly applies = new EventQueue<{ id: NodeId; generation: number }>();
  private readonly hooks: TickHook[] = [];
  /** Removed nodes, with the index of their removal and the voters after it. */
  private readonly removals = new Map<NodeId, { index: number; voters: NodeId[] }>();
  private readonly raft: SimRaftOptions;
  private readonly instantsPerTick: number;
  private readonly genesis: ConfState;
  private nextTickAt: number;
  private valueNext = 1;
  private nodeIdNext: number;

  private constructor(
    readonly rng: Rng,
    private readonly options: SimClusterOptions,
  ) {
    this.raft = { ...DEFAULT_RAFT, ...options.raft };
    this.instantsPerTick = options.instantsPerTick ?? 10;
    this.nextTickAt = this.instantsPerTick;
    this.network = new SimNetwork(rng, { ...RELIABLE_NETWORK, ...options.network }, options.wireEncoding ?? true);
    this.network.onDrop = (source, target, type) => {
      if (type === MessageType.SNAP) this.reportSnapshot(source, target, false);
    };
    const voters = Array.from({ length: options.size }, (_, i) => i + 1);
    this.genesis = { voters, learners: [], votersOutgoing: [] };
    this.nodeIdNext = options.size + 1;
    for (const id of voters) this.startNode(this.addNodeRecord(id as NodeId));
  }

  /** One seed drives everything: network, fsync timing, election jitter, workload, faults. */
  static create(seed: number | bigint, options: SimClusterOptions): SimCluster {
    check(options.size >= 1, 'READY_CONTRACT', () => 'a cluster needs at least one node');
    return new SimCluster(createRng(seed), options);
  }

  /** Emits one trace line when tracing is on (the text is built lazily). */
  private trace(text: () => string): void {
    const sink = this.options.trace;
    if (sink !== undefined) sink(`[t${this.ticks} i${this.now}] ${text()}`);
  }

  // ---- Observation -------------------------------------------------------

  /** Every node ever started (up, down, or removed), in id order. */
  nodeIds(): NodeId[] {
    return [...this.nodes.keys()];
  }

  isUp(id: NodeId): boolean {
    return this.node(id).isUp;
  }

  isRemoved(id: NodeId): boolean {
    return this.node(id).removed;
  }

  status(id: NodeId): RaftStatus | undefined {
    return this.node(id).raw?.status();
  }

  /** The up node that believes it leads the highest term, if any. */
  leader(): NodeId | undefined {
    let best: RaftStatus | undefined;
    for (const node of this.nodes.values()) {
      const status = node.raw?.status();
      if (status?.role === 'leader' && (best === undefined || status.term > best.term)) best = status;
    }
    return best?.id;
  }

  /** Voters and learners according to the current leader (or the highest-term node). */
  members(): NodeId[] {
    const leader = this.leader();
    const status = leader === undefined ? undefined : this.status(leader);
    if (status === undefined) return this.nodeIds().filter((id) => !this.node(id).removed);
    return [...status.voters, ...status.learners].sort((a, b) => a - b);
  }

  appliedValues(id: NodeId): readonly AppliedValue[] {
    return this.node(id).stateMachine.values;
  }

  appliedIndex(id: NodeId): number {
    return this.node(id).stateMachine.appliedIndex;
  }

  log(id: NodeId): LogReader {
    return this.node(id).storage;
  }

  /** True if `value` is in the state machine of every listed node. */
  isAppliedOn(value: string, ids: readonly NodeId[]): boolean {
    return ids.every((id) => this.node(id).stateMachine.values.some(([, v]) => v === value));
  }

  // ---- Time --------------------------------------------------------------

  onTick(hook: TickHook): void {
    this.hooks.push(hook);
  }

  runTicks(count: number): void {
    const target = this.ticks + count;
    while (this.ticks < target) this.advance();
  }

  /** Runs until `predicate` holds (checked every tick) or `ticksMax` pass; returns whether it held. */
  runUntil(predicate: () => boolean, ticksMax: number): boolean {
    const deadline = this.ticks + ticksMax;
    if (predicate()) return true;
    while (this.ticks < deadline) {
      const ticksBefore = this.ticks;
      this.advance();
      if (this.ticks !== ticksBefore && predicate()) return true;
    }
    return predicate();
  }

  /** Processes everything due at the next event instant. */
  private advance(): void {
    this.now = Math.min(this.network.nextDueAt(), this.fsyncs.peekAt(), this.applies.peekAt(), this.nextTickAt);
    this.network.deliverDue(this.now, (target, message) => this.receive(target, message));
    for (let due = this.fsyncs.popDue(this.now); due !== undefined; due = this.fsyncs.popDue(this.now)) {
      const node = this.node(due.id);
      if (node.generation === due.generation && node.inFlight !== undefined) this.finishReady(node, node.inFlight);
    }
    for (let due = this.applies.popDue(this.now); due !== undefined; due = this.applies.popDue(this.now)) {
      const node = this.node(due.id);
      if (node.generation === due.generation) this.applyQueued(node);
    }
    if (this.now === this.nextTickAt) {
      this.nextTickAt += this.instantsPerTick;
      this.ticks++;
      this.network.tick(this.upNodeIds());
      for (const node of this.nodes.values()) if (node.isUp) node.ticksPending++;
      this.settleRecoveringTerms();
      for (const hook of this.hooks) hook(this);
    }
    for (const node of this.nodes.values()) this.takeTurns(node);
    if (this.removals.size > 0) this.shutDownRemoved();
  }

  /**
   * The server's startup check, for a node restarted on a lost disk: once
   * every other voter of its configuration is up and a majority of the voters
   * may vote, it raises its term to the highest of theirs (RawNode.settleTerm).
   */
  private settleRecoveringTerms(): void {
    for (const node of this.nodes.values()) {
      if (node.raw === undefined || !node.recoveringOnDisk) continue;
      const status = node.raw.status();
      if (!status.recovering || status.termSettled) continue;
      let answered = 0;
      let voting = 0;
      let term = 0;
      const voters = status.voters.join(',');
      for (const id of status.voters) {
        const peer = id === node.id ? undefined : this.nodes.get(id)?.raw?.status();
        // As the server's check: only peers of the same configuration answer for it.
        if (peer === undefined || peer.voters.join(',') !== voters) continue;
        answered++;
        if (peer.recovering || peer.votesHeld) continue;
        voting++;
        term = Math.max(term, peer.term);
      }
      // Every other voter answered, and a majority of the voters may vote.
      if (answered < status.voters.length - 1 || voting * 2 <= status.voters.length) continue;
      node.raw.settleTerm(term);
      this.trace(() => `node ${node.id} settled its term at ${term} (asked ${answered} of ${status.voters.length} voters)`);
    }
  }

  private receive(target: NodeId, message: Message): void {
    const node = this.nodes.get(target);
    const delivered = node?.raw !== undefined;
    this.trace(() => `${delivered ? 'deliver' : 'lost (target down)'} ${describeMessage(message)}`);
    if (delivered) node!.inbox.push(message);
    // The snapshot stream's ack (or its failure) reaches the sender's transport.
    if (message.type === MessageType.SNAP) this.reportSnapshot(message.from as NodeId, target, delivered);
  }

  private reportSnapshot(source: NodeId, target: NodeId, ok: boolean): void {
    const node = this.nodes.get(source);
    if (node?.raw !== undefined) node.snapshotReports.push({ target, ok });
  }

  // ---- The driver loop of one node ----------------------------------------

  private takeTurns(node: SimNode): void {
    for (let turn = 0; node.wantsTurn; turn++) {
      check(turn < TURNS_PER_INSTANT_MAX, 'READY_CONTRACT', () => `node ${node.id} reports hasReady() forever`);
      const raw = node.raw!;
      const inbox = node.inbox;
      node.inbox = [];
      for (const message of inbox) raw.step(message);
      for (const report of node.snapshotReports.splice(0)) raw.reportSnapshot(report.target, report.ok);
      for (; node.ticksPending > 0; node.ticksPending--) raw.tick();
      if (raw.hasReady()) this.startReady(node, raw.ready());
    }
  }

  /** Steps 1-2 of the Ready contract: send `messages`, write; fsync completes later. */
  private startReady(node: SimNode, ready: Ready): void {
    this.stats.readies++;
    this.trace(() => `node ${node.id} ${describeReady(ready).replaceAll('\n', '\n    ')}`);
    this.checkReadyShape(node, ready);
    for (const message of ready.messages) this.network.send(message, this.now);
    // A snapshot replaces the log: entries still queued for apply go first (as the server awaits its apply chain).
    if (ready.snapshot !== undefined) this.drainApplies(node);
    if (ready.snapshot !== undefined) node.storage.applySnapshot(ready.snapshot);
    if (ready.entries.length > 0) {
      node.storage.append(ready.entries);
      this.checker.observeAppend(node.id, ready.entries, node.storage);
    }
    if (ready.hardState !== undefined) {
      node.storage.setHardState(ready.hardState);
      node.hardStateLast = ready.hardState;
    }
    if (ready.hardState !== undefined) node.term = ready.hardState.term;
    // A leader's term never changes while it leads, so checking at the transition covers all time.
    if (ready.softState !== undefined) {
      node.role = ready.softState.role;
      if (node.role === 'leader') this.checker.observeLeader(node.id, node.term, node.storage);
    }
    const delay = this.options.fsyncDelayMaxInstants ?? 0;
    const fsyncAt = delay > 0 ? this.now + this.rng.intBelow(delay + 1) : this.now;
    if (fsyncAt === this.now) {
      this.finishReady(node, ready);
    } else {
      node.inFlight = ready;
      this.fsyncs.push(fsyncAt, { id: node.id, generation: node.generation });
    }
  }

  /** Steps 2-5: fsync, send `persistedMessages`, apply, advance. */
  private finishReady(node: SimNode, ready: Ready): void {
    node.inFlight = undefined;
    // Snapshots are always written synced (as etcd's servers do); mustSync covers the rest.
    if (ready.mustSync || ready.snapshot !== undefined) node.storage.sync();
    for (const message of ready.persistedMessages) this.network.send(message, this.now);
    const delayMax = this.options.applyDelayMaxInstants ?? 0;
    const inTurn =
      delayMax === 0 || ready.snapshot !== undefined || ready.committedEntries.some((entry) => entry.type === EntryType.CONF_CHANGE);
    if (inTurn) {
      this.drainApplies(node);
      if (ready.snapshot !== undefined) this.restoreSnapshot(node, ready);
      this.apply(node, ready.committedEntries, node.term);
      node.raw!.advance(ready);
    } else {
      node.raw!.advancePersisted(ready);
      if (ready.committedEntries.length > 0) {
        // In order: a batch is never due before the one queued ahead of it.
        node.applyDueLast = Math.max(node.applyDueLast, this.now + this.rng.intBelow(delayMax + 1));
        node.applyQueue.push({ entries: ready.committedEntries, term: node.term });
        this.applies.push(node.applyDueLast, { id: node.id, generation: node.generation });
      }
    }
    this.maybeSnapshot(node);
  }

  private drainApplies(node: SimNode): void {
    while (node.applyQueue.length > 0) this.applyQueued(node);
  }

  /** Applies the oldest queued batch (pipelined apply) and reports it with appliedTo(). */
  private applyQueued(node: SimNode): void {
    const batch = node.applyQueue.shift();
    if (batch === undefined || node.raw === undefined) return;
    this.apply(node, batch.entries, batch.term);
    node.raw.appliedTo(batch.entries[batch.entries.length - 1]!.index);
    this.maybeSnapshot(node);
  }

  /** Contract checks the server relies on; each failure is a core bug. */
  private checkReadyShape(node: SimNode, ready: Ready): void {
    const previous = node.hardStateLast;
    const hardState = ready.hardState;
    const needsSync =
      ready.entries.length > 0 || (hardState !== undefined && (hardState.term !== previous.term || hardState.vote !== previous.vote));
    check(!needsSync || ready.mustSync, 'READY_CONTRACT', () => `node ${node.id}: Ready needs fsync but mustSync is false`);
    if (hardState !== undefined) {
      check(
        hardState.term >= previous.term,
        'READY_CONTRACT',
        () => `node ${node.id}: term went back from ${previous.term} to ${hardState.term}`,
      );
      check(
        hardState.term !== previous.term || previous.vote === 0 || hardState.vote === previous.vote,
        'READY_CONTRACT',
        () => `node ${node.id} changed its vote in term ${hardState.term} ` + `from ${previous.vote} to ${hardState.vote} (voted twice)`,
      );
    }
    for (const message of [...ready.messages, ...ready.persistedMessages]) {
      check(
        message.from === node.id && message.to !== node.id && message.to !== 0,
        'READY_CONTRACT',
        () => `node ${node.id} emitted a message ${message.from}->${message.to}`,
      );
    }
    // A granted vote or an append ack sent before the write is durable breaks Raft's persistence rule.
    const durable = node.storage.syncedInitialState().hardState;
    for (const message of ready.messages) {
      if (message.type === MessageType.VOTE_RESP && !message.reject) {
        check(
          durable.term === message.term && durable.vote === message.to,
          'READY_CONTRACT',
          () => `node ${node.id} granted a vote to ${message.to} in term ${message.term} before persisting it`,
        );
      }
      if (message.type === MessageType.APP_RESP && !message.reject) {
        check(
          node.storage.isDurable(message.index),
          'READY_CONTRACT',
          () => `node ${node.id} acked index ${message.index} before it was durable`,
        );
      }
    }
  }

  private restoreSnapshot(node: SimNode, ready: Ready): void {
    const snapshot = ready.snapshot!;
    const metadata = snapshot.metadata!;
    if (metadata.index <= node.stateMachine.appliedIndex) return; // already newer (after a restart)
    const values = decodeValues(snapshot.data);
    this.checker.observeSnapshotRestored(node.id, metadata.index, values);
    node.stateMachine.restore(metadata.index, metadata.confState!, snapshot.data);
    this.stats.snapshotsInstalled++;
  }

  /** `term`: the node's term when the entries were handed out (a bound for leader completeness). */
  private apply(node: SimNode, entries: readonly Entry[], term: number): void {
    const machine = node.stateMachine;
    for (const entry of entries) {
      check(
        node.storage.isDurable(entry.index),
        'READY_CONTRACT',
        () => `node ${node.id} was told to apply ${entry.index} before it was durable`,
      );
      this.checker.observeCommitted(node.id, entry, term);
      // After a restart the core may replay entries the durable state machine already has.
      if (entry.index <= machine.appliedIndex) continue;
      check(
        entry.index === machine.appliedIndex + 1,
        'READY_CONTRACT',
        () => `node ${node.id} applied ${entry.index} right after ${machine.appliedIndex}`,
      );
      if (entry.type === EntryType.CONF_CHANGE) {
        this.applyConfChange(node, entry);
        machine.apply(entry.index, undefined);
        continue;
      }
      const value = entry.data.length > 0 ? dataText(entry.data) : undefined;
      machine.apply(entry.index, value);
      if (value !== undefined && node.proposalsPending.delete(value)) {
        this.checker.observeAck(value, entry.index);
        this.stats.acked++;
      }
    }
  }

  private applyConfChange(node: SimNode, entry: Entry): void {
    const change = ConfChange.decode(entry.data);
    const confState = node.raw!.applyConfChange(change);
    node.stateMachine.confState = confState;
    // Membership is part of the durable applied state.
    node.storage.setConfState(confState);
    node.storage.sync();
    this.stats.confChangesApplied++;
    this.trace(
      () =>
        `node ${node.id} applied ${ConfChangeType[change.type]} ${change.nodeId} at ${entry.index}: ` +
        `voters=[${confState.voters.join(',')}] learners=[${confState.learners.join(',')}]`,
    );
    if (change.type === ConfChangeType.REMOVE_NODE && !this.removals.has(change.nodeId as NodeId)) {
      this.removals.set(change.nodeId as NodeId, { index: entry.index, voters: confState.voters as NodeId[] });
    }
  }

  /**
   * The operator shuts a removed server down once a majority of the remaining
   * voters applied its removal. Stopping it as soon as the removal commits
   * could strand the rest: with apply-time membership, a follower that has
   * not yet learned the commit still needs the removed node's vote.
   */
  private shutDownRemoved(): void {
    for (const [id, removal] of this.removals) {
      const node = this.nodes.get(id);
      if (node === undefined || node.removed) continue;
      const applied = removal.voters.filter((voter) => this.nodes.get(voter)!.stateMachine.appliedIndex >= removal.index);
      if (applied.length * 2 <= removal.voters.length) continue;
      node.removed = true;
      node.crash();
      this.trace(() => `node ${id} shut down (removal at ${removal.index} applied by a majority)`);
    }
  }

  private maybeSnapshot(node: SimNode): void {
    const every = this.options.snapshotEveryEntries ?? 0;
    const machine = node.stateMachine;
    if (every <= 0 || machine.appliedIndex - machine.snapshotIndex < every) return;
    this.takeSnapshot(node.id);
  }

  /** Snapshots `id`'s state machine at its applied index and compacts the log behind it. */
  takeSnapshot(id: NodeId): void {
    const node = this.node(id);
    const machine = node.stateMachine;
    if (!node.isUp || machine.appliedIndex <= node.storage.snapshotIndex()) return;
    if (machine.appliedIndex > node.storage.lastIndex()) return;
    node.storage.createSnapshot(machine.appliedIndex, machine.confState, machine.encode());
    machine.snapshotIndex = machine.appliedIndex;
    const compactTo = machine.appliedIndex - (this.options.snapshotTrailingEntries ?? 0);
    if (compactTo >= node.storage.firstIndex()) node.storage.compact(compactTo);
    node.storage.sync();
    this.stats.snapshotsTaken++;
  }

  // ---- Faults and client actions -----------------------------------------

  upNodeIds(): NodeId[] {
    return [...this.nodes.values()].filter((node) => node.isUp).map((node) => node.id);
  }

  crash(id: NodeId): void {
    const node = this.node(id);
    if (!node.isUp) return;
    node.crash();
    this.stats.crashes++;
    this.trace(() => `node ${id} crashed`);
  }

  /**
   * Restarts a crashed node; `loss` first wipes its data dir or rolls it back
   * to the copy taken at its previous start.
   */
  restart(id: NodeId, loss?: 'wipe' | 'rollback'): void {
    const node = this.node(id);
    if (node.isUp || node.removed) return;
    if (loss !== undefined) {
      node.loseStorage(loss === 'rollback');
      if (this.options.fenceLostStorage ?? true) node.storage.markRecovering();
      this.stats.storageLosses++;
    }
    this.startNode(node);
    this.stats.restarts++;
    this.trace(() => `node ${id} restarted${loss === undefined ? '' : ` on a ${loss === 'wipe' ? 'wiped' : 'rolled-back'} disk`}`);
  }

  /**
   * Whether `id` may lose its disk without taking the cluster past what Raft
   * can survive: fewer than half the voters may be recovering at once (a
   * majority that lost its disks has lost acknowledged writes for good).
   */
  mayLoseStorage(id: NodeId): boolean {
    // The smallest configuration any node holds: membership may be changing.
    let voters = this.genesis.voters.length;
    for (const node of this.nodes.values()) {
      if (node.removed) continue;
      const held = node.raw?.status().voters.length ?? node.storage.syncedInitialState().confState.voters.length;
      voters = Math.min(voters, held);
    }
    const fenced = this.options.fenceLostStorage ?? true;
    let recovering = 0;
    for (const node of this.nodes.values()) {
      if (node.id === id || node.removed) continue;
      // Unfenced, nothing says when a node has recovered: count every loss of the run.
      const up = node.raw?.status();
      if (!fenced ? node.lostStorage : up !== undefined ? up.recovering : node.recoveringOnDisk) recovering++;
    }
    return (recovering + 1) * 2 < voters;
  }

  /** Proposes a fresh unique command on `target` (default: the leader). */
  propose(target?: NodeId, prefix = 'v'): ProposeOutcome {
    const value = `${prefix}${this.valueNext++}`;
    const id = target ?? this.leader();
    const node = id === undefined ? undefined : this.nodes.get(id);
    if (node?.raw === undefined) return { value, node: id, result: { ok: false, reason: 'no-leader' } };
    const result = node.raw.propose(Buffer.from(value, 'latin1'));
    this.stats.proposed++;
    if (result.ok) node.proposalsPending.add(value);
    return { value, node: id, result };
  }

  campaign(id: NodeId): void {
    this.node(id).raw?.campaign();
  }

  transferLeader(target: NodeId): boolean {
    const leader = this.leader();
    if (leader === undefined || leader === target) return false;
    this.node(leader).raw!.transferLeader(target);
    this.stats.transfers++;
    this.trace(() => `transfer leadership ${leader} -> ${target}`);
    return true;
  }

  /** Starts a fresh node and proposes it as a learner; returns its id if the leader accepted. */
  addLearner(): NodeId | undefined {
    const id = this.nodeIdNext as NodeId;
    if (!this.proposeConfChange(ConfChangeType.ADD_LEARNER_NODE, id)) return undefined;
    this.nodeIdNext++;
    this.startNode(this.addNodeRecord(id));
    return id;
  }

  promote(id: NodeId): boolean {
    return this.proposeConfChange(ConfChangeType.ADD_NODE, id);
  }

  removeNode(id: NodeId): boolean {
    return this.proposeConfChange(ConfChangeType.REMOVE_NODE, id);
  }

  private proposeConfChange(type: ConfChangeType, nodeId: NodeId): boolean {
    const leader = this.leader();
    if (leader === undefined) return false;
    const change: ConfChange = { type, nodeId, context: Buffer.alloc(0) };
    const ok = this.node(leader).raw!.proposeConfChange(change).ok;
    this.trace(() => `propose ${ConfChangeType[type]} ${nodeId} on leader ${leader}: ${ok ? 'accepted' : 'refused'}`);
    return ok;
  }

  /** Ends the fault phase: the network heals and every crashed member restarts. */
  heal(): void {
    this.trace(() => 'heal: network healed, crashed members restart');
    this.network.heal();
    for (const node of this.nodes.values()) if (!node.isUp && !node.removed) this.restart(node.id);
  }

  private node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new SimViolationError('READY_CONTRACT', `no node ${id} in the simulation`);
    return node;
  }

  private addNodeRecord(id: NodeId): SimNode {
    const node = new SimNode(id, this.genesis);
    this.nodes.set(id, node);
    if (this.options.snapshotOnSend ?? true) {
      node.storage.beforeSnapshotRead = () => this.refreshSnapshot(node);
    }
    return node;
  }

  /** A snapshot of the current applied state, without compacting (the core is mid-read). */
  private refreshSnapshot(node: SimNode): void {
    const machine = node.stateMachine;
    // Only once the log was compacted is a snapshot needed at all.
    if (node.storage.firstIndex() <= 1 || machine.appliedIndex <= node.storage.snapshotIndex()) return;
    if (machine.appliedIndex > node.storage.lastIndex()) return;
    node.storage.createSnapshot(machine.appliedIndex, machine.confState, machine.encode());
    machine.snapshotIndex = machine.appliedIndex;
    node.storage.sync();
    this.stats.snapshotsTaken++;
  }

  /** (Re)builds the RawNode from what is on disk, like a server process starting. */
  private startNode(node: SimNode): void {
    const storage = node.storage;
    const snapshot = storage.snapshot();
    const snapshotIndex = snapshot.metadata?.index ?? 0;
    // A snapshot that reached the disk but not the state machine is restored at boot.
    if (snapshotIndex > node.stateMachine.appliedIndex) {
      const values = decodeValues(snapshot.data);
      this.checker.observeSnapshotRestored(node.id, snapshotIndex, values);
      node.stateMachine.restore(snapshotIndex, snapshot.metadata!.confState!, snapshot.data);
    }
    const hardState = storage.initialState().hardState;
    node.hardStateLast = hardState;
    node.term = hardState.term;
    // etcd's rule: applied <= committed; the state machine skips what it already has.
    const appliedIndex = Math.max(snapshotIndex, Math.min(node.stateMachine.appliedIndex, hardState.commit));
    // Each incarnation gets its own election jitter, drawn from the one seed.
    const nodeRng = createRng(this.rng.intBelow(2 ** 32));
    node.raw = RawNode.create({ id: node.id, ...this.raft, appliedIndex }, storage, nodeRng);
    node.backup = { disk: storage.backup(), stateMachine: node.stateMachine.clone() };
  }
}
