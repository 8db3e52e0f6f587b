/**
 * Runtime fault injection for the peer transport (chaos mode only): drop a
 * fraction of messages, delay them, or partition this node from given peers.
 * Faults apply to outgoing messages, and partitions also to incoming ones, so
 * a partition injected on one node cuts both directions. The server builds a
 * FaultyTransport instead of a plain RaftTransport only with --chaos; the
 * plain transport knows nothing of faults.
 */
import type { Message } from '@cairn/proto';
import { RaftTransport, type RaftTransportOptions } from './raft-transport.js';

export type FaultKind = 'drop' | 'delay' | 'partition';

export interface Fault {
  kind: FaultKind;
  /** Peers affected; empty = all peers. */
  peers: number[];
  dropRate: number;
  delayMs: number;
  /** Wall-clock expiry (ms since epoch), or undefined = until cleared. */
  untilMs: number | undefined;
}

export class FaultInjector {
  private faults: Fault[] = [];

  constructor(
    private readonly random: () => number = Math.random,
    private readonly now: () => number = Date.now,
  ) {}

  add(fault: Fault): void {
    this.faults.push(fault);
  }

  clear(): void {
    this.faults = [];
  }

  active(): readonly Fault[] {
    const now = this.now();
    this.faults = this.faults.filter((f) => f.untilMs === undefined || f.untilMs > now);
    return this.faults;
  }

  /** Outgoing: undefined = drop, otherwise the delay (0 = send now). */
  outgoing(peer: number): number | undefined {
    let delayMs = 0;
    for (const fault of this.active()) {
      if (fault.peers.length > 0 && !fault.peers.includes(peer)) continue;
      if (fault.kind === 'partition') return undefined;
      if (fault.kind === 'drop' && this.random() < fault.dropRate) return undefined;
      if (fault.kind === 'delay') delayMs = Math.max(delayMs, fault.delayMs);
    }
    return delayMs;
  }

  /** Incoming: false = drop (partitions only). */
  incoming(peer: number): boolean {
    for (const fault of this.active()) {
      if (fault.kind !== 'partition') continue;
      if (fault.peers.length === 0 || fault.peers.includes(peer)) return false;
    }
    return true;
  }
}

/**
 * A RaftTransport with injected faults: outgoing messages are dropped or
 * delayed before they reach their link, and a partitioned peer's incoming
 * messages are not admitted (TransportHandlers.admit).
 */
export class FaultyTransport extends RaftTransport {
  constructor(
    options: RaftTransportOptions,
    readonly faults: FaultInjector,
  ) {
    const admit = options.handlers.admit;
    super({ ...options, handlers: { ...options.handlers, admit: (peer) => faults.incoming(peer) && (admit?.(peer) ?? true) } });
  }

  override send(messages: readonly Message[]): void {
    for (const message of messages) {
      const delayMs = this.faults.outgoing(message.to);
      if (delayMs === undefined) continue;
      if (delayMs > 0) setTimeout(() => super.send([message]), delayMs);
      else super.send([message]);
    }
  }
}
