/**
 * ReadIndex on the leader (thesis §6.4). A read is answered with the commit
 * index recorded when it arrived, once a heartbeat round sent *after* its
 * arrival is acknowledged by a quorum. Reads are batched: all reads waiting
 * when a round starts share it, so one heartbeat round serves many reads.
 */
import { assert } from '@cairn/proto';
import { PENDING_READS_MAX } from './limits.js';
import type { NodeId } from './types.js';

export interface ReadRequest {
  /** The commit index when the request arrived. */
  index: number;
  context: Uint8Array;
  /** The node that asked (the leader itself for local reads). */
  from: NodeId;
}

interface PendingRead extends ReadRequest {
  /** The heartbeat round that confirms it; 0 until a round is started. */
  round: number;
}

const ROUND_CONTEXT_PREFIX = 'ri:';

/** The heartbeat context that identifies a read round. */
export function encodeRoundContext(round: number): Buffer {
  return Buffer.from(`${ROUND_CONTEXT_PREFIX}${round}`, 'utf8');
}

export function decodeRoundContext(context: Uint8Array): number | undefined {
  const text = Buffer.from(context).toString('utf8');
  if (!text.startsWith(ROUND_CONTEXT_PREFIX)) return undefined;
  const round = Number(text.slice(ROUND_CONTEXT_PREFIX.length));
  return Number.isSafeInteger(round) && round > 0 ? round : undefined;
}

export class ReadOnly {
  private readonly queue: PendingRead[] = [];
  private readonly acksByRound = new Map<number, Set<NodeId>>();
  private lastRound = 0;

  get pendingCount(): number {
    return this.queue.length;
  }

  /** Queues a read; returns false when the queue is full (the read is dropped). */
  addRequest(request: ReadRequest): boolean {
    if (this.queue.length >= PENDING_READS_MAX) return false;
    this.queue.push({ ...request, round: 0 });
    return true;
  }

  /** Whether some queued read still needs a heartbeat round. */
  hasUnassigned(): boolean {
    const newest = this.queue[this.queue.length - 1];
    return newest !== undefined && newest.round === 0;
  }

  /** Whether a round is awaiting acknowledgements. */
  hasRoundInFlight(): boolean {
    return this.acksByRound.size > 0;
  }

  /** Starts a round covering every unassigned read; returns its heartbeat context. */
  startRound(selfId: NodeId): Buffer {
    assert(this.hasUnassigned(), 'a read round covers at least one read');
    this.lastRound += 1;
    for (let i = this.queue.length - 1; i >= 0 && this.queue[i]!.round === 0; i -= 1) this.queue[i]!.round = this.lastRound;
    this.acksByRound.set(this.lastRound, new Set([selfId]));
    return encodeRoundContext(this.lastRound);
  }

  /**
   * The context of the newest round still awaiting a quorum, so every
   * heartbeat retries it (a lost heartbeat must not strand reads, as in etcd).
   */
  latestRoundContext(): Buffer | undefined {
    if (this.acksByRound.size === 0) return undefined;
    return encodeRoundContext(Math.max(...this.acksByRound.keys()));
  }

  /** Records `from`'s acknowledgement of the round in `context`; returns the acks so far. */
  recvAck(from: NodeId, context: Uint8Array): { round: number; acks: ReadonlySet<NodeId> } | undefined {
    const round = decodeRoundContext(context);
    if (round === undefined) return undefined;
    const acks = this.acksByRound.get(round);
    if (acks === undefined) return undefined;
    acks.add(from);
    return { round, acks };
  }

  /** A quorum acknowledged `round`: release every read confirmed by it or an earlier round. */
  releaseThrough(round: number): ReadRequest[] {
    const released: ReadRequest[] = [];
    while (this.queue.length > 0 && this.queue[0]!.round !== 0 && this.queue[0]!.round <= round) {
      const { index, context, from } = this.queue.shift()!;
      released.push({ index, context, from });
    }
    for (const pendingRound of [...this.acksByRound.keys()]) {
      if (pendingRound <= round) this.acksByRound.delete(pendingRound);
    }
    return released;
  }
}
