import { Message, MessageType, Snapshot } from '@cairn/proto';
import type { Rng } from '../rng.js';
import type { NodeId } from '../types.js';
import { EventQueue } from './event-queue.js';

/**
 * How the fault phase cuts the cluster (TigerBeetle VOPR's modes):
 * - `isolate-single`: one node on its own, the rest together;
 * - `uniform-size`: a side whose size is drawn uniformly from 1..n-1.
 */
export type PartitionMode = 'none' | 'isolate-single' | 'uniform-size';

/**
 * `symmetric` cuts both directions; `asymmetric` cuts only traffic into the
 * smaller side (it can still talk, but not hear), the nastier case for
 * CheckQuorum and PreVote.
 */
export type PartitionSymmetry = 'symmetric' | 'asymmetric';

export interface SimNetworkOptions {
  /** Each directed path draws a base one-way delay in [min, max] instants once. */
  pathDelayMinInstants: number;
  pathDelayMaxInstants: number;
  /** Extra per-message delay drawn from [0, jitter] instants. */
  jitterMaxInstants: number;
  lossProbability: number;
  duplicateProbability: number;
  /** Without reordering, each path delivers in send order (like one TCP stream). */
  reorder: boolean;
  partitionMode: PartitionMode;
  partitionSymmetry: PartitionSymmetry;
  /** Per tick, once the healed window has passed. */
  partitionProbability: number;
  /** Per tick, once the partitioned window has passed. */
  unpartitionProbability: number;
  /** A partition lasts at least this long (stability window). */
  partitionStabilityTicks: number;
  /** A healed network stays healed at least this long. */
  unpartitionStabilityTicks: number;
}

/** A network with no faults: used by scenarios and by the healed liveness phase. */
export const RELIABLE_NETWORK: SimNetworkOptions = {
  pathDelayMinInstants: 1,
  pathDelayMaxInstants: 3,
  jitterMaxInstants: 2,
  lossProbability: 0,
  duplicateProbability: 0,
  reorder: false,
  partitionMode: 'none',
  partitionSymmetry: 'symmetric',
  partitionProbability: 0,
  unpartitionProbability: 1,
  partitionStabilityTicks: 0,
  unpartitionStabilityTicks: 0,
};

interface InFlight {
  source: NodeId;
  target: NodeId;
  type: MessageType;
  /** Encoded as on the real wire, or a private copy: never an object shared between nodes. */
  payload: Uint8Array | Message;
}

export interface SimNetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  partitions: number;
}

/**
 * In-process message queues keyed by virtual time. Every random choice comes
 * from the one seeded Rng, so a run replays exactly from its seed.
 */
export class SimNetwork {
  private readonly queue = new EventQueue<InFlight>();
  private readonly pathDelay = new Map<string, number>();
  /** Last scheduled delivery per path, to keep FIFO order when not reordering. */
  private readonly pathLastAt = new Map<string, number>();
  /** Directed links currently cut: `${source}>${target}`. */
  private readonly cutLinks = new Set<string>();
  private options: SimNetworkOptions;
  private faultsEnabled = true;
  private partitioned = false;
  private ticksInState = 0;
  readonly stats: SimNetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, partitions: 0 };
  /**
   * Told when a message is lost (loss, cut link). The cluster uses it to model
   * the transport's snapshot-status reports (RawNode.reportSnapshot).
   */
  onDrop: (source: NodeId, target: NodeId, type: MessageType) => void = () => {};

  constructor(
    private readonly rng: Rng,
    options: SimNetworkOptions,
    private readonly wireEncoding = true,
  ) {
    this.options = { ...options };
  }

  get isPartitioned(): boolean {
    return this.cutLinks.size > 0;
  }

  send(message: Message, now: number): void {
    const source = message.from as NodeId;
    const target = message.to as NodeId;
    this.stats.sent++;
    if (this.isCut(source, target) || (this.faultsEnabled && this.chance(this.options.lossProbability))) {
      this.drop(source, target, message.type);
      return;
    }
    const payload = this.wireEncoding ? Message.encode(message).finish() : cloneMessage(message);
    const item: InFlight = { source, target, type: message.type, payload };
    this.schedule(item, now);
    // A snapshot goes over its own stream with an ack, so it is never duplicated.
    if (message.type !== MessageType.SNAP && this.faultsEnabled && this.chance(this.options.duplicateProbability)) {
      this.stats.duplicated++;
      this.schedule(item, now);
    }
  }

  /** The earliest instant at which a message is due, or Infinity. */
  nextDueAt(): number {
    return this.queue.peekAt();
  }

  /** Hands every message due at or before `now` to `deliver`, in order. */
  deliverDue(now: number, deliver: (target: NodeId, message: Message) => void): void {
    for (let item = this.queue.popDue(now); item !== undefined; item = this.queue.popDue(now)) {
      // A link cut while the message was in flight loses it, as a real one would.
      if (this.isCut(item.source, item.target)) {
        this.drop(item.source, item.target, item.type);
        continue;
      }
      this.stats.delivered++;
      const payload = item.payload;
      deliver(item.target, payload instanceof Uint8Array ? Message.decode(payload) : cloneMessage(payload));
    }
  }

  /** Advances the random partition process by one tick (fault phase only). */
  tick(nodeIds: readonly NodeId[]): void {
    if (!this.faultsEnabled || this.options.partitionMode === 'none' || nodeIds.length < 2) return;
    this.ticksInState++;
    if (this.partitioned) {
      if (this.ticksInState < this.options.partitionStabilityTicks) return;
      if (!this.chance(this.options.unpartitionProbability)) return;
      this.cutLinks.clear();
      this.partitioned = false;
      this.ticksInState = 0;
      return;
    }
    if (this.ticksInState < this.options.unpartitionStabilityTicks) return;
    if (!this.chance(this.options.partitionProbability)) return;
    this.partitionRandomly(nodeIds);
    this.partitioned = true;
    this.ticksInState = 0;
  }

  /** Cuts the given side off from everyone else. */
  partition(side: readonly NodeId[], others: readonly NodeId[], symmetry: PartitionSymmetry = 'symmetric'): void {
    this.stats.partitions++;
    for (const inside of side) {
      for (const outside of others) {
        if (inside === outside) continue;
        // Asymmetric: the side can still send but hears nothing.
        this.cutLinks.add(linkKey(outside, inside));
        if (symmetry === 'symmetric') this.cutLinks.add(linkKey(inside, outside));
      }
    }
  }

  /** Cuts or restores one directed link. */
  setLink(source: NodeId, target: NodeId, up: boolean): void {
    if (up) this.cutLinks.delete(linkKey(source, target));
    else this.cutLinks.add(linkKey(source, target));
  }

  isCut(source: NodeId, target: NodeId): boolean {
    return this.cutLinks.size > 0 && this.cutLinks.has(linkKey(source, target));
  }

  /** Removes every partition (messages already in flight still arrive). */
  healPartitions(): void {
    this.cutLinks.clear();
    this.partitioned = false;
    this.ticksInState = 0;
  }

  /** Ends the fault phase: no partitions, loss or duplication from now on. */
  heal(): void {
    this.healPartitions();
    this.faultsEnabled = false;
  }

  /** Replaces loss/duplication/reordering/partition settings (e.g. a scenario turning unreliable). */
  configure(options: Partial<SimNetworkOptions>): void {
    this.options = { ...this.options, ...options };
    this.faultsEnabled = true;
  }

  /** Drops every message in flight (used when the whole cluster restarts). */
  dropAllInFlight(): void {
    for (let item = this.queue.popDue(Infinity); item !== undefined; item = this.queue.popDue(Infinity)) {
      this.drop(item.source, item.target, item.type);
    }
  }

  private drop(source: NodeId, target: NodeId, type: MessageType): void {
    this.stats.dropped++;
    this.onDrop(source, target, type);
  }

  private partitionRandomly(nodeIds: readonly NodeId[]): void {
    const shuffled = [...nodeIds];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = this.rng.intBelow(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
    }
    const sideSize = this.options.partitionMode === 'isolate-single' ? 1 : 1 + this.rng.intBelow(nodeIds.length - 1);
    this.partition(shuffled.slice(0, sideSize), shuffled.slice(sideSize), this.options.partitionSymmetry);
  }

  private schedule(item: InFlight, now: number): void {
    const key = linkKey(item.source, item.target);
    let base = this.pathDelay.get(key);
    if (base === undefined) {
      const { pathDelayMinInstants: low, pathDelayMaxInstants: high } = this.options;
      base = low + this.rng.intBelow(high - low + 1);
      this.pathDelay.set(key, base);
    }
    let at = now + base + this.rng.intBelow(this.options.jitterMaxInstants + 1);
    if (!this.options.reorder || !this.faultsEnabled) {
      at = Math.max(at, this.pathLastAt.get(key) ?? 0);
      this.pathLastAt.set(key, at);
    }
    this.queue.push(at, item);
  }

  private chance(probability: number): boolean {
    return probability > 0 && this.rng.float() < probability;
  }
}

/** A deep copy with every field present, as decoding would give. */
function cloneMessage(message: Message): Message {
  return {
    type: message.type,
    to: message.to,
    from: message.from,
    term: message.term,
    logTerm: message.logTerm,
    index: message.index,
    entries: message.entries.map((entry) => ({ term: entry.term, index: entry.index, type: entry.type, data: entry.data })),
    commit: message.commit,
    snapshot: message.snapshot === undefined ? undefined : Snapshot.fromPartial(message.snapshot),
    reject: message.reject,
    rejectHint: message.rejectHint,
    context: message.context,
    // Optional: absent unless set, as decoding gives.
    ...(message.recovering === undefined ? {} : { recovering: message.recovering }),
    ...(message.afterLoss === undefined ? {} : { afterLoss: message.afterLoss }),
  };
}

function linkKey(source: NodeId, target: NodeId): string {
  return `${source}>${target}`;
}
