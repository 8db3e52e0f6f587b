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
 * retries), as are messages beyond PEER_LINK_BUFFERED_BYTES_MAX unsent. A
 * link with a batch unacked for PEER_LINK_SILENT_MS is reset. A broken link
 * is re-dialled with exponential backoff; raft is told the peer is
 * unreachable so it falls back to probing. A peer that answers the raw link
 * in HTTP/2 predates it: batches to it go over its gRPC `Stream` instead.
 *
 * Snapshots (MsgSnap) go over a separate client-streaming `InstallSnapshot`
 * call in bounded chunks with a CRC32; raft learns the outcome through
 * reportSnapshot.
 *
 * Incoming: batches (from the raw link, or the gRPC `Stream` older nodes
 * dial) are checked (cluster id, addressed to us, from a known member) and
 * handed to the node loop.
 */
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
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
/** A batch unacked for this long means the link is dead or the peer stopped reading: reset it. */
const PEER_LINK_SILENT_MS = 3_000;
const KEEPALIVE_MS = 5_000;
/** Bytes a peer link may hold that the kernel has not taken yet; beyond it, messages are dropped. */
export const PEER_LINK_BUFFERED_BYTES_MAX = 16 * 1024 * 1024;
/** Acks are a few bytes; anything larger is not from a Cairn peer. */
const ACK_FRAME_BYTES_MAX = 1024;
export const GRPC_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
const RECONNECT_BACKOFF_MIN_MS = 50;
const RECONNECT_BACKOFF_MAX_MS = 2000;

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

class PeerLink {
  private client: RaftTransportServiceClient;
  private channel: PeerChannel | undefined;
  /** The peer answered the raw link in HTTP/2: it is a node from before the raw link, so use its gRPC stream. */
  private peerWantsGrpc = false;
  private queue: Message[] = [];
  private flushScheduled = false;
  private sequence = 0;
  /**
   * A peer's batch names another cluster id: true to adopt it (a joining node
   * learning its cluster's id from the leader that added it), false to refuse.
   */
  adoptClusterId?(clusterId: string): boolean;
  private acked = 0;
  /** When the oldest batch still waiting for an ack was sent (or the last ack came), if any is waiting. */
  private waitingSince: number | undefined;
  private backoffMs = RECONNECT_BACKOFF_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly transport: GrpcTransport,
    readonly id: number,
    readonly address: string,
  ) {
    // Snapshots use gRPC (and batches, to an older node); the channel connects lazily.
    this.client = new RaftTransportServiceClient(address, grpc.credentials.createInsecure(), GRPC_CHANNEL_OPTIONS);
  }

  enqueue(message: Message): void {
    if (this.closed) return;
    if (this.channel !== undefined && this.stalled()) {
      // The peer stopped reading or is unreachable (a dropped connection sends
      // nothing back): dropping forever would cut it off for good, so reset
      // the link; raft probes, and the next send redials.
      this.transport.logger.warn('peer-stream-stalled', { peer: this.id, unacked: this.sequence - this.acked });
      this.broken(this.channel, new Error('no acks in time'));
    }
    // Bounded by count and by bytes the socket holds unsent: a follower that
    // reads slowly costs the leader at most PEER_LINK_BUFFERED_BYTES_MAX,
    // and raft resends what was dropped.
    const buffered = this.bufferedBytes();
    if (this.queue.length >= QUEUED_MESSAGES_MAX || this.sequence - this.acked >= INFLIGHT_BATCHES_MAX || buffered >= PEER_LINK_BUFFERED_BYTES_MAX) {
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

  /** Bytes written to the link that the kernel has not taken yet. */
  bufferedBytes(): number {
    return this.channel?.bufferedBytes() ?? 0;
  }

  /** A full window unacked, or batches unacked for longer than the receiver's ack delay allows. */
  private stalled(): boolean {
    if (this.sequence - this.acked >= INFLIGHT_BATCHES_MAX) return true;
    return this.waitingSince !== undefined && performance.now() - this.waitingSince > PEER_LINK_SILENT_MS;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.queue.length === 0) return;
    const channel = this.channel ?? this.dial();
    if (channel === undefined) {
      for (const m of this.queue) this.transport.dropped(this.id, m);
      this.queue = [];
      return;
    }
    const messages = this.queue;
    this.queue = [];
    this.sequence += 1;
    this.waitingSince ??= performance.now();
    channel.send({
      clusterId: this.transport.clusterId,
      from: this.transport.selfId,
      to: this.id,
      sequence: this.sequence,
      messages,
      senderHttpAddress: this.transport.httpAddress,
      senderPeerAddress: this.transport.peerAddress,
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
  }

  private dialRaw(): PeerChannel {
    const { host, port } = splitHostPort(this.address);
    const socket = net.connect({ host, port, noDelay: true, keepAlive: true, keepAliveInitialDelay: KEEPALIVE_MS });
    const channel: PeerChannel = {
      send: (batch) => socket.write(encodeMessageFrame(MessageBatch, batch)),
      bufferedBytes: () => socket.writableLength,
      close: () => socket.destroy(),
    };
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
      this.broken(channel, error);
    };
    socket.on('data', (chunk: Buffer) => {
      const { messages, error } = reader.push(chunk);
      for (const ack of messages) {
        // Zero bytes decode as an ack of 0, so a real one names a batch sent on this connection.
        if (ack.sequence < 1 || ack.sequence > this.sequence) return notAnAck(new Error(`ack of batch ${ack.sequence}, which was not sent`));
        gotAck = true;
        this.acknowledged(ack.sequence);
      }
      if (error !== undefined) notAnAck(new Error(error));
    });
    socket.on('error', (error: Error) => this.broken(channel, error));
    socket.on('close', () => this.broken(channel));
    return channel;
  }

  private dialGrpc(): PeerChannel {
    const stream = this.client.stream();
    const channel: PeerChannel = {
      send: (batch) => stream.write(batch),
      bufferedBytes: () => 0,
      close: () => stream.cancel(),
    };
    stream.on('data', (ack: BatchAck) => this.acknowledged(ack.sequence));
    const broken = (error?: Error): void => {
      // Try the raw link again next time: the peer may have been upgraded.
      this.peerWantsGrpc = false;
      this.broken(channel, error);
    };
    stream.on('error', (error: Error) => broken(error));
    stream.on('end', () => broken());
    stream.on('close', () => broken());
    return channel;
  }

  /** The link failed: raft probes the peer, and it is redialled after a backoff. */
  private broken(channel: PeerChannel, error?: Error): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    channel.close();
    if (this.closed) return;
    this.transport.logger.debug('peer-stream-broken', { peer: this.id, error: error?.message });
    this.transport.handlers.unreachable(this.id);
    // Re-dial lazily on the next send, but not before the backoff passes.
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
    }, this.backoffMs);
    this.backoffMs = Math.min(RECONNECT_BACKOFF_MAX_MS, this.backoffMs * 2);
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
  private readonly peers = new Map<number, PeerLink>();
  private readonly incoming = new Set<grpc.ServerDuplexStream<MessageBatch, BatchAck>>();
  private readonly incomingSockets = new Set<net.Socket>();
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
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    for (const call of this.incoming) call.end();
    this.incoming.clear();
    for (const socket of this.incomingSockets) socket.destroy();
    this.incomingSockets.clear();
  }

  /** The server side of the peer service, registered on the node's gRPC server. */
  service(): RaftTransportServiceServer {
    return {
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
        acks.received(batch.sequence);
      }
      if (error !== undefined) refuse(error);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.incomingSockets.delete(socket);
      acks.stop();
    });
    socket.resume();
  }

  /** Checks a batch and hands its messages to the node; a reason to refuse the sender, if any. */
  private acceptBatch(batch: MessageBatch): string | undefined {
    const problem = this.checkIncoming(batch.clusterId, batch.to, batch.from);
    if (problem !== undefined) return problem;
    if (batch.sequence === 1) {
      if (batch.senderHttpAddress !== '') this.handlers.peerHttpAddress(batch.from, batch.senderHttpAddress);
      if (batch.senderPeerAddress !== '' && !this.peers.has(batch.from)) this.setPeer(batch.from, batch.senderPeerAddress);
    }
    if (this.faults.incoming(batch.from)) {
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
