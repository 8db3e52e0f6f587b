/**
 * Raft peer transport over @grpc/grpc-js.
 *
 * Outgoing: one long-lived bidi `Stream` per peer. `send()` only queues; the
 * queue is flushed once per event-loop turn as ONE MessageBatch per peer, so a
 * loop turn's AppendEntries to a follower travel together. The receiver acks
 * the first batch and then every ACK_EVERY_BATCHES-th (an ack per batch was a
 * third of the link's messages); at most INFLIGHT_BATCHES_MAX may be unacked:
 * beyond that (or beyond the queue bound) messages are dropped, which Raft
 * tolerates (it retries).
 * A broken stream is re-dialled with exponential backoff; raft is told the
 * peer is unreachable so it falls back to probing.
 *
 * Snapshots (MsgSnap) go over a separate client-streaming `InstallSnapshot`
 * call in bounded chunks with a CRC32; raft learns the outcome through
 * reportSnapshot.
 *
 * Incoming: batches are checked (cluster id, addressed to us, from a known
 * member) and handed to the node loop.
 */
import * as grpc from '@grpc/grpc-js';
import { crc32 } from 'node:zlib';
import {
  type BatchAck,
  type Message,
  type MessageBatch,
  MessageType,
  RaftTransportServiceClient,
  type RaftTransportServiceServer,
  type SnapshotAck,
  type SnapshotChunk,
} from '@cairn/proto';
import type { Logger } from '../logger.js';
import { FaultInjector } from './faults.js';

export const SNAPSHOT_CHUNK_BYTES = 1024 * 1024;
export const QUEUED_MESSAGES_MAX = 8192;
export const INFLIGHT_BATCHES_MAX = 256;
/** Acks are cumulative; one per this many batches bounds inflight without doubling the traffic. */
export const ACK_EVERY_BATCHES = 32;
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

class PeerLink {
  private client: RaftTransportServiceClient;
  private stream: grpc.ClientDuplexStream<MessageBatch, BatchAck> | undefined;
  private queue: Message[] = [];
  private flushScheduled = false;
  private sequence = 0;
  private acked = 0;
  private backoffMs = RECONNECT_BACKOFF_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly transport: GrpcTransport,
    readonly id: number,
    readonly address: string,
  ) {
    this.client = new RaftTransportServiceClient(address, grpc.credentials.createInsecure(), GRPC_CHANNEL_OPTIONS);
  }

  enqueue(message: Message): void {
    if (this.closed) return;
    if (this.stream !== undefined && this.sequence - this.acked >= INFLIGHT_BATCHES_MAX) {
      // A full window of unacked batches: the stream is stuck (the peer stopped
      // reading it without the call failing here). Dropping forever would cut the
      // peer off for good; reset the link so raft probes and the stream is redialled.
      this.transport.logger.warn('peer-stream-stalled', { peer: this.id, unacked: this.sequence - this.acked });
      const stalled = this.stream;
      this.streamBroken(stalled, new Error('no acks for a full window of batches'));
      stalled.cancel();
    }
    if (this.queue.length >= QUEUED_MESSAGES_MAX || this.sequence - this.acked >= INFLIGHT_BATCHES_MAX) {
      this.transport.dropped(this.id, message);
      return;
    }
    this.queue.push(message);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.queue.length === 0) return;
    const stream = this.stream ?? this.dial();
    if (stream === undefined) {
      for (const m of this.queue) this.transport.dropped(this.id, m);
      this.queue = [];
      return;
    }
    const messages = this.queue;
    this.queue = [];
    this.sequence += 1;
    stream.write({
      clusterId: this.transport.clusterId,
      from: this.transport.selfId,
      to: this.id,
      sequence: this.sequence,
      messages,
      senderHttpAddress: this.transport.httpAddress,
      senderPeerAddress: this.transport.peerAddress,
    });
  }

  private dial(): grpc.ClientDuplexStream<MessageBatch, BatchAck> | undefined {
    if (this.reconnectTimer !== undefined) return undefined;
    const stream = this.client.stream();
    this.stream = stream;
    this.sequence = 0;
    this.acked = 0;
    stream.on('data', (ack: BatchAck) => {
      this.acked = Math.max(this.acked, ack.sequence);
      this.backoffMs = RECONNECT_BACKOFF_MIN_MS;
    });
    stream.on('error', (error: Error) => this.streamBroken(stream, error));
    stream.on('end', () => this.streamBroken(stream));
    stream.on('close', () => this.streamBroken(stream));
    return stream;
  }

  /** The current stream failed: raft probes the peer, and it is redialled after a backoff. */
  private streamBroken(stream: grpc.ClientDuplexStream<MessageBatch, BatchAck>, error?: Error): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
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
    this.stream?.cancel();
    this.stream = undefined;
    this.client.close();
  }
}

export class GrpcTransport implements Transport {
  private readonly peers = new Map<number, PeerLink>();
  private readonly incoming = new Set<grpc.ServerDuplexStream<MessageBatch, BatchAck>>();
  readonly faults: FaultInjector;

  constructor(
    readonly selfId: number,
    readonly clusterId: string,
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

  /** A message that could not be queued: raft must not wait for a snapshot that never left. */
  dropped(peer: number, message: Message): void {
    if (message.type === MessageType.SNAP) this.handlers.snapshotStatus(peer, false);
  }

  close(): void {
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    for (const call of this.incoming) call.end();
    this.incoming.clear();
  }

  /** The server side of the peer service, registered on the node's gRPC server. */
  service(): RaftTransportServiceServer {
    return {
      stream: (call) => {
        // Tracked so close() can end them: a graceful shutdown must not wait
        // for peers to hang up their long-lived streams.
        this.incoming.add(call);
        call.on('close', () => this.incoming.delete(call));
        let refused = false;
        call.on('data', (batch: MessageBatch) => {
          if (refused) return;
          const problem = this.checkIncoming(batch.clusterId, batch.to, batch.from);
          if (problem !== undefined) {
            refused = true;
            this.logger.warn('peer-batch-refused', { from: batch.from, reason: problem });
            // 'error' makes grpc-js end the call with this status, so the sender
            // sees the stream fail and redials. destroy() ended it silently: the
            // sender kept writing into it and its window filled up for good.
            call.emit('error', Object.assign(new Error(problem), { code: grpc.status.PERMISSION_DENIED, details: problem }));
            return;
          }
          if (batch.sequence === 1) {
            if (batch.senderHttpAddress !== '') this.handlers.peerHttpAddress(batch.from, batch.senderHttpAddress);
            if (batch.senderPeerAddress !== '' && !this.peers.has(batch.from)) this.setPeer(batch.from, batch.senderPeerAddress);
          }
          if (this.faults.incoming(batch.from)) {
            this.handlers.receive(batch.messages.filter((m) => m.from === batch.from && m.type !== MessageType.SNAP));
          }
          if (batch.sequence === 1 || batch.sequence % ACK_EVERY_BATCHES === 0) call.write({ sequence: batch.sequence });
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

  private checkIncoming(clusterId: string, to: number, from: number): string | undefined {
    if (clusterId !== this.clusterId) return `cluster id mismatch: peer is in '${clusterId}', this node in '${this.clusterId}'`;
    if (to !== this.selfId) return `message for node ${to} reached node ${this.selfId}`;
    if (!this.handlers.isMember(from)) return `unknown peer ${from}`;
    return undefined;
  }
}
