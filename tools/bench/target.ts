/** What the load generator needs from a system under test; Cairn and etcd both implement it. */

export type SystemName = 'cairn' | 'etcd';

/**
 * How a client reaches the system. `unary`: one grpc-js unary call per op,
 * the proto loaded at run time (etcd's only gRPC client shape; for Cairn, the
 * neutral client any gRPC user writes). `clerk-*`: Cairn's @cairn/clerk over
 * the gRPC Pipeline stream, the raw KV link, or unary gRPC calls. `http`:
 * autocannon against Cairn's `/kv/<key>` and etcd's gRPC gateway.
 */
export const PROTOCOLS = ['unary', 'clerk-grpc', 'clerk-raw', 'clerk-unary', 'http'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** What `--protocols` runs when not given (clerk-unary only on request). */
export const DEFAULT_PROTOCOLS: readonly Protocol[] = ['unary', 'clerk-grpc', 'clerk-raw', 'http'];

export const PROTOCOL_DESCRIPTIONS: Readonly<Record<Protocol, string>> = {
  unary: 'grpc-js unary call per op, proto/ loaded at run time, no write session, leader-directed (etcd: KV.Put / KV.Range)',
  'clerk-grpc': '@cairn/clerk over the gRPC KVService.Pipeline stream (sessions, exactly-once writes)',
  'clerk-raw': "@cairn/clerk over the raw KV link (the clerk's default)",
  'clerk-unary': '@cairn/clerk making one unary gRPC call per op',
  http: 'autocannon: Cairn PUT/GET /kv/<key> on --client-addr; etcd POST /v3/kv/put, /v3/kv/range (gRPC gateway, base64 JSON)',
};

export function isProtocol(name: string): name is Protocol {
  return (PROTOCOLS as readonly string[]).includes(name);
}

/** The protocols a system speaks: etcd has no Clerk. */
export function systemSpeaks(system: SystemName, protocol: Protocol): boolean {
  return system === 'cairn' || protocol === 'unary' || protocol === 'http';
}

/** The etcd protocol a Cairn row is compared with: like with like, and etcd's unary client for the Clerk. */
export function etcdBaseline(protocol: Protocol): Protocol {
  return protocol === 'http' ? 'http' : 'unary';
}

export interface KvTarget {
  readonly system: SystemName;
  readonly protocol: Protocol;
  /** Where requests go, for the report (e.g. "leader 127.0.0.1:4001 (node 2)"). */
  readonly describeEndpoint: string;
  /** `worker` lets a target spread workers over several clients. */
  put(worker: number, key: Buffer, value: Buffer): Promise<void>;
  /** A linearizable read. */
  get(worker: number, key: Buffer): Promise<void>;
  /** Closes clients (not the cluster). */
  close(): void;
}

/** One HTTP request of the `http` protocol, as autocannon sends it. */
export interface HttpRequestSpec {
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer;
}

/** Where the `http` protocol sends its requests, and how each operation is written. */
export interface HttpTarget {
  readonly system: SystemName;
  /** `http://host:port` of the leader's HTTP listener. */
  readonly url: string;
  readonly describeEndpoint: string;
  /** A put of `value` (already in the form the API wants) to key `key`. */
  put(key: Buffer, value: Buffer): HttpRequestSpec;
  /** A linearizable read of `key`. */
  get(key: Buffer): HttpRequestSpec;
}

/** A stable, short code for a failed operation (a ClerkError code, a gRPC status name, or the error's name). */
export function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (typeof code === 'number') return `GRPC_${code}`;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string') return name;
  }
  return 'UNKNOWN';
}
