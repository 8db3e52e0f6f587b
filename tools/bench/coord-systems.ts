/**
 * The watch and lease calls of the coordination benchmark, for etcd 3.4 and
 * Cairn, over the SAME grpc-js client code: only the method paths and message
 * shapes differ. etcd's Watch and Lease services are in the hand-written
 * descriptor of etcd-proto.ts; Cairn's come from proto/ loaded at run time.
 * Neither side uses its own SDK.
 */
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { loadEtcdDefinition } from './etcd-proto.js';

/** What one decoded watch response carries for the benchmark. */
export interface WatchBatch {
  readonly values: readonly Buffer[];
}

/** The calls the coordination benchmark makes, with each system's message shapes. */
export interface CoordProtocol {
  readonly watch: grpc.MethodDefinition<object, object>;
  readonly grant: grpc.MethodDefinition<object, object>;
  readonly keepAlive: grpc.MethodDefinition<object, object>;
  watchPrefix(prefix: Buffer): object;
  eventsOf(response: object): WatchBatch;
  grantRequest(ttlSeconds: number): object;
  leaseIdOf(grantResponse: object): string;
  keepAliveRequest(id: string): object;
  /** The TTL a keep-alive response grants (0 = the lease is gone). */
  ttlOf(keepAliveResponse: object): number;
}

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.of(0);
}

interface Wire {
  events?: Array<{ kv?: { value?: Buffer } }>;
  ID?: string;
  id?: string;
  TTL?: string;
  ttl?: string;
}

function pick(
  definition: ReturnType<typeof loadSync> | ReturnType<typeof loadEtcdDefinition>,
  service: string,
  name: string,
): grpc.MethodDefinition<object, object> {
  const found = definition[service];
  if (found === undefined || 'format' in found) throw new Error(`no service ${service}`);
  return (found as Record<string, grpc.MethodDefinition<object, object>>)[name]!;
}

const decodeEvents = (response: object): WatchBatch => ({
  values: ((response as Wire).events ?? []).map((event) => event.kv?.value ?? Buffer.alloc(0)),
});

export function etcdCoordProtocol(): CoordProtocol {
  const definition = loadEtcdDefinition();
  return {
    watch: pick(definition, 'etcdserverpb.Watch', 'Watch'),
    grant: pick(definition, 'etcdserverpb.Lease', 'LeaseGrant'),
    keepAlive: pick(definition, 'etcdserverpb.Lease', 'LeaseKeepAlive'),
    watchPrefix: (prefix) => ({ create_request: { key: prefix, range_end: prefixEnd(prefix) } }),
    eventsOf: decodeEvents,
    grantRequest: (ttl) => ({ TTL: ttl }),
    leaseIdOf: (response) => String((response as Wire).ID ?? '0'),
    keepAliveRequest: (id) => ({ ID: id }),
    ttlOf: (response) => Number((response as Wire).TTL ?? 0),
  };
}

const CAIRN_PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));

export function cairnCoordProtocol(): CoordProtocol {
  const definition = loadSync(['cairn/kv/v1/kv.proto'], {
    includeDirs: [CAIRN_PROTO_ROOT],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
  });
  return {
    watch: pick(definition, 'cairn.kv.v1.WatchService', 'Watch'),
    grant: pick(definition, 'cairn.kv.v1.LeaseService', 'LeaseGrant'),
    keepAlive: pick(definition, 'cairn.kv.v1.LeaseService', 'LeaseKeepAlive'),
    watchPrefix: (prefix) => ({ createRequest: { key: prefix, prefix: true } }),
    eventsOf: decodeEvents,
    grantRequest: (ttl) => ({ ttl }),
    leaseIdOf: (response) => String((response as Wire).id ?? '0'),
    keepAliveRequest: (id) => ({ id }),
    ttlOf: (response) => Number((response as Wire).ttl ?? 0),
  };
}
