/**
 * One outgoing peer link: a long-lived raw TCP link to the peer's port
 * (PEER_LINK_MAGIC, then MessageBatch frames out and BatchAck frames back),
 * plus a gRPC channel to the same port for snapshots and the startup survey.
 *
 * `enqueue()` only queues; the queue leaves at the end of the synchronous run
 * that filled it as ONE batch, so a Ready's messages to a peer travel
 * together. At most INFLIGHT_BATCHES_MAX batches may be unacked, and at most
 * PEER_LINK_BUFFERED_BYTES_MAX bytes unsent: beyond either (or beyond the
 * queue bound) messages are dropped, which raft tolerates (it resends).
 *
 * The link heals itself, whatever broke it (a half-open connection, a reset,
 * a peer that went silent or was paused): a connection with a full window or
 * a batch unacked for PEER_LINK_SILENT_MS, or one not connected within
 * PEER_CONNECT_TIMEOUT_MS, is dropped with its window, and the link redials
 * after an exponential backoff with jitter whether or not raft has something
 * to send. An idle link sends an empty batch every PEER_LINK_PROBE_IDLE_MS,
 * so a quiet link is known to be up or down too. Raft is told a broken peer
 * is unreachable, so it falls back to probing. 'peer-link-down' and
 * 'peer-link-up' are logged once per change, never per retry.
 */
import * as grpc from '@grpc/grpc-js';
import {
  BatchAck,
  FramedLink,
  type Message,
  MessageBatch,
  RaftTransportServiceClient,
  type SurveyRequest,
  type SurveyResponse,
} from '@cairn/proto';
import { splitHostPort } from '../config.js';
import {
  ACK_FRAME_BYTES_MAX,
  INFLIGHT_BATCHES_MAX,
  PEER_CONNECT_TIMEOUT_MS,
  PEER_LINK_BUFFERED_BYTES_MAX,
  PEER_LINK_KEEPALIVE_MS,
  PEER_LINK_PROBE_IDLE_MS,
  PEER_LINK_SILENT_MS,
  PEER_QUEUED_MESSAGES_MAX,
  PEER_RECONNECT_BACKOFF_MAX_MS,
  PEER_RECONNECT_BACKOFF_MIN_MS,
} from '../limits.js';
import type { Logger } from '../logger.js';
import { GRPC_CHANNEL_OPTIONS } from './grpc-options.js';
import { PEER_LINK_MAGIC } from './peer-frames.js';
import { sendSnapshot } from './snapshot-sender.js';

/** What a link needs from its transport: the sender's identity for each batch, and where its outcomes go. */
export interface PeerLinkOwner {
  readonly selfId: number;
  /** Read per batch: a joining node adopts its cluster's id, and the HTTP address is known only once bound. */
  clusterId(): string;
  httpAddress(): string;
  readonly peerAddress: string;
  readonly incarnation: number;
  readonly logger: Logger;
  /** The peer could not be reached (raft: reportUnreachable). */
  unreachable(peer: number): void;
  /** A snapshot send finished (raft: reportSnapshot). */
  snapshotStatus(peer: number, ok: boolean): void;
  /** A message that could not be queued. */
  dropped(peer: number, message: Message): void;
}

/** A peer link's health, for /status and the metrics. */
export interface PeerLinkState {
  readonly peer: number;
  readonly address: string;
  /** An ack came on the current connection: the peer reads what this node sends. */
  readonly up: boolean;
  /** When the link last went up or down (ms since the epoch); its creation if it never came up. */
  readonly sinceMs: number;
  /** Why the link is down (the last failure), while it is. */
  readonly reason: string | undefined;
}

type Connection = FramedLink<BatchAck, MessageBatch>;

export class PeerLink {
  private readonly client: RaftTransportServiceClient;
  private connection: Connection | undefined;
  private queue: Message[] = [];
  private flushScheduled = false;
  /** Batches sent and acked on the current connection; a new connection starts both at 0. */
  private sequence = 0;
  private acked = 0;
  /** When the oldest batch still waiting for an ack was sent (or the last ack came), if any is waiting. */
  private waitingSince: number | undefined;
  /** When the last batch (or probe) left, to probe a link that is idle. */
  private lastSentAt = 0;
  private backoffMs = PEER_RECONNECT_BACKOFF_MIN_MS;
  /** Set while a broken link waits out its backoff; it redials when the timer fires. */
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private up = false;
  private stateSinceMs = Date.now();
  private downReason: string | undefined = 'not connected yet';

  constructor(
    private readonly owner: PeerLinkOwner,
    readonly id: number,
    readonly address: string,
  ) {
    // Snapshots and surveys use gRPC on the same port; the channel connects lazily.
    this.client = new RaftTransportServiceClient(address, grpc.credentials.createInsecure(), GRPC_CHANNEL_OPTIONS);
  }

  state(): PeerLinkState {
    return { peer: this.id, address: this.address, up: this.up, sinceMs: this.stateSinceMs, reason: this.up ? undefined : this.downReason };
  }

  enqueue(message: Message): void {
    if (this.closed) return;
    this.maybeResetStalled();
    // Bounded by count and by bytes the socket holds unsent: a follower that
    // reads slowly costs the leader at most PEER_LINK_BUFFERED_BYTES_MAX,
    // and raft resends what was dropped. While a broken link waits out its
    // backoff, messages are dropped too: the link redials when the backoff
    // ends, whether or not more messages come.
    const waiting = this.connection === undefined && this.reconnectTimer !== undefined;
    if (
      waiting ||
      this.queue.length >= PEER_QUEUED_MESSAGES_MAX ||
      this.sequence - this.acked >= INFLIGHT_BATCHES_MAX ||
      this.bufferedBytes() >= PEER_LINK_BUFFERED_BYTES_MAX
    ) {
      this.owner.dropped(this.id, message);
      return;
    }
    this.queue.push(message);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Every message of this synchronous run (one Ready's, for one peer) leaves as one batch.
      queueMicrotask(() => this.flush());
    }
  }

  /**
   * Called every PEER_LINK_CHECK_MS: resets a silent connection even when
   * raft sends nothing (a follower), and probes an idle one so that its ack,
   * or its silence, tells whether the peer is there.
   */
  check(): void {
    if (this.closed) return;
    this.maybeResetStalled();
    if (this.reconnectTimer !== undefined || this.queue.length > 0) return;
    if (this.connection === undefined || performance.now() - this.lastSentAt >= PEER_LINK_PROBE_IDLE_MS) this.sendBatch([]);
  }

  /** Bytes written to the link that the kernel has not taken yet. */
  bufferedBytes(): number {
    return this.connection?.bufferedBytes ?? 0;
  }

  /** Sends a snapshot over gRPC in checksummed chunks; raft learns the outcome through snapshotStatus. */
  sendSnapshot(message: Message): void {
    sendSnapshot(this.client, message, this.owner.clusterId(), this.owner.logger, (ok) => this.owner.snapshotStatus(this.id, ok));
  }

  /** Asks the peer what it knows of this node (the startup check for a lost disk). */
  survey(timeoutMs: number): Promise<SurveyResponse> {
    const request: SurveyRequest = {
      clusterId: this.owner.clusterId(),
      from: this.owner.selfId,
      to: this.id,
      incarnation: this.owner.incarnation,
    };
    return new Promise((resolve, reject) => {
      this.client.survey(request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error !== null) reject(error);
        else resolve(response);
      });
    });
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.connection?.close('link closed');
    this.connection = undefined;
    this.client.close();
  }

  /**
   * Drops a connection whose peer stopped acking: a full window, or batches
   * unacked for longer than the receiver's ack delay allows. Its window goes
   * with it; were it kept, every later message would be dropped and the
   * link would never redial.
   */
  private maybeResetStalled(): void {
    if (this.connection === undefined) return;
    const unacked = this.sequence - this.acked;
    let reason: string | undefined;
    if (unacked >= INFLIGHT_BATCHES_MAX) reason = `${unacked} batches unacked`;
    else if (this.waitingSince !== undefined && performance.now() - this.waitingSince > PEER_LINK_SILENT_MS)
      reason = `no ack for ${PEER_LINK_SILENT_MS} ms`;
    if (reason === undefined) return;
    this.owner.logger.debug('peer-stream-stalled', { peer: this.id, unacked, reason });
    this.broken(this.connection, reason);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.queue.length === 0) return;
    const messages = this.queue;
    this.queue = [];
    this.sendBatch(messages);
  }

  /** Sends one batch (an empty one is a probe), dialling first if there is no connection. */
  private sendBatch(messages: Message[]): void {
    const connection = this.connection ?? this.dial();
    const sent =
      connection?.send({
        clusterId: this.owner.clusterId(),
        from: this.owner.selfId,
        to: this.id,
        sequence: this.sequence + 1,
        messages,
        senderHttpAddress: this.owner.httpAddress(),
        senderPeerAddress: this.owner.peerAddress,
        senderIncarnation: this.owner.incarnation,
      }) ?? false;
    if (!sent) {
      for (const m of messages) this.owner.dropped(this.id, m);
      return;
    }
    this.sequence += 1;
    this.lastSentAt = performance.now();
    this.waitingSince ??= this.lastSentAt;
  }

  private dial(): Connection | undefined {
    if (this.reconnectTimer !== undefined) return undefined;
    this.sequence = 0;
    this.acked = 0;
    this.waitingSince = undefined;
    const { host, port } = splitHostPort(this.address);
    const connection: Connection = FramedLink.dial<BatchAck, MessageBatch>({
      host,
      port,
      keepAliveMs: PEER_LINK_KEEPALIVE_MS,
      hello: PEER_LINK_MAGIC,
      connectTimeoutMs: PEER_CONNECT_TIMEOUT_MS,
      receive: { codec: BatchAck, what: 'BatchAck', frameBytesMax: ACK_FRAME_BYTES_MAX },
      sendCodec: MessageBatch,
      writeBufferBytesMax: PEER_LINK_BUFFERED_BYTES_MAX,
      onMessage: (ack) => {
        if (this.connection !== connection) return;
        // Zero bytes decode as an ack of 0, so a real one names a batch sent on this connection.
        if (ack.sequence < 1 || ack.sequence > this.sequence)
          return this.broken(connection, `ack of batch ${ack.sequence}, which was not sent`);
        this.acknowledged(ack.sequence);
      },
      onClose: (cause) => this.broken(connection, cause.reason),
    });
    this.connection = connection;
    return connection;
  }

  private acknowledged(sequence: number): void {
    this.acked = Math.max(this.acked, sequence);
    this.waitingSince = this.acked >= this.sequence ? undefined : performance.now();
    this.backoffMs = PEER_RECONNECT_BACKOFF_MIN_MS;
    if (!this.up) {
      this.owner.logger.info('peer-link-up', { peer: this.id, address: this.address, downMs: Date.now() - this.stateSinceMs });
      this.up = true;
      this.stateSinceMs = Date.now();
      this.downReason = undefined;
    }
  }

  /**
   * The connection failed: raft probes the peer, and the link redials after
   * a backoff with jitter (so peers cut off together do not redial in step),
   * with or without messages to send. Logged as 'peer-link-down' once, when
   * an up link goes down; the failed redials that follow are debug lines.
   */
  private broken(connection: Connection, reason: string): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    connection.close(reason);
    this.sequence = 0;
    this.acked = 0;
    this.waitingSince = undefined;
    if (this.closed) return;
    this.owner.logger.debug('peer-stream-broken', { peer: this.id, reason });
    if (this.up) {
      this.owner.logger.warn('peer-link-down', { peer: this.id, address: this.address, reason });
      this.up = false;
      this.stateSinceMs = Date.now();
    }
    this.downReason = reason;
    this.owner.unreachable(this.id);
    const delayMs = this.backoffMs / 2 + Math.random() * (this.backoffMs / 2);
    this.backoffMs = Math.min(PEER_RECONNECT_BACKOFF_MAX_MS, this.backoffMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.check();
    }, delayMs);
  }
}
