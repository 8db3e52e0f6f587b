/**
 * The watch and lease calls of the coordination benchmark, for etcd 3.4 and
 * Cairn, over the SAME grpc-js client code: only the method paths and message
 * shapes differ. etcd's Watch and Lease services are described by hand (field
 * numbers as in etcd's rpc.proto and mvccpb/kv.proto); Cairn's come from
 * proto/ loaded at run time. Neither side uses its own SDK.
 */
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import { fromJSON, loadSync } from '@grpc/proto-loader';

const field = (type: string, id: number, rule?: 'repeated'): { type: string; id: number; rule?: string } =>
  rule === undefined ? { type, id } : { type, id, rule };
const method = (requestType: string, responseType: string, stream = false) => ({
  requestType,
  responseType,
  requestStream: stream,
  responseStream: stream,
  comment: '',
});

const ETCD_COORD_DESCRIPTOR: Parameters<typeof fromJSON>[0] = {
  nested: {
    etcdserverpb: {
      nested: {
        ResponseHeader: {
          fields: {
            cluster_id: field('uint64', 1),
            member_id: field('uint64', 2),
            revision: field('int64', 3),
            raft_term: field('uint64', 4),
          },
        },
        KeyValue: {
          fields: {
            key: field('bytes', 1),
            create_revision: field('int64', 2),
            mod_revision: field('int64', 3),
            version: field('int64', 4),
            value: field('bytes', 5),
            lease: field('int64', 6),
          },
        },
        Event: { fields: { type: field('int32', 1), kv: field('KeyValue', 2), prev_kv: field('KeyValue', 3) } },
        WatchCreateRequest: {
          fields: { key: field('bytes', 1), range_end: field('bytes', 2), start_revision: field('int64', 3), prev_kv: field('bool', 6) },
        },
        WatchRequest: { fields: { create_request: field('WatchCreateRequest', 1) } },
        WatchResponse: {
          fields: {
            header: field('ResponseHeader', 1),
            watch_id: field('int64', 2),
            created: field('bool', 3),
            canceled: field('bool', 4),
            events: field('Event', 11, 'repeated'),
          },
        },
        LeaseGrantRequest: { fields: { TTL: field('int64', 1), ID: field('int64', 2) } },
        LeaseGrantResponse: {
          fields: { header: field('ResponseHeader', 1), ID: field('int64', 2), TTL: field('int64', 3), error: field('string', 4) },
        },
        LeaseKeepAliveRequest: { fields: { ID: field('int64', 1) } },
        LeaseKeepAliveResponse: { fields: { header: field('ResponseHeader', 1), ID: field('int64', 2), TTL: field('int64', 3) } },
        Watch: { methods: { Watch: method('WatchRequest', 'WatchResponse', true) } },
        Lease: {
          methods: {
            LeaseGrant: method('LeaseGrantRequest', 'LeaseGrantResponse'),
            LeaseKeepAlive: method('LeaseKeepAliveRequest', 'LeaseKeepAliveResponse', true),
          },
        },
      },
    },
  },
};

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

function pick(definition: ReturnType<typeof loadSync>, service: string, name: string): grpc.MethodDefinition<object, object> {
  const found = definition[service];
  if (found === undefined || 'format' in found) throw new Error(`no service ${service}`);
  return (found as Record<string, grpc.MethodDefinition<object, object>>)[name]!;
}

const decodeEvents = (response: object): WatchBatch => ({
  values: ((response as Wire).events ?? []).map((event) => event.kv?.value ?? Buffer.alloc(0)),
});

export function etcdCoordProtocol(): CoordProtocol {
  const definition = fromJSON(ETCD_COORD_DESCRIPTOR, { longs: String, keepCase: true, defaults: false });
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
