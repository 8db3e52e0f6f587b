/**
 * The transport seam: the Clerk talks to nodes only through `Transport` and
 * `Connection`. `GrpcTransport` is the production implementation;
 * `ScriptedTransport` (scripted-transport.ts) replays canned replies in tests.
 *
 * Every answer names the node's cluster (the `cairn-cluster-id` header or
 * trailer; a pipeline stream's first message). `GrpcTransport` checks it
 * against one `ClusterPin` shared by all its connections: a node of another
 * cluster is refused with `WrongClusterError`, its answer never used, and
 * nothing more is sent to it.
 */
import * as grpc from '@grpc/grpc-js';
import {
  CLUSTER_ID_HEADER,
  ClusterServiceService,
  ERROR_TRAILER,
  ErrorDetail,
  KVServiceService,
  LeaseServiceService,
  WatchServiceService,
} from '@cairn/proto';
import {
  AbortedError,
  type ClerkError,
  errorFromCode,
  errorFromDetail,
  InternalError,
  TimeoutError,
  UnavailableError,
  WrongClusterError,
} from './errors.js';
import type { AttemptOptions, CallResult } from './attempt.js';
import { isPipelineMethod, PipelineLink } from './pipeline.js';
import { grpcCarrier, rawCarrier, rawLinkTarget } from './pipeline-carriers.js';
import { watchReadiness } from './readiness.js';

/** Every RPC the clerk makes, by method name, with its generated codec. */
export const RPC_METHODS = {
  put: KVServiceService.put,
  get: KVServiceService.get,
  append: KVServiceService.append,
  delete: KVServiceService.delete,
  cas: KVServiceService.cas,
  range: KVServiceService.range,
  txn: KVServiceService.txn,
  compact: KVServiceService.compact,
  leaseGrant: LeaseServiceService.leaseGrant,
  leaseRevoke: LeaseServiceService.leaseRevoke,
  leaseTimeToLive: LeaseServiceService.leaseTimeToLive,
  leaseLeases: LeaseServiceService.leaseLeases,
  status: ClusterServiceService.status,
  members: ClusterServiceService.members,
  addLearner: ClusterServiceService.addLearner,
  promote: ClusterServiceService.promote,
  removeMember: ClusterServiceService.removeMember,
  transferLeader: ClusterServiceService.transferLeader,
  snapshot: ClusterServiceService.snapshot,
  injectFault: ClusterServiceService.injectFault,
} as const;

export type { AttemptOptions, CallResult } from './attempt.js';

export type RpcMethod = keyof typeof RPC_METHODS;
export type RpcRequest<M extends RpcMethod> = Parameters<(typeof RPC_METHODS)[M]['requestSerialize']>[0];
export type RpcResponse<M extends RpcMethod> = ReturnType<(typeof RPC_METHODS)[M]['responseDeserialize']>;

/** The bidirectional streams the clerk opens (watch, lease keep-alive), always over gRPC. */
export const STREAM_METHODS = {
  watch: WatchServiceService.watch,
  leaseKeepAlive: LeaseServiceService.leaseKeepAlive,
} as const;

export type StreamMethod = keyof typeof STREAM_METHODS;
export type StreamRequest<M extends StreamMethod> = Parameters<(typeof STREAM_METHODS)[M]['requestSerialize']>[0];
export type StreamResponse<M extends StreamMethod> = ReturnType<(typeof STREAM_METHODS)[M]['responseDeserialize']>;

/** What an open stream reports. `ended` comes once, last; nothing follows it. */
export interface StreamEvents<R> {
  message(response: R): void;
  /** The stream is over: an error from the node, a transport failure, or `cancel()` (an `AbortedError`). */
  ended(error: ClerkError): void;
}

/** One open bidirectional stream to a node. */
export interface BidiStream<Q> {
  write(request: Q): void;
  /** Ends the stream from this side; `ended` follows with an `AbortedError`. */
  cancel(): void;
}

/** One node's client address. Never throws from `call`: failures are results. */
export interface Connection {
  readonly address: string;
  call<M extends RpcMethod>(method: M, request: RpcRequest<M>, options: AttemptOptions): Promise<CallResult<RpcResponse<M>>>;
  /** Opens a bidirectional stream; absent on transports that have none (watch and lease keep-alive then fail). */
  openStream?<M extends StreamMethod>(method: M, events: StreamEvents<StreamResponse<M>>): BidiStream<StreamRequest<M>>;
  close(): void;
}

/** Makes connections; the Clerk caches one per address. */
export interface Transport {
  connect(address: string): Connection;
}

/**
 * The cluster a clerk talks to: the `clusterId` option, else the id named by
 * the first node that answers. Shared by every connection of a transport.
 */
export class ClusterPin {
  constructor(private pinned: string | undefined = undefined) {}

  /** The cluster id, once known. */
  get clusterId(): string | undefined {
    return this.pinned;
  }

  /**
   * Checks the id a node named. A node that names none (it predates cluster
   * ids, or joined and has not heard from its cluster yet) passes; the first
   * id seen is pinned when none was configured.
   */
  check(address: string, clusterId: string | undefined): WrongClusterError | undefined {
    if (clusterId === undefined || clusterId === '') return undefined;
    if (this.pinned === undefined) {
      this.pinned = clusterId;
      return undefined;
    }
    return clusterId === this.pinned ? undefined : new WrongClusterError(address, this.pinned, clusterId);
  }
}

export interface GrpcTransportOptions {
  /**
   * The cluster id every node must name (see `/status`). @default the id of
   * the first node that answers
   */
  readonly clusterId?: string;
  /** @default insecure (the server listens without TLS) */
  readonly credentials?: grpc.ChannelCredentials;
  /**
   * Send KV calls over one `Pipeline` stream per node, batched per event-loop
   * turn, instead of one unary call each. @default true
   */
  readonly pipeline?: boolean;
  /**
   * Carry the pipeline over the node's raw KV link (plain TCP on the same
   * port, less CPU per call than HTTP/2) instead of the gRPC `Pipeline` call.
   * Never used with `credentials` (the link has no TLS), through an HTTP
   * proxy, or for an address that is not `host:port`: those use gRPC.
   * @default true
   */
  readonly rawLink?: boolean;
}

/** gRPC over plaintext HTTP/2 (the server listens without TLS). */
export class GrpcTransport implements Transport {
  private readonly credentials: grpc.ChannelCredentials;
  private readonly pipeline: boolean;
  private readonly rawLink: boolean;
  /** The cluster every connection checks its answers against. */
  readonly cluster: ClusterPin;

  constructor(options: GrpcTransportOptions = {}) {
    this.cluster = new ClusterPin(options.clusterId);
    this.credentials = options.credentials ?? grpc.credentials.createInsecure();
    this.pipeline = options.pipeline ?? true;
    this.rawLink = (options.rawLink ?? true) && options.credentials === undefined;
  }

  connect(address: string): Connection {
    // Channelz bookkeeping costs every call time and nothing here reads it.
    const client = new grpc.Client(address, this.credentials, { 'grpc.enable_channelz': 0 });
    const target = this.rawLink ? rawLinkTarget(address) : undefined;
    const connection = new GrpcConnection(address, client, this.cluster);
    if (this.pipeline) {
      const checkClusterId = (clusterId: string): ClerkError | undefined => connection.checkCluster(clusterId);
      connection.pipeline = new PipelineLink({ open: target !== undefined ? rawCarrier(target) : grpcCarrier(client), checkClusterId });
    }
    return connection;
  }
}

class GrpcConnection implements Connection {
  pipeline: PipelineLink | undefined;
  /** Set once the node named another cluster: every call fails with it, sending nothing. */
  private refusal: WrongClusterError | undefined;

  constructor(
    readonly address: string,
    private readonly client: grpc.Client,
    private readonly cluster: ClusterPin,
  ) {}

  /** Checks the cluster id the node named; a refusal sticks. */
  checkCluster(clusterId: string | undefined): WrongClusterError | undefined {
    this.refusal ??= this.cluster.check(this.address, clusterId);
    return this.refusal;
  }

  call<M extends RpcMethod>(method: M, request: RpcRequest<M>, options: AttemptOptions): Promise<CallResult<RpcResponse<M>>> {
    if (this.refusal !== undefined)
      return Promise.resolve({ ok: false, error: this.refusal, fromServer: true, mayHaveReachedServer: false });
    if (this.pipeline !== undefined && isPipelineMethod(method)) {
      return this.pipeline.call(method, request as never, options) as Promise<CallResult<RpcResponse<M>>>;
    }
    return this.unary(method, request, options);
  }

  private unary<M extends RpcMethod>(method: M, request: RpcRequest<M>, options: AttemptOptions): Promise<CallResult<RpcResponse<M>>> {
    const definition = RPC_METHODS[method] as unknown as {
      path: string;
      requestSerialize: (value: RpcRequest<M>) => Buffer;
      responseDeserialize: (value: Buffer) => RpcResponse<M>;
    };
    const readiness = watchReadiness(this.client.getChannel(), Date.now() + options.timeoutMs + 1_000);
    return new Promise((resolve) => {
      if (options.signal.aborted) {
        resolve({ ok: false, error: new AbortedError(), fromServer: false, mayHaveReachedServer: false });
        return;
      }
      const onAbort = (): void => call.cancel();
      const call = this.client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + options.timeoutMs },
        (error, response) => {
          options.signal.removeEventListener('abort', onAbort);
          readiness.stop();
          // The node names its cluster in the response headers, or in the trailers of a failure.
          const refusal = this.checkCluster(headerClusterId ?? clusterIdOf(error?.metadata));
          if (refusal !== undefined) {
            resolve({ ok: false, error: refusal, fromServer: true, mayHaveReachedServer: true });
            return;
          }
          if (error === null && response !== undefined) {
            resolve({ ok: true, response });
            return;
          }
          resolve(failureFromGrpc(error, options.signal.aborted, readiness.sawReady()));
        },
      );
      let headerClusterId: string | undefined;
      call.on('metadata', (metadata: grpc.Metadata) => {
        headerClusterId = clusterIdOf(metadata);
      });
      options.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  openStream<M extends StreamMethod>(method: M, events: StreamEvents<StreamResponse<M>>): BidiStream<StreamRequest<M>> {
    const definition = STREAM_METHODS[method] as unknown as {
      path: string;
      requestSerialize: (value: StreamRequest<M>) => Buffer;
      responseDeserialize: (value: Buffer) => StreamResponse<M>;
    };
    let done = false;
    const end = (error: ClerkError): void => {
      if (done) return;
      done = true;
      events.ended(error);
    };
    if (this.refusal !== undefined) {
      const refusal = this.refusal;
      queueMicrotask(() => end(refusal));
      return { write: () => undefined, cancel: () => undefined };
    }
    const call = this.client.makeBidiStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      new grpc.Metadata(),
      {},
    );
    let cancelled = false;
    call.on('metadata', (metadata: grpc.Metadata) => {
      const refusal = this.checkCluster(clusterIdOf(metadata));
      if (refusal === undefined) return;
      end(refusal);
      call.cancel();
    });
    call.on('data', (response: StreamResponse<M>) => {
      if (!done) events.message(response);
    });
    call.on('error', (error: grpc.ServiceError) => {
      if (cancelled) return end(new AbortedError('stream cancelled'));
      const detail = decodeErrorTrailer(error.metadata);
      end(detail !== undefined ? errorFromDetail(detail) : errorFromGrpcStatus(error));
    });
    call.on('end', () => end(cancelled ? new AbortedError('stream cancelled') : new UnavailableError('stream closed by the node')));
    return {
      write: (request) => {
        if (!done) call.write(request);
      },
      cancel: () => {
        if (done) return;
        cancelled = true;
        call.cancel();
        end(new AbortedError('stream cancelled'));
      },
    };
  }

  close(): void {
    this.pipeline?.close();
    this.client.close();
  }
}

/** The `cairn-cluster-id` a node sent, if any. */
function clusterIdOf(metadata: grpc.Metadata | undefined): string | undefined {
  const value = metadata?.get(CLUSTER_ID_HEADER)[0];
  return typeof value === 'string' ? value : undefined;
}

/** Decodes the `ERROR_TRAILER` (`cairn-error-bin`), or returns undefined if absent or malformed. */
export function decodeErrorTrailer(metadata: grpc.Metadata | undefined): ErrorDetail | undefined {
  const value = metadata?.get(ERROR_TRAILER)[0];
  if (value === undefined || typeof value === 'string') return undefined;
  try {
    return ErrorDetail.decode(value);
  } catch {
    return undefined;
  }
}

function failureFromGrpc(error: grpc.ServiceError | null, aborted: boolean, sawReady: boolean): CallResult<never> {
  if (error === null) {
    return { ok: false, error: new InternalError('empty response'), fromServer: false, mayHaveReachedServer: sawReady };
  }
  const detail = decodeErrorTrailer(error.metadata);
  if (detail !== undefined) {
    return { ok: false, error: errorFromDetail(detail), fromServer: true, mayHaveReachedServer: true };
  }
  if (aborted) {
    return { ok: false, error: new AbortedError(), fromServer: false, mayHaveReachedServer: sawReady };
  }
  // Any other status was sent by the node (grpc-js reports its own failures as these three).
  const fromServer = ![grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED].includes(error.code);
  return { ok: false, error: errorFromGrpcStatus(error), fromServer, mayHaveReachedServer: sawReady || fromServer };
}

/** Maps a bare gRPC status (no ErrorDetail trailer) to a clerk error. */
export function errorFromGrpcStatus(error: { code: grpc.status; details: string }): ClerkError {
  const options = { cause: error };
  const details = error.details;
  switch (error.code) {
    case grpc.status.UNAVAILABLE:
      return new UnavailableError(`unavailable: ${details}`, options);
    case grpc.status.DEADLINE_EXCEEDED:
      return new TimeoutError('request timed out', options);
    case grpc.status.CANCELLED:
      return new AbortedError('request cancelled', options);
    case grpc.status.RESOURCE_EXHAUSTED:
      return errorFromCode('TOO_MANY_REQUESTS', `resource exhausted: ${details}`);
    case grpc.status.INVALID_ARGUMENT:
      return errorFromCode('INVALID_ARGUMENT', details || 'invalid argument');
    case grpc.status.NOT_FOUND:
      return errorFromCode('NOT_FOUND', details || 'not found');
    case grpc.status.FAILED_PRECONDITION:
      return errorFromCode('FAILED_PRECONDITION', details || 'failed precondition');
    default:
      return new InternalError(`gRPC status ${grpc.status[error.code] ?? error.code}: ${details}`, options);
  }
}
