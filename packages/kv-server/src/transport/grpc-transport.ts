/**
 * Raft peer transport.
 *
 * Outgoing: one long-lived TCP connection per peer, to the peer's gRPC port,
 * speaking the raw peer link (peer-frames.ts; the port tells it from gRPC by
 * its first bytes). `send()` only queues; the queue is flushed at the end of
 * the synchronous run that queued it as ONE MessageBatch frame per peer, so
 * a Ready's AppendEntries to a follower travel together. The receiver acks
 * the first batch and every ACK_EVERY_BATCHES-th at once and any other within
 * ACK_DELAY_MS; at most INFLIGHT_BATCHES_MAX may be unacked: beyond that (or
 * beyond the queue bound) messages are dropped, which Raft tolerates (it
 * retries), as are messages beyond PEER_LINK_BUFFERED_BYTES_MAX unsent.
 *
 * Every link heals itself, whatever broke it (issue 17 §1: a half-open
 * connection, a reset, a peer that went silent or was paused): a connection
 * with a full window or a batch unacked for PEER_LINK_SILENT_MS, or one not
 * connected within PEER_CONNECT_TIMEOUT_MS, is dropped, and its window goes
 * with it; the link redials after an exponential backoff with jitter
 * (RECONNECT_BACKOFF_MAX_MS at most) whether or not raft has something to
 * send. An idle link sends an empty batch every PEER_LINK_PROBE_IDLE_MS, so
 * a quiet link (follower to follower) is known to be up or down too. Raft is
 * told a broken peer is unreachable, so it falls back to probing. The link's
 * state (up, or down since when and why) is in linkStates() for /status and
 * the metrics; 'peer-link-down' and 'peer-link-up' are logged once per
 * change, never per retry. A peer that answers the raw link in HTTP/2
 * predates it: batches to it go over its gRPC `Stream` instead.
 *
 * Snapshots (MsgSnap) go over a separate client-streaming `InstallSnapshot`
 * call in bounded chunks with a CRC32; raft learns the outcome through
 * reportSnapshot.
 *
 * Incoming: batches (from the raw link, or the gRPC `Stream` older nodes
 * dial) are checked (cluster id, addressed to us, from a known member) and
 * handed to the node loop. A peer has one raw link in: its new connection
 * replaces the old one (which may be half-open: its FIN lost in a
 * partition), and a raw link silent for PEER_LINK_INCOMING_IDLE_MS (a live
 * sender probes far more often) is closed.
 */
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import { randomInt } from 'node:crypto';
import { crc32 } from 'node:zlib';
import {
  BatchAck,
  encodeMessageFrame,
  type Message,
  MessageBatch,
  MessageReader,
  MessageType,
  RaftTransportServiceClient,
  type RaftTransportServiceServer,
  type SnapshotAck,
  type SnapshotChunk,
  type SurveyRequest,
  type SurveyResponse,
} from '@cairn/proto';
import { splitHostPort } from '../config.js';
import type { Logger } from '../logger.js';
import { FaultInjector } from './faults.js';
import { PEER_LINK_MAGIC } from './peer-frames.js';

export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
export const QUEUED_MESSAGES_MAX = 8192;
export const INFLIGHT_BATCHES_MAX = 256;
/** Acks are cumulative; one per this many batches bounds inflight without doubling the traffic. */
export const ACK_EVERY_BATCHES = 32;
/** Batches between those acked at once are acked within this delay. */
const ACK_DELAY_MS = 200;
/**
 * A batch unacked for this long means the link is dead or the peer stopped
 * reading: reset it. Far above ACK_DELAY_MS, and short enough that a follower
 * rejoins within two election timeouts (1 s each by default) of a heal.
 */
const PEER_LINK_SILENT_MS = 2_000;
/** A connect that hangs this long (SYNs dropped by a partition) is abandoned and redialled. */
const PEER_CONNECT_TIMEOUT_MS = 1_000;
/** A link that sent nothing for this long sends an empty batch, so its ack shows it up or its silence down. */
const PEER_LINK_PROBE_IDLE_MS = 1_000;
/** How often links are checked for silence and idleness. */
const PEER_LINK_CHECK_MS = 250;
/** An incoming raw link with no batch (not even a probe) for this long has lost its sender: close it. */
const PEER_LINK_INCOMING_IDLE_MS = 30_000;
const KEEPALIVE_MS = 5_000;
/** Bytes a peer link may hold that the kernel has not taken yet; beyond it, messages are dropped. */
export const PEER_LINK_BUFFERED_BYTES_MAX = 16 * 1024 * 1024;
/** Acks are a few bytes; anything larger is not from a Cairn peer. */
const ACK_FRAME_BYTES_MAX = 1024;
export const GRPC_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
const RECONNECT_BACKOFF_MIN_MS = 50;
/** Bounds the wait between a heal and the next dial: a redial every ~0.5 s costs a SYN. */
const RECONNECT_BACKOFF_MAX_MS = 500;

export const GRPC_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': GRPC_MESSAGE_BYTES_MAX,
  'grpc.max_send_message_length': GRPC_MESSAGE_BYTES_MAX,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  // Channelz bookkeeping cost ~50 µs per call in profiles and nothing reads it.
  'grpc.enable_channelz': 0,
};

export interface TransportHandlers {
  /** Messages from a peer, already checked. */
  receive(messages: Message[]): void;
  /** A peer could not be reached (raft: reportUnreachable). */
  unreachable(peer: number): void;
  /** A snapshot send finished (raft: reportSnapshot). */
  snapshotStatus(peer: number, ok: boolean): void;
  /** Whether a node id is a current member (unknown peers are refused). */
  isMember(peer: number): boolean;
  /** A peer announced its HTTP address. */
  peerHttpAddress(peer: number, address: string): void;
  /**
   * A peer's batch names another cluster id: true to adopt it (a joining node
   * learning its cluster's id from the leader that added it), false to refuse.
   */
  adoptClusterId?(clusterId: string): boolean;
  /** What raft knows of a peer that asks at startup (its match index if we lead); see Survey in transport.proto. */
  surveyAnswer?(peer: number): { clusterStarted: boolean; term: number; matchIndex: number; matchIndexBeforeLoss: number; voting: boolean; voters: number[] };
}

export interface Transport {
  send(messages: readonly Message[]): void;
  setPeer(id: number, address: string): void;
  removePeer(id: number): void;
  readonly faults: FaultInjector;
  close(): void;
}

/** One connection of a peer link: the raw socket, or the gRPC stream that nodes from before the raw link accept. */
interface PeerChannel {
  send(batch: MessageBatch): void;
  /** Bytes written that the kernel has not taken yet (0 for gRPC, which keeps its own accounting). */
  bufferedBytes(): number;
  close(): void;
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

class PeerLink {
  private client: RaftTransportServiceClient;
  private channel: PeerChannel | undefined;
  /** The peer answered the raw link in HTTP/2: it is a node from before the raw link, so use its gRPC stream. */
  private peerWantsGrpc = false;
  private queue: Message[] = [];
  private flushScheduled = false;
  /** Batches sent and acked on the current connection; a new connection starts both at 0. */
  private sequence = 0;
  private acked = 0;
  /** When the oldest batch still waiting for an ack was sent (or the last ack came), if any is waiting. */
  private waitingSince: number | undefined;
  /** When the last batch (or probe) left, to probe a link that is idle. */
  private lastSentAt = 0;
  private backoffMs = RECONNECT_BACKOFF_MIN_MS;
  /** Set while a broken link waits out its backoff; it redials when the timer fires. */
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private up = false;
  private stateSinceMs = Date.now();
  private downReason: string | undefined = 'not connected yet';

  constructor(
    private readonly transport: GrpcTransport,
    readonly id: number,
    readonly address: string,
  ) {
    // Snapshots use gRPC (and batches, to an older node); the channel connects lazily.
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
    // backoff, messages are dropped too: raft resends, and the link redials
    // when the backoff ends, whether or not more messages come.
    const buffered = this.bufferedBytes();
    const waiting = this.channel === undefined && this.reconnectTimer !== undefined;
    if (waiting || this.queue.length >= QUEUED_MESSAGES_MAX || this.sequence - this.acked >= INFLIGHT_BATCHES_MAX || buffered >= PEER_LINK_BUFFERED_BYTES_MAX) {
      this.transport.dropped(this.id, message);
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
    if (this.channel === undefined || performance.now() - this.lastSentAt >= PEER_LINK_PROBE_IDLE_MS) this.sendBatch([]);
  }

  /** Bytes written to the link that the kernel has not taken yet. */
  bufferedBytes(): number {
    return this.channel?.bufferedBytes() ?? 0;
  }

  /**
   * Drops a connection whose peer stopped acking: a full window, or batches
   * unacked for longer than the receiver's ack delay allows. Its window goes
   * with it; were it kept, every later message would be dropped and the
   * link would never redial (issue 17 §1).
   */
  private maybeResetStalled(): void {
    if (this.channel === undefined) return;
    const unacked = this.sequence - this.acked;
    let reason: string | undefined;
    if (unacked >= INFLIGHT_BATCHES_MAX) reason = `${unacked} batches unacked`;
    else if (this.waitingSince !== undefined && performance.now() - this.waitingSince > PEER_LINK_SILENT_MS) reason = `no ack for ${PEER_LINK_SILENT_MS} ms`;
    if (reason === undefined) return;
    this.transport.logger.debug('peer-stream-stalled', { peer: this.id, unacked, reason });
    this.broken(this.channel, reason);
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
    const channel = this.channel ?? this.dial();
    if (channel === undefined) {
      for (const m of messages) this.transport.dropped(this.id, m);
      return;
    }
    this.sequence += 1;
    this.lastSentAt = performance.now();
    this.waitingSince ??= this.lastSentAt;
    channel.send({
      clusterId: this.transport.clusterId,
      from: this.transport.selfId,
      to: this.id,
      sequence: this.sequence,
      messages,
      senderHttpAddress: this.transport.httpAddress,
      senderPeerAddress: this.transport.peerAddress,
      senderIncarnation: this.transport.incarnation,
    });
  }

  private dial(): PeerChannel | undefined {
    if (this.reconnectTimer !== undefined) return undefined;
    this.sequence = 0;
    this.acked = 0;
    this.waitingSince = undefined;
    this.channel = this.peerWantsGrpc ? this.dialGrpc() : this.dialRaw();
    return this.channel;
  }

  private acknowledged(sequence: number): void {
    this.acked = Math.max(this.acked, sequence);
    this.waitingSince = this.acked >= this.sequence ? undefined : performance.now();
    this.backoffMs = RECONNECT_BACKOFF_MIN_MS;
    if (!this.up) {
      this.transport.logger.info('peer-link-up', { peer: this.id, address: this.address, downMs: Date.now() - this.stateSinceMs });
      this.up = true;
      this.stateSinceMs = Date.now();
      this.downReason = undefined;
    }
  }

  private dialRaw(): PeerChannel {
    const { host, port } = splitHostPort(this.address);
    const socket = net.connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
    const channel: PeerChannel = {
      send: (batch) => socket.write(encodeMessageFrame(MessageBatch, batch)),
      bufferedBytes: () => socket.writableLength,
      close: () => socket.destroy(),
    };
    // A partition drops SYNs and the kernel retries them for minutes; dial again sooner.
    const connectTimer = setTimeout(() => this.broken(channel, `not connected within ${PEER_CONNECT_TIMEOUT_MS} ms`), PEER_CONNECT_TIMEOUT_MS);
    socket.once('connect', () => clearTimeout(connectTimer));
    socket.write(PEER_LINK_MAGIC);
    const reader = new MessageReader(BatchAck, 'BatchAck', ACK_FRAME_BYTES_MAX);
    let gotAck = false;
    // A Cairn node only ever sends acks here. Anything else before the first
    // one is an HTTP/2 server (its SETTINGS frame): a node that predates the raw link.
    const notAnAck = (error: Error): void => {
      if (!gotAck && !this.peerWantsGrpc) {
        this.peerWantsGrpc = true;
        this.transport.logger.info('peer-link-grpc', { peer: this.id, reason: 'the peer answered the raw link in HTTP/2 (an older node); using its gRPC stream' });
      }
      this.broken(channel, error.message);
    };
    socket.on('data', (chunk: Buffer) => {
      const { messages, error } = reader.push(chunk);
      for (const ack of messages) {
        // Zero bytes decode as an ack of 0, so a real one names a batch sent on this connection.
        if (ack.sequence < 1 || ack.sequence > this.sequence) return notAnAck(new Error(`ack of batch ${ack.sequence}, which was not sent`));
        gotAck = true;
        if (this.channel === channel) this.acknowledged(ack.sequence);
      }
      if (error !== undefined) notAnAck(new Error(error));
    });
    socket.on('error', (error: Error) => this.broken(channel, error.message));
    socket.on('close', () => {
      clearTimeout(connectTimer);
      this.broken(channel, 'connection closed');
    });
    return channel;
  }

  private dialGrpc(): PeerChannel {
    const stream = this.client.stream();
    const channel: PeerChannel = {
      send: (batch) => stream.write(batch),
      bufferedBytes: () => 0,
      close: () => stream.cancel(),
    };
    stream.on('data', (ack: BatchAck) => {
      if (this.channel === channel) this.acknowledged(ack.sequence);
    });
    const broken = (reason: string): void => {
      // Try the raw link again next time: the peer may have been upgraded.
      this.peerWantsGrpc = false;
      this.broken(channel, reason);
    };
    stream.on('error', (error: Error) => broken(error.message));
    stream.on('end', () => broken('stream ended'));
    stream.on('close', () => broken('stream closed'));
    return channel;
  }

  /**
   * The connection failed: raft probes the peer, and the link redials after
   * a backoff with jitter (so peers cut off together do not redial in step),
   * with or without messages to send. Logged as 'peer-link-down' once, when
   * an up link goes down; the failed redials that follow are debug lines.
   */
  private broken(channel: PeerChannel, reason: string): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    channel.close();
    this.sequence = 0;
    this.acked = 0;
    this.waitingSince = undefined;
    if (this.closed) return;
    this.transport.logger.debug('peer-stream-broken', { peer: this.id, reason });
    if (this.up) {
      this.transport.logger.warn('peer-link-down', { peer: this.id, address: this.address, reason });
      this.up = false;
      this.stateSinceMs = Date.now();
    }
    this.downReason = reason;
    this.transport.handlers.unreachable(this.id);
    const delayMs = this.backoffMs / 2 + Math.random() * (this.backoffMs / 2);
    this.backoffMs = Math.min(RECONNECT_BACKOFF_MAX_MS, this.backoffMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.check();
    }, delayMs);
  }

  /** Asks the peer what it knows of this node (the startup check for a lost disk). */
  survey(timeoutMs: number): Promise<SurveyResponse> {
    const request: SurveyRequest = { clusterId: this.transport.clusterId, from: this.transport.selfId, to: this.id, incarnation: this.transport.incarnation };
    return new Promise((resolve, reject) => {
      this.client.survey(request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error !== null) reject(error);
        else resolve(response);
      });
    });
  }

  sendSnapshot(message: Message): void {
    const data = message.snapshot?.data ?? Buffer.alloc(0);
    this.transport.logger.info('snapshot-sending', { peer: this.id, index: message.snapshot?.metadata?.index, bytes: data.length });
    const header: Message = { ...message, snapshot: message.snapshot ? { ...message.snapshot, data: Buffer.alloc(0) } : undefined };
    const call = this.client.installSnapshot({ deadline: Date.now() + 5 * 60_000 }, (error, ack) => {
      const ok = error === null && ack?.accepted === true;
      if (!ok) this.transport.logger.warn('snapshot-send-failed', { peer: this.id, error: error?.message ?? ack?.error });
      else this.transport.logger.info('snapshot-sent', { peer: this.id, index: message.snapshot?.metadata?.index, bytes: data.length });
      this.transport.handlers.snapshotStatus(this.id, ok);
    });
    const checksum = crc32(data);
    let offset = 0;
    do {
      const end = Math.min(data.length, offset + SNAPSHOT_CHUNK_BYTES);
      const last = end === data.length;
      const chunk: SnapshotChunk = {
        clusterId: this.transport.clusterId,
        header: offset === 0 ? header : undefined,
        offset,
        data: data.subarray(offset, end),
        last,
        checksum: last ? checksum : 0,
      };
      call.write(chunk);
      offset = end;
    } while (offset < data.length);
    call.end();
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.channel?.close();
    this.channel = undefined;
    this.client.close();
  }
}

export class GrpcTransport implements Transport {
  /** The highest term seen in each peer's messages since this process started. */
  private readonly termsSeen = new Map<number, TermsSeen>();
  /** Random per process start, in every batch: see TermsSeen. */
  readonly incarnation = randomInt(1, 2 ** 48);
  private readonly peers = new Map<number, PeerLink>();
  private readonly incoming = new Set<grpc.ServerDuplexStream<MessageBatch, BatchAck>>();
  private readonly incomingSockets = new Set<net.Socket>();
  /** Each peer's current raw link in: a newer one replaces it. */
  private readonly incomingByPeer = new Map<number, net.Socket>();
  private checkTimer: NodeJS.Timeout | undefined;
  readonly faults: FaultInjector;

  constructor(
    readonly selfId: number,
    /** Carried by every batch; changes only when a joining node adopts its cluster's id. */
    public clusterId: string,
    readonly handlers: TransportHandlers,
    readonly logger: Logger,
    readonly httpAddress: string,
    readonly peerAddress: string,
    faults: FaultInjector = new FaultInjector(),
  ) {
    this.faults = faults;
    this.scheduleCheck();
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

  /** Each peer link's health: up, or down since when and why. */
  linkStates(): PeerLinkState[] {
    return [...this.peers.values()].map((peer) => peer.state()).sort((a, b) => a.peer - b.peer);
  }

  /** Raw peer links accepted and still open (at most one per peer once each has sent a batch). */
  incomingPeerSocketCount(): number {
    return this.incomingSockets.size;
  }

  setPeer(id: number, address: string): void {
    if (id === this.selfId) return;
    const existing = this.peers.get(id);
    if (existing?.address === address) return;
    existing?.close();
    this.peers.set(id, new PeerLink(this, id, address));
  }

  removePeer(id: number): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
  }

  send(messages: readonly Message[]): void {
    for (const message of messages) {
      const peer = this.peers.get(message.to);
      if (peer === undefined) {
        this.dropped(message.to, message);
        continue;
      }
      const delayMs = this.faults.outgoing(message.to);
      if (delayMs === undefined) continue;
      const deliver = (): void => (message.type === MessageType.SNAP ? peer.sendSnapshot(message) : peer.enqueue(message));
      if (delayMs > 0) setTimeout(deliver, delayMs);
      else deliver();
    }
  }

  /** Bytes held for all peers that the kernel has not taken yet (bounded per peer by PEER_LINK_BUFFERED_BYTES_MAX). */
  bufferedBytes(): number {
    let total = 0;
    for (const peer of this.peers.values()) total += peer.bufferedBytes();
    return total;
  }

  /** A message that could not be queued: raft must not wait for a snapshot that never left. */
  dropped(peer: number, message: Message): void {
    if (message.type === MessageType.SNAP) this.handlers.snapshotStatus(peer, false);
  }

  close(): void {
    if (this.checkTimer !== undefined) clearTimeout(this.checkTimer);
    this.checkTimer = undefined;
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    for (const call of this.incoming) call.end();
    this.incoming.clear();
    for (const socket of this.incomingSockets) socket.destroy();
    this.incomingSockets.clear();
    this.incomingByPeer.clear();
  }

  /** The server side of the peer service, registered on the node's gRPC server. */
  service(): RaftTransportServiceServer {
    return {
      survey: (call, callback) => {
        const { clusterId, to, from } = call.request;
        const problem = this.checkIncoming(clusterId, to, from);
        const answer = problem === undefined ? this.handlers.surveyAnswer?.(from) : undefined;
        const response: SurveyResponse = {
          error: problem ?? (answer === undefined ? 'this node does not answer surveys' : ''),
          clusterStarted: answer?.clusterStarted ?? false,
          termSeenFromYou: this.termsSeen.get(from)?.before(call.request.incarnation) ?? 0,
          matchIndex: answer?.matchIndex ?? 0,
          matchIndexBeforeLoss: answer?.matchIndexBeforeLoss ?? 0,
          term: answer?.term ?? 0,
          voting: answer?.voting ?? false,
          voters: answer?.voters ?? [],
        };
        callback(null, response);
      },
      // The gRPC stream is what nodes before the raw link dialled; it is kept so they still reach this one.
      stream: (call) => {
        // Tracked so close() can end them: a graceful shutdown must not wait
        // for peers to hang up their long-lived streams.
        this.incoming.add(call);
        const acks = new BatchAcker((sequence) => call.write({ sequence }));
        call.on('close', () => {
          this.incoming.delete(call);
          acks.stop();
        });
        let refused = false;
        call.on('data', (batch: MessageBatch) => {
          if (refused) return;
          const problem = this.acceptBatch(batch);
          if (problem !== undefined) {
            refused = true;
            this.logger.warn('peer-batch-refused', { from: batch.from, reason: problem });
            // 'error' makes grpc-js end the call with this status, so the sender
            // sees the stream fail and redials. destroy() ended it silently: the
            // sender kept writing into it and its window filled up for good.
            call.emit('error', Object.assign(new Error(problem), { code: grpc.status.PERMISSION_DENIED, details: problem }));
            return;
          }
          acks.received(batch.sequence);
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
      installSnapshot: (call, callback) => {
        const parts: Buffer[] = [];
        let header: Message | undefined;
        let failed = false;
        const fail = (error: string): void => {
          if (failed) return;
          failed = true;
          this.logger.warn('snapshot-receive-refused', { error });
          callback(null, { accepted: false, error } satisfies SnapshotAck);
        };
        call.on('data', (chunk: SnapshotChunk) => {
          if (failed) return;
          if (chunk.header !== undefined) {
            const problem = this.checkIncoming(chunk.clusterId, chunk.header.to, chunk.header.from);
            if (problem !== undefined) return fail(problem);
            header = chunk.header;
          }
          if (header === undefined) return fail('snapshot chunk before header');
          parts.push(chunk.data);
          if (!chunk.last) return;
          const data = Buffer.concat(parts);
          if (crc32(data) !== chunk.checksum) return fail('snapshot checksum mismatch');
          if (!this.faults.incoming(header.from)) return fail('partitioned (chaos)');
          const snapshot = header.snapshot ? { ...header.snapshot, data } : undefined;
          this.handlers.receive([{ ...header, snapshot }]);
          failed = true; // answered
          callback(null, { accepted: true, error: '' });
        });
        call.on('error', () => fail('stream error'));
        call.on('end', () => {
          if (!failed) fail('snapshot stream ended early');
        });
      },
    };
  }

  /** A peer's raw link (the shared port saw PEER_LINK_MAGIC): batches in, acks out. */
  acceptPeerSocket(socket: net.Socket): void {
    this.incomingSockets.add(socket);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    // A live sender sends at least a probe every PEER_LINK_PROBE_IDLE_MS; this
    // much silence means its end is gone and its FIN or RST never came.
    socket.setTimeout(PEER_LINK_INCOMING_IDLE_MS, () => socket.destroy());
    let from: number | undefined;
    const reader = new MessageReader(MessageBatch, 'MessageBatch', GRPC_MESSAGE_BYTES_MAX);
    const acks = new BatchAcker((sequence) => socket.write(encodeMessageFrame(BatchAck, { sequence })));
    const refuse = (reason: string, from?: number): void => {
      this.logger.warn('peer-batch-refused', { from, remote: socket.remoteAddress, reason });
      // The sender sees the connection close, and redials after a backoff.
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      const { messages, error } = reader.push(chunk);
      for (const batch of messages) {
        const problem = this.acceptBatch(batch);
        if (problem !== undefined) return refuse(problem, batch.from);
        if (from === undefined) {
          from = batch.from;
          this.replaceIncoming(from, socket);
        }
        acks.received(batch.sequence);
      }
      if (error !== undefined) refuse(error);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.incomingSockets.delete(socket);
      if (from !== undefined && this.incomingByPeer.get(from) === socket) this.incomingByPeer.delete(from);
      acks.stop();
    });
    socket.resume();
  }

  /**
   * A peer dials a new link only after giving up its old one, so an older
   * socket from it is dead, though it may never hear so (its FIN or RST lost
   * in a partition, its process killed): close it rather than keep it forever.
   */
  private replaceIncoming(peer: number, socket: net.Socket): void {
    const previous = this.incomingByPeer.get(peer);
    this.incomingByPeer.set(peer, socket);
    if (previous === undefined || previous === socket) return;
    this.logger.debug('peer-link-replaced', { peer, remote: socket.remoteAddress });
    previous.destroy();
  }

  /** Asks peer `id` what it knows of this node; rejects if it cannot be asked. */
  survey(id: number, timeoutMs: number): Promise<SurveyResponse> {
    const peer = this.peers.get(id);
    if (peer === undefined) return Promise.reject(new Error(`no link to peer ${id}`));
    return peer.survey(timeoutMs);
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
    if (batch.messages.length > 0 && this.faults.incoming(batch.from)) {
      this.handlers.receive(batch.messages.filter((m) => m.from === batch.from && m.type !== MessageType.SNAP));
    }
    return undefined;
  }

  private checkIncoming(clusterId: string, to: number, from: number): string | undefined {
    if (clusterId !== this.clusterId) {
      if (this.handlers.adoptClusterId?.(clusterId) !== true) return `cluster id mismatch: peer is in '${clusterId}', this node in '${this.clusterId}'`;
      this.clusterId = clusterId;
    }
    if (to !== this.selfId) return `message for node ${to} reached node ${this.selfId}`;
    if (!this.handlers.isMember(from)) return `unknown peer ${from}`;
    return undefined;
  }
}

/**
 * The highest terms seen in one peer's messages since this process started,
 * for its startup check (lost-disk-check.ts): those of its current run kept
 * apart from those of its earlier runs, since only the latter show that its
 * disk went back (its current run may have moved on while it asked).
 */
class TermsSeen {
  private incarnation = 0;
  private current = 0;
  private earlier = 0;

  saw(incarnation: number, term: number): void {
    if (incarnation !== this.incarnation) {
      this.earlier = Math.max(this.earlier, this.current);
      this.incarnation = incarnation;
      this.current = 0;
    }
    if (term > this.current) this.current = term;
  }

  /** The highest term seen from runs other than `incarnation`. */
  before(incarnation: number): number {
    return incarnation === this.incarnation ? this.earlier : Math.max(this.earlier, this.current);
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
