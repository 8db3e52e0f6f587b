/**
 * What peers sent, waiting for the next loop turn to step it into raft:
 * messages, unreachable peers and finished snapshot sends. The transport only
 * queues here; raft is touched by the loop alone, inside a turn.
 */
import type { Message } from '@cairn/proto';
import type { Membership } from './membership.js';
import type { PeerInbound, SurveyAnswer } from './ports.js';

/** How a batch offered to the inbox fared. */
export type InboxPush = 'queued' | 'dropped' | 'closed';

export class PeerInbox {
  private messages: Message[] = [];
  private readonly unreachablePeers = new Set<number>();
  /** Each peer's latest snapshot send outcome. */
  private readonly snapshotOutcomes = new Map<number, boolean>();
  private closed = false;
  /** Batches dropped because the inbox was full, since the last drain. */
  private dropped = 0;

  constructor(
    /** Messages held at most; a batch that would go past it is dropped. */
    private readonly messagesMax: number,
    /** Called whenever something arrives: the loop schedules a turn. */
    private readonly onArrival: () => void,
  ) {}

  get size(): number {
    return this.messages.length;
  }

  hasWork(): boolean {
    return this.messages.length > 0 || this.unreachablePeers.size > 0 || this.snapshotOutcomes.size > 0;
  }

  push(messages: readonly Message[]): InboxPush {
    if (this.closed) return 'closed';
    if (this.messages.length + messages.length > this.messagesMax) {
      this.dropped += 1;
      return 'dropped';
    }
    for (const m of messages) this.messages.push(m);
    this.onArrival();
    return 'queued';
  }

  unreachable(peer: number): void {
    if (this.closed) return;
    this.unreachablePeers.add(peer);
    this.onArrival();
  }

  snapshotStatus(peer: number, ok: boolean): void {
    if (this.closed) return;
    this.snapshotOutcomes.set(peer, ok);
    this.onArrival();
  }

  /**
   * Hands everything queued to the loop's turn, reports first, then messages
   * in arrival order; returns how many batches were dropped since the last drain.
   */
  drain(step: {
    unreachable(peer: number): void;
    snapshotStatus(peer: number, ok: boolean): void;
    message(message: Message): void;
  }): number {
    for (const peer of this.unreachablePeers) step.unreachable(peer);
    this.unreachablePeers.clear();
    for (const [peer, ok] of this.snapshotOutcomes) step.snapshotStatus(peer, ok);
    this.snapshotOutcomes.clear();
    const messages = this.messages;
    this.messages = [];
    for (const m of messages) step.message(m);
    const dropped = this.dropped;
    this.dropped = 0;
    return dropped;
  }

  /** The loop stopped: drop what is queued and take nothing more. */
  close(): void {
    this.closed = true;
    this.messages = [];
    this.unreachablePeers.clear();
    this.snapshotOutcomes.clear();
  }
}

/** What the transport may call: arrivals are queued for the next turn; questions are answered at once. */
export function peerInbound(
  inbox: PeerInbox,
  membership: Pick<Membership, 'isMember' | 'noteHttpAddress'>,
  surveyAnswer: (peer: number) => SurveyAnswer,
): PeerInbound {
  return {
    receive: (messages) => void inbox.push(messages),
    unreachable: (peer) => inbox.unreachable(peer),
    snapshotStatus: (peer, ok) => inbox.snapshotStatus(peer, ok),
    isMember: (peer) => membership.isMember(peer),
    peerHttpAddress: (peer, address) => membership.noteHttpAddress(peer, address),
    surveyAnswer,
  };
}
