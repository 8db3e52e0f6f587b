/**
 * Lease calls for the real-process tests: each follows NOT_LEADER hints and
 * retries retryable codes until a deadline (writes reuse their session, so
 * a retry applies once), and a keep-alive loop that reopens its stream on
 * whichever node leads.
 */
import * as grpc from '@grpc/grpc-js';
import {
  type LeaseGrantResponse,
  type LeaseKeepAliveRequest,
  type LeaseKeepAliveResponse,
  type LeaseRevokeResponse,
  LeaseServiceClient,
  type LeaseTimeToLiveResponse,
  type PutResponse,
  ERROR_TRAILER,
  ErrorDetail,
} from '@cairn/proto';
import { type CallError, type NodeProcess, type TestCluster, unaryCall } from '@cairn/testkit';

const RETRYABLE = new Set(['NOT_LEADER', 'NO_LEADER', 'TIMEOUT', 'UNAVAILABLE', 'SHUTTING_DOWN', 'TOO_MANY_REQUESTS', 'UNKNOWN_OUTCOME']);
const CALL_MS = 3000;

export class LeaseClient {
  private seq = 0;
  private leader: NodeProcess | undefined;
  private readonly clients = new Map<NodeProcess, LeaseServiceClient>();
  readonly clientId = `lease-test-${Math.random().toString(36).slice(2)}`;

  constructor(private readonly cluster: TestCluster) {}

  leaseClient(node: NodeProcess): LeaseServiceClient {
    let client = this.clients.get(node);
    if (client === undefined) {
      client = new LeaseServiceClient(node.grpcAddress, grpc.credentials.createInsecure());
      this.clients.set(node, client);
    }
    return client;
  }

  /** The live node believed to lead (after a successful call), else undefined. */
  get knownLeader(): NodeProcess | undefined {
    return this.leader?.process !== undefined ? this.leader : undefined;
  }

  async onLeader<T>(call: (node: NodeProcess, deadline: grpc.CallOptions) => Promise<T>, deadlineMs = 15_000): Promise<T> {
    const deadline = Date.now() + deadlineMs;
    for (let attempt = 0; ; attempt++) {
      const live = this.cluster.nodes.filter((n) => n.process !== undefined);
      const node = this.knownLeader ?? live[attempt % live.length]!;
      try {
        const value = await call(node, { deadline: Date.now() + CALL_MS });
        this.leader = node;
        return value;
      } catch (error) {
        const e = error as CallError;
        const code = e.detail?.code ?? (e.code === 14 || e.code === 4 || e.code === 1 ? 'UNAVAILABLE' : undefined);
        if (code === undefined || !RETRYABLE.has(code) || Date.now() > deadline) throw error;
        this.leader = e.detail?.leaderId
          ? this.cluster.nodes.find((n) => n.id === e.detail!.leaderId && n.process !== undefined)
          : undefined;
        if (this.leader === undefined) await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  grant(ttl: number, id = 0): Promise<LeaseGrantResponse> {
    const session = { clientId: this.clientId, seq: ++this.seq };
    return this.onLeader((n, options) =>
      unaryCall<LeaseGrantResponse>((cb) => this.leaseClient(n).leaseGrant({ ttl, id, session }, new grpc.Metadata(), options, cb)),
    );
  }

  revoke(id: number): Promise<LeaseRevokeResponse> {
    const session = { clientId: this.clientId, seq: ++this.seq };
    return this.onLeader((n, options) =>
      unaryCall<LeaseRevokeResponse>((cb) =>
        this.leaseClient(n).leaseRevoke({ id, session, expired: false }, new grpc.Metadata(), options, cb),
      ),
    );
  }

  put(key: string, value: string, lease: number): Promise<PutResponse> {
    const session = { clientId: this.clientId, seq: ++this.seq };
    return this.onLeader((n, options) =>
      unaryCall<PutResponse>((cb) =>
        n.kv.put({ key: Buffer.from(key), value: Buffer.from(value), session, prevKv: false, lease }, new grpc.Metadata(), options, cb),
      ),
    );
  }

  timeToLive(id: number, keys = false): Promise<LeaseTimeToLiveResponse> {
    return this.onLeader((n, options) =>
      unaryCall<LeaseTimeToLiveResponse>((cb) => this.leaseClient(n).leaseTimeToLive({ id, keys }, new grpc.Metadata(), options, cb)),
    );
  }

  /** One keep-alive on a fresh stream to the leader: the TTL it answers (0 = no such lease). */
  keepAliveOnce(id: number): Promise<number> {
    return this.onLeader(
      (n, options) =>
        new Promise<number>((resolve, reject) => {
          const stream = this.leaseClient(n).leaseKeepAlive(new grpc.Metadata(), options);
          stream.on('data', (response: LeaseKeepAliveResponse) => {
            resolve(response.ttl);
            stream.end();
          });
          stream.on('error', (error: grpc.ServiceError) => reject(withDetail(error)));
          stream.write({ id } satisfies LeaseKeepAliveRequest);
        }),
    );
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
  }
}

/**
 * Keeps leases alive every `everyMs` over one stream to the leader, reopened
 * on another node when it fails. Records the TTLs answered (a 0 means the
 * leader did not know the lease).
 */
export class KeepAliveLoop {
  readonly answers: number[] = [];
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private stream: grpc.ClientDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse> | undefined;
  private target = 0;
  private preferred: NodeProcess | undefined;

  constructor(
    private readonly leases: LeaseClient,
    private readonly cluster: TestCluster,
    private readonly ids: number[],
    private readonly everyMs: number,
  ) {}

  start(): void {
    const tick = (): void => {
      if (this.stopped) return;
      this.send();
      this.timer = setTimeout(tick, this.everyMs);
    };
    tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.stream?.cancel();
  }

  private send(): void {
    if (this.stream === undefined) {
      const live = this.cluster.nodes.filter((n) => n.process !== undefined);
      if (live.length === 0) return;
      const node = this.preferred?.process !== undefined ? this.preferred : live[this.target++ % live.length]!;
      this.preferred = undefined;
      const stream = this.leases.leaseClient(node).leaseKeepAlive();
      stream.on('data', (response: LeaseKeepAliveResponse) => {
        this.preferred = node;
        this.answers.push(response.ttl);
      });
      stream.on('error', (error: grpc.ServiceError) => {
        if (this.stream === stream) this.stream = undefined;
        const leaderId = withDetail(error).detail?.leaderId;
        // Follow the hint next time; without one, the next send tries another node.
        this.preferred = leaderId ? this.cluster.nodes.find((n) => n.id === leaderId && n.process !== undefined) : undefined;
      });
      stream.on('end', () => {
        if (this.stream === stream) this.stream = undefined;
      });
      this.stream = stream;
    }
    for (const id of this.ids) this.stream.write({ id });
  }
}

function withDetail(error: grpc.ServiceError): CallError {
  const raw = error.metadata?.get(ERROR_TRAILER)[0];
  return Object.assign(error, { detail: raw instanceof Buffer ? ErrorDetail.decode(raw) : undefined });
}
