/**
 * KVService.Pipeline: many operations over one long-lived stream. Each op runs
 * exactly as its unary call would (same KvApi method, same errors, same
 * metrics) and is answered on its own, in completion order. Results finished
 * in the same event-loop turn leave as one stream message: a unary gRPC call
 * costs both ends far more CPU than the operation itself, so this is what
 * lets a busy client get the cluster's throughput.
 *
 * The same stream runs over two carriers: the gRPC `Pipeline` call, and the
 * clerk's raw KV link (CLIENT_LINK_MAGIC on the node's port, then
 * length-prefixed PipelineRequest / PipelineResponse frames), which spares
 * both ends HTTP/2's per-message work on every round trip.
 *
 * Either carrier's first message names the node's cluster
 * (`PipelineResponse.cluster_id`, no results); on the raw link it leaves in
 * the same write as the magic's echo, so a clerk sees it before it sends ops.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as net from 'node:net';
import {
  CLIENT_LINK_MAGIC,
  encodeMessageFrame,
  FramedLink,
  type PipelineOp,
  PipelineRequest,
  PipelineResponse,
  type PipelineResult,
} from '@cairn/proto';
import type { ClusterIdentity } from '../cluster-identity.js';
import { InvalidArgumentError, toErrorDetail, TooManyRequestsError } from '../errors.js';
import {
  CLIENT_LINK_BUFFERED_BYTES_MAX,
  CLIENT_LINK_CLOSE_GRACE_MS,
  CLIENT_LINK_FRAME_BYTES_MAX,
  CLIENT_LINK_KEEPALIVE_MS,
  PIPELINE_MESSAGE_BYTES_TARGET,
  PIPELINE_OPS_IN_FLIGHT_MAX,
} from '../limits.js';
import type { Logger } from '../logger.js';
import { toKvError } from './grpc-errors.js';
import type { KvApi } from './kv-api.js';
import type { LeaseApi } from './lease-api.js';
import type { MeasuredCall } from './measured-call.js';

type PipelineCall = grpc.ServerDuplexStream<PipelineRequest, PipelineResponse>;
type Carrier = 'grpc' | 'raw';

/** Where a stream's results go: its gRPC call, or its raw socket. */
interface ResultSink {
  write(response: PipelineResponse): void;
  /** No more results: ends the call, or flushes and closes the socket. */
  end(): void;
}

/** The open pipeline streams of a server, so that stopping can end them (a stream never ends on its own). */
export class PipelineStreams {
  private readonly open = new Map<PipelineStream, Carrier>();
  private closed = false;
  /** The first message of every stream, built once per cluster id (it changes only when a joining node learns it). */
  private greeting: { clusterId: string; message: PipelineResponse; rawOpening: Buffer } | undefined;

  constructor(
    private readonly api: KvApi,
    private readonly measured: MeasuredCall,
    private readonly logger: Logger,
    private readonly cluster?: ClusterIdentity,
    private readonly leases?: LeaseApi,
  ) {}

  readonly handler = (call: PipelineCall): void => {
    const stream = this.openStream(call, 'grpc');
    if (stream === undefined) return;
    const greeting = this.currentGreeting();
    if (greeting !== undefined) call.write(greeting.message);
    call.on('data', (request: PipelineRequest) => stream.receive(request));
    call.on('end', () => stream.clientEnded());
    // A client that goes away cancels the call; nothing more can be sent.
    call.on('cancelled', () => stream.gone());
    call.on('error', () => stream.gone());
  };

  /**
   * A clerk's raw KV link (the shared port saw CLIENT_LINK_MAGIC). The magic
   * is echoed before anything else: the clerk writes no op until it sees it,
   * so a server that does not serve the link (it answers in HTTP/2) provably
   * ran none of them.
   */
  acceptSocket(socket: net.Socket): void {
    // The link calls back only after this returns, by when `stream` is set.
    const link = FramedLink.accept<PipelineRequest, PipelineResponse>(socket, {
      keepAliveMs: CLIENT_LINK_KEEPALIVE_MS,
      receive: { codec: PipelineRequest, what: 'PipelineRequest', frameBytesMax: CLIENT_LINK_FRAME_BYTES_MAX },
      sendCodec: PipelineResponse,
      // A client that sends ops but never reads their results would make the node buffer them all.
      writeBufferBytesMax: CLIENT_LINK_BUFFERED_BYTES_MAX,
      onMessage: (request) => stream?.receive(request),
      // The clerk half-closes after its last op: its running ops are still answered.
      onEnd: () => stream?.clientEnded(),
      onClose: (cause) => {
        if (cause.kind === 'bad-frame' || cause.kind === 'local')
          this.logger.warn('client-link-refused', { remote: socket.remoteAddress, reason: cause.reason });
        stream?.gone();
      },
    });
    const stream = this.openStream(
      {
        write: (response) => {
          if (!link.send(response) && !link.closed) link.close('the client does not read its results');
        },
        // A client that never reads would keep the flushed-but-unsent results, and the socket, forever.
        end: () => link.end(CLIENT_LINK_CLOSE_GRACE_MS),
      },
      'raw',
    );
    if (stream === undefined) return;
    link.sendEncoded(this.currentGreeting()?.rawOpening ?? CLIENT_LINK_MAGIC);
  }

  /** The cluster-naming first message, or undefined while the node does not know its cluster id. */
  private currentGreeting(): PipelineStreams['greeting'] {
    const clusterId = this.cluster?.id;
    if (clusterId === undefined) return undefined;
    if (this.greeting?.clusterId !== clusterId) {
      const message: PipelineResponse = { results: [], clusterId };
      this.greeting = { clusterId, message, rawOpening: Buffer.concat([CLIENT_LINK_MAGIC, encodeMessageFrame(PipelineResponse, message)]) };
    }
    return this.greeting;
  }

  /** Open streams carried by `carrier` (a metric). */
  count(carrier: Carrier): number {
    let count = 0;
    for (const kind of this.open.values()) if (kind === carrier) count += 1;
    return count;
  }

  /** A new stream, or undefined (ended at once) when the node is stopping. */
  private openStream(sink: ResultSink, carrier: Carrier): PipelineStream | undefined {
    const stream = new PipelineStream(sink, this.api, this.measured, this.logger, () => this.open.delete(stream), this.leases);
    if (this.closed) {
      stream.end();
      return undefined;
    }
    this.open.set(stream, carrier);
    return stream;
  }

  /** Sends every finished result, then ends each stream; ops still running are left to the client's retry. */
  closeAll(): void {
    this.closed = true;
    for (const stream of [...this.open.keys()]) stream.end();
    this.open.clear();
  }
}

class PipelineStream {
  private inFlight = 0;
  private finished: PipelineResult[] = [];
  private flushScheduled = false;
  private ended = false;
  private clientDone = false;

  constructor(
    private readonly sink: ResultSink,
    private readonly api: KvApi,
    private readonly measured: MeasuredCall,
    private readonly logger: Logger,
    private readonly onGone: () => void,
    private readonly leases?: LeaseApi,
  ) {}

  receive(request: PipelineRequest): void {
    for (const op of request.ops) this.start(op);
  }

  /** The client sent its last op: end once every op is answered. */
  clientEnded(): void {
    this.clientDone = true;
    if (this.inFlight === 0) this.end();
  }

  /** The client went away; nothing more can be sent. */
  gone(): void {
    this.ended = true;
    this.onGone();
  }

  end(): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    this.onGone();
    this.sink.end();
  }

  private start(op: PipelineOp): void {
    if (this.ended) return;
    if (this.inFlight >= PIPELINE_OPS_IN_FLIGHT_MAX) {
      this.answer(op.id, undefined, new TooManyRequestsError(`more than ${PIPELINE_OPS_IN_FLIGHT_MAX} operations in flight on one stream`));
      return;
    }
    this.inFlight += 1;
    this.run(op).then(
      (result) => this.settle(op.id, result, undefined),
      (error: unknown) => this.settle(op.id, undefined, error),
    );
  }

  private run(op: PipelineOp): Promise<Omit<PipelineResult, 'id'>> {
    const { api, measured } = this;
    if (op.put !== undefined) return measured('put', () => api.put(op.put!)).then((put) => ({ put }));
    if (op.get !== undefined) return measured('get', () => api.get(op.get!)).then((get) => ({ get }));
    if (op.append !== undefined) return measured('append', () => api.append(op.append!)).then((append) => ({ append }));
    if (op.delete !== undefined) return measured('delete', () => api.delete(op.delete!)).then((del) => ({ delete: del }));
    if (op.cas !== undefined) return measured('cas', () => api.cas(op.cas!)).then((cas) => ({ cas }));
    if (op.range !== undefined) return measured('range', () => api.range(op.range!)).then((range) => ({ range }));
    if (op.txn !== undefined) return measured('txn', () => api.txn(op.txn!)).then((txn) => ({ txn }));
    if (op.compact !== undefined) return measured('compact', () => api.compact(op.compact!)).then((compact) => ({ compact }));
    if (op.leaseGrant !== undefined || op.leaseRevoke !== undefined || op.leaseTimeToLive !== undefined) return this.runLease(op);
    return Promise.reject(new InvalidArgumentError('pipeline op names no operation'));
  }

  private runLease(op: PipelineOp): Promise<Omit<PipelineResult, 'id'>> {
    const { leases, measured } = this;
    if (leases === undefined) return Promise.reject(new InvalidArgumentError('this stream does not serve lease operations'));
    if (op.leaseGrant !== undefined)
      return measured('lease_grant', () => leases.grant(op.leaseGrant!)).then((leaseGrant) => ({ leaseGrant }));
    if (op.leaseRevoke !== undefined)
      return measured('lease_revoke', () => leases.revoke(op.leaseRevoke!)).then((leaseRevoke) => ({ leaseRevoke }));
    return measured('lease_time_to_live', () => leases.timeToLive(op.leaseTimeToLive!)).then((leaseTimeToLive) => ({ leaseTimeToLive }));
  }

  private settle(id: number, result: Omit<PipelineResult, 'id'> | undefined, error: unknown): void {
    this.inFlight -= 1;
    this.answer(id, result, error);
    if (this.clientDone && this.inFlight === 0) this.end();
  }

  private answer(id: number, result: Omit<PipelineResult, 'id'> | undefined, error: unknown): void {
    if (this.ended) return;
    this.finished.push(error === undefined ? { id, ...result } : { id, error: toErrorDetail(toKvError(error, this.logger)) });
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // At the end of this synchronous run: the results of one raft apply batch,
    // settled together, leave together, without waiting for the check phase.
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.ended || this.finished.length === 0) return;
    const results = this.finished;
    this.finished = [];
    // Keep each message well under the client's receive limit; one large result still goes alone.
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < results.length; i++) {
      bytes += resultBytes(results[i]!);
      if (bytes >= PIPELINE_MESSAGE_BYTES_TARGET || i === results.length - 1) {
        this.sink.write({ results: from === 0 && i === results.length - 1 ? results : results.slice(from, i + 1) });
        from = i + 1;
        bytes = 0;
      }
    }
  }
}

/** A cheap upper-ish estimate of a result's encoded size (keys and values dominate). */
function resultBytes(result: PipelineResult): number {
  let bytes = 64;
  const kv = result.get?.kv;
  if (kv !== undefined) bytes += kv.key.length + kv.value.length;
  const prev = result.put?.prevKv;
  if (prev !== undefined) bytes += prev.key.length + prev.value.length;
  for (const item of result.range?.kvs ?? []) bytes += item.key.length + item.value.length + 32;
  return bytes;
}
