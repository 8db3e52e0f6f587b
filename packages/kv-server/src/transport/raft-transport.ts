/**
 * The node's raft transport: one outgoing link per peer (peer-link.ts), the
 * incoming raw links (peer-listener.ts) and the gRPC peer service for
 * snapshots and the startup survey (peer-service.ts), all on the node's one
 * port (shared-port.ts tells them apart).
 *
 * `send()` hands each message to its peer's link, which batches and bounds
 * them; snapshots go over gRPC. Incoming batches and snapshots are checked
 * (cluster id, addressed to us, from a known member) before their messages
 * are handed to the node. Links are checked on a timer of their own, so a
 * link heals even when raft sends nothing on it; their health is in
 * linkStates() for /status and the metrics.
 */
import type * as net from 'node:net';
import { randomInt } from 'node:crypto';
import { type Message, type MessageBatch, MessageType, type RaftTransportServiceServer, type SurveyResponse } from '@cairn/proto';
import { PEER_LINK_CHECK_MS } from '../limits.js';
import type { Logger } from '../logger.js';
import type { TransportHandlers } from './handlers.js';
import { PeerLink, type PeerLinkOwner, type PeerLinkState } from './peer-link.js';
import { PeerListener } from './peer-listener.js';
import { peerService } from './peer-service.js';
import { TermsSeen } from './terms-seen.js';

export interface RaftTransportOptions {
  readonly selfId: number;
  /** Carried by every batch; changes only when a joining node adopts its cluster's id. */
  readonly clusterId: string;
  /** This node's address for peers (its --addr), announced in every batch. */
  readonly peerAddress: string;
  /** This node's HTTP address, announced to peers; set later with setHttpAddress() if not known yet. */
  readonly httpAddress?: string;
  readonly handlers: TransportHandlers;
  readonly logger: Logger;
}

export class RaftTransport {
  readonly selfId: number;
  private readonly peerAddress: string;
  private readonly logger: Logger;
  /** Random per process start, in every batch: see TermsSeen. */
  private readonly incarnation = randomInt(1, 2 ** 48);
  private currentClusterId: string;
  private currentHttpAddress: string;
  private readonly handlers: TransportHandlers;
  /** The highest term seen in each peer's messages since this process started. */
  private readonly termsSeen = new Map<number, TermsSeen>();
  private readonly peers = new Map<number, PeerLink>();
  private readonly listener: PeerListener;
  private checkTimer: NodeJS.Timeout | undefined;
  /** What each link reads of this node (the fields of its batches) and reports to it. */
  private readonly linkOwner: PeerLinkOwner;

  constructor(options: RaftTransportOptions) {
    this.selfId = options.selfId;
    this.currentClusterId = options.clusterId;
    this.peerAddress = options.peerAddress;
    this.currentHttpAddress = options.httpAddress ?? '';
    this.handlers = options.handlers;
    this.logger = options.logger;
    this.listener = new PeerListener(this.logger, (batch) => this.acceptBatch(batch));
    this.linkOwner = {
      selfId: this.selfId,
      peerAddress: this.peerAddress,
      incarnation: this.incarnation,
      logger: this.logger,
      clusterId: () => this.currentClusterId,
      httpAddress: () => this.currentHttpAddress,
      unreachable: (peer) => this.handlers.unreachable(peer),
      snapshotStatus: (peer, ok) => this.handlers.snapshotStatus(peer, ok),
      dropped: (peer, message) => this.dropped(peer, message),
    };
    this.scheduleCheck();
  }

  /** The cluster id batches carry (a joining node adopts its cluster's). */
  get clusterId(): string {
    return this.currentClusterId;
  }

  /** Announces this node's HTTP address to peers from their next link on (it is bound after the transport starts). */
  setHttpAddress(address: string): void {
    this.currentHttpAddress = address;
  }

  setPeer(id: number, address: string): void {
    if (id === this.selfId) return;
    const existing = this.peers.get(id);
    if (existing?.address === address) return;
    existing?.close();
    this.peers.set(id, new PeerLink(this.linkOwner, id, address));
  }

  removePeer(id: number): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  send(messages: readonly Message[]): void {
    for (const message of messages) {
      const peer = this.peers.get(message.to);
      if (peer === undefined) this.dropped(message.to, message);
      else if (message.type === MessageType.SNAP) peer.sendSnapshot(message);
      else peer.enqueue(message);
    }
  }

  /** Each peer link's health: up, or down since when and why. */
  linkStates(): PeerLinkState[] {
    return [...this.peers.values()].map((peer) => peer.state()).sort((a, b) => a.peer - b.peer);
  }

  /** Bytes held for all peers that the kernel has not taken yet (bounded per peer by PEER_LINK_BUFFERED_BYTES_MAX). */
  bufferedBytes(): number {
    let total = 0;
    for (const peer of this.peers.values()) total += peer.bufferedBytes();
    return total;
  }

  /** Raw peer links accepted and still open (at most one per peer once each has sent a batch). */
  incomingPeerSocketCount(): number {
    return this.listener.size;
  }

  /** A peer's raw link (the shared port saw PEER_LINK_MAGIC): batches in, acks out. */
  acceptPeerSocket(socket: net.Socket): void {
    this.listener.acceptSocket(socket);
  }

  /** The server side of the peer service, registered on the node's gRPC server. */
  service(): RaftTransportServiceServer {
    return peerService({
      logger: this.logger,
      check: (clusterId, to, from) => this.checkIncoming(clusterId, to, from),
      admit: (peer) => this.handlers.admit?.(peer) ?? true,
      receive: (messages) => this.handlers.receive(messages),
      surveyAnswer: (peer) => this.handlers.surveyAnswer?.(peer),
      termSeenBefore: (peer, incarnation) => this.termsSeen.get(peer)?.before(incarnation) ?? 0,
    });
  }

  /** Asks peer `id` what it knows of this node; rejects if it cannot be asked. */
  survey(id: number, timeoutMs: number): Promise<SurveyResponse> {
    const peer = this.peers.get(id);
    if (peer === undefined) return Promise.reject(new Error(`no link to peer ${id}`));
    return peer.survey(timeoutMs);
  }

  close(): void {
    if (this.checkTimer !== undefined) clearTimeout(this.checkTimer);
    this.checkTimer = undefined;
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    this.listener.close();
  }

  /** A message that could not be queued: raft must not wait for a snapshot that never left. */
  private dropped(peer: number, message: Message): void {
    if (message.type === MessageType.SNAP) this.handlers.snapshotStatus(peer, false);
  }

  /** Links are checked on a timer of their own: a link must heal even when raft sends nothing on it. */
  private scheduleCheck(): void {
    this.checkTimer = setTimeout(() => {
      for (const peer of this.peers.values()) peer.check();
      this.scheduleCheck();
    }, PEER_LINK_CHECK_MS);
    // The node's servers keep the process alive; these checks alone must not.
    this.checkTimer.unref();
  }

  /** Checks a batch and hands its messages to the node; a reason to refuse the sender, if any. */
  private acceptBatch(batch: MessageBatch): string | undefined {
    const problem = this.checkIncoming(batch.clusterId, batch.to, batch.from);
    if (problem !== undefined) return problem;
    // Kept for the peer's startup check: a node's term never goes back unless its disk did.
    let term = 0;
    for (const message of batch.messages) {
      // A pre-vote (and a granted answer to one) names the term an election would move to, not the sender's.
      if (message.term > term && message.type !== MessageType.PRE_VOTE && message.type !== MessageType.PRE_VOTE_RESP) term = message.term;
    }
    let seen = this.termsSeen.get(batch.from);
    if (seen === undefined) this.termsSeen.set(batch.from, (seen = new TermsSeen()));
    seen.saw(batch.senderIncarnation, term);
    if (batch.sequence === 1) {
      if (batch.senderHttpAddress !== '') this.handlers.peerHttpAddress(batch.from, batch.senderHttpAddress);
      if (batch.senderPeerAddress !== '' && !this.peers.has(batch.from)) this.setPeer(batch.from, batch.senderPeerAddress);
    }
    // An empty batch is a link probe: acked, nothing to hand over.
    if (batch.messages.length > 0 && (this.handlers.admit?.(batch.from) ?? true)) {
      this.handlers.receive(batch.messages.filter((m) => m.from === batch.from && m.type !== MessageType.SNAP));
    }
    return undefined;
  }

  private checkIncoming(clusterId: string, to: number, from: number): string | undefined {
    if (clusterId !== this.currentClusterId) {
      if (this.handlers.adoptClusterId?.(clusterId) !== true)
        return `cluster id mismatch: peer is in '${clusterId}', this node in '${this.currentClusterId}'`;
      this.currentClusterId = clusterId;
    }
    if (to !== this.selfId) return `message for node ${to} reached node ${this.selfId}`;
    if (!this.handlers.isMember(from)) return `unknown peer ${from}`;
    return undefined;
  }
}
