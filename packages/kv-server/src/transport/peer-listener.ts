/**
 * Incoming raw peer links (the shared port saw PEER_LINK_MAGIC): MessageBatch
 * frames in, BatchAck frames out. Each batch is handed to `accept`, which
 * checks it and passes its messages on; a batch it refuses closes the link,
 * and the sender redials after a backoff.
 *
 * A peer has one link in: its new connection replaces the old one (which may
 * be half-open, its FIN lost in a partition), and a link silent for
 * PEER_LINK_INCOMING_IDLE_MS (a live sender probes far more often) is closed.
 */
import type * as net from 'node:net';
import { BatchAck, FramedLink, MessageBatch } from '@cairn/proto';
import {
  ACK_DELAY_MS,
  ACK_EVERY_BATCHES,
  GRPC_MESSAGE_BYTES_MAX,
  PEER_INCOMING_LINKS_MAX,
  PEER_LINK_INCOMING_IDLE_MS,
  PEER_LINK_KEEPALIVE_MS,
} from '../limits.js';
import type { Logger } from '../logger.js';

type IncomingLink = FramedLink<MessageBatch, BatchAck>;

export class PeerListener {
  private readonly links = new Set<IncomingLink>();
  /** Each peer's current link in: a newer one replaces it. */
  private readonly byPeer = new Map<number, IncomingLink>();

  constructor(
    private readonly logger: Logger,
    /** Checks a batch and hands its messages on; a reason to refuse the sender, if any. */
    private readonly accept: (batch: MessageBatch) => string | undefined,
    /** A seam for tests: the bound is PEER_LINK_INCOMING_IDLE_MS. */
    private readonly idleTimeoutMs = PEER_LINK_INCOMING_IDLE_MS,
    /** A seam for tests: the bound is PEER_INCOMING_LINKS_MAX. */
    private readonly linksMax = PEER_INCOMING_LINKS_MAX,
  ) {}

  /** Links accepted and still open (at most one per peer once each has sent a batch). */
  get size(): number {
    return this.links.size;
  }

  acceptSocket(socket: net.Socket): void {
    if (this.links.size >= this.linksMax) {
      this.logger.warn('peer-link-refused', { remote: socket.remoteAddress, reason: `${this.linksMax} incoming peer links are open` });
      socket.destroy();
      return;
    }
    let from: number | undefined;
    const acks = new BatchAcker((sequence) => link.send({ sequence }));
    const link: IncomingLink = FramedLink.accept<MessageBatch, BatchAck>(socket, {
      keepAliveMs: PEER_LINK_KEEPALIVE_MS,
      // A live sender sends at least a probe every PEER_LINK_PROBE_IDLE_MS; this
      // much silence means its end is gone and its FIN or RST never came.
      idleTimeoutMs: this.idleTimeoutMs,
      receive: { codec: MessageBatch, what: 'MessageBatch', frameBytesMax: GRPC_MESSAGE_BYTES_MAX },
      sendCodec: BatchAck,
      onMessage: (batch) => {
        const problem = this.accept(batch);
        if (problem !== undefined) return this.refuse(link, problem, batch.from);
        if (from === undefined) {
          from = batch.from;
          this.replace(from, link);
        }
        acks.received(batch.sequence);
      },
      onClose: (cause) => {
        if (cause.kind === 'bad-frame') this.logger.warn('peer-batch-refused', { from, remote: link.remoteAddress, reason: cause.reason });
        this.links.delete(link);
        if (from !== undefined && this.byPeer.get(from) === link) this.byPeer.delete(from);
        acks.stop();
      },
    });
    this.links.add(link);
  }

  close(): void {
    for (const link of this.links) link.close('the node is stopping');
    this.links.clear();
    this.byPeer.clear();
  }

  private refuse(link: IncomingLink, reason: string, from: number): void {
    this.logger.warn('peer-batch-refused', { from, remote: link.remoteAddress, reason });
    // The sender sees the connection close, and redials after a backoff.
    link.close(reason);
  }

  /**
   * A peer dials a new link only after giving up its old one, so an older
   * link from it is dead, though it may never hear so (its FIN or RST lost
   * in a partition, its process killed): close it rather than keep it forever.
   */
  private replace(peer: number, link: IncomingLink): void {
    const previous = this.byPeer.get(peer);
    this.byPeer.set(peer, link);
    if (previous === undefined || previous === link) return;
    this.logger.debug('peer-link-replaced', { peer, remote: link.remoteAddress });
    previous.close('replaced by a newer link from the same peer');
  }
}

/**
 * The receiver's acks: the first batch and every ACK_EVERY_BATCHES-th at
 * once (an ack per batch was a third of the link's messages), any other
 * within ACK_DELAY_MS, so the sender can tell a live link from a dead one
 * by time alone.
 */
class BatchAcker {
  private latest = 0;
  private acked = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly send: (sequence: number) => void) {}

  received(sequence: number): void {
    this.latest = sequence;
    if (sequence === 1 || sequence % ACK_EVERY_BATCHES === 0) return this.ack();
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.ack();
    }, ACK_DELAY_MS);
  }

  private ack(): void {
    if (this.latest <= this.acked) return;
    this.acked = this.latest;
    this.send(this.latest);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
