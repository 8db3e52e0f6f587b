import type { ConfState, Entry, HardState, Message } from '@cairn/proto';
import type { RawNode } from '../raw-node.js';
import type { Ready } from '../ready.js';
import type { Role } from '../types.js';
import type { NodeId } from '../types.js';
import { SimStateMachine } from './sim-state-machine.js';
import { SimStorage, type DiskBackup } from './sim-storage.js';

/**
 * One simulated server: a RawNode (absent while crashed), its disk, its
 * durable state machine, and the driver-loop state a real server keeps
 * (input queue, pending ticks, the Ready whose fsync is in progress).
 */
export class SimNode {
  raw: RawNode | undefined;
  readonly storage: SimStorage;
  stateMachine: SimStateMachine;
  /** The data dir as it was at this node's last start: what a rollback restores. */
  backup: { disk: DiskBackup; stateMachine: SimStateMachine } | undefined;
  /** Messages received while the node is busy, stepped at its next turn. */
  inbox: Message[] = [];
  ticksPending = 0;
  /** Snapshot stream outcomes from the transport, reported at the next turn. */
  snapshotReports: { target: NodeId; ok: boolean }[] = [];
  /** The Ready whose writes wait for fsync; its persistedMessages are not sent yet. */
  inFlight: Ready | undefined;
  /** Committed entries handed out but not applied yet (pipelined apply), oldest first. */
  applyQueue: { entries: readonly Entry[]; term: number }[] = [];
  /** When the newest queued batch is due: later batches are never due earlier. */
  applyDueLast = 0;
  /** Bumped on every crash so a stale fsync completion is ignored. */
  generation = 0;
  /** Removed from the cluster by a committed conf change: shut down for good. */
  removed = false;
  /** Commands proposed on this node whose outcome its client still awaits (volatile). */
  readonly proposalsPending = new Set<string>();
  /** The hard state as last handed to storage, for Ready contract checks. */
  hardStateLast: HardState;
  role: Role = 'follower';
  term = 0;

  constructor(
    readonly id: NodeId,
    genesis: ConfState,
  ) {
    this.storage = new SimStorage(genesis.voters as NodeId[], genesis.learners as NodeId[]);
    this.stateMachine = new SimStateMachine(genesis);
    this.genesis = genesis;
    this.hardStateLast = { term: 0, vote: 0, commit: 0 };
  }

  private readonly genesis: ConfState;
  /** Lost its disk at some point of the run. */
  lostStorage = false;

  /**
   * The data dir is lost while the node is down: wiped (`rollback` false) or
   * restored from the copy taken at its last start. The state machine lives in
   * the same data dir, so it goes with it.
   */
  loseStorage(rollback: boolean): void {
    this.lostStorage = true;
    const backup = rollback ? this.backup : undefined;
    this.storage.lose(backup?.disk);
    this.stateMachine = backup?.stateMachine.clone() ?? new SimStateMachine(this.genesis);
  }

  /** Whether the durable hard state says this node is recovering from lost storage. */
  get recoveringOnDisk(): boolean {
    return this.storage.syncedInitialState().hardState.recovering === true;
  }

  get isUp(): boolean {
    return this.raw !== undefined;
  }

  /** Has input or output waiting and is free to take a turn. */
  get wantsTurn(): boolean {
    if (this.raw === undefined || this.inFlight !== undefined) return false;
    return this.inbox.length > 0 || this.ticksPending > 0 || this.snapshotReports.length > 0 || this.raw.hasReady();
  }

  /** Power loss: volatile state and unsynced writes are gone. */
  crash(): void {
    this.raw = undefined;
    this.inFlight = undefined;
    this.applyQueue = [];
    this.generation++;
    this.inbox = [];
    this.snapshotReports = [];
    this.ticksPending = 0;
    this.proposalsPending.clear();
    this.storage.crash();
    this.hardStateLast = this.storage.initialState().hardState;
    this.role = 'follower';
  }
}
