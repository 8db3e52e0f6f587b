/**
 * A minimal hand-written descriptor of etcd's v3 API (etcdserverpb): KV.Put,
 * KV.Range, Maintenance.Status, Watch.Watch, Lease.LeaseGrant and
 * Lease.LeaseKeepAlive, with field numbers as in etcd's rpc.proto and mvccpb/kv.proto.
 * Loaded with @grpc/proto-loader's `fromJSON`, so no .proto file is needed.
 */
import type { MethodDefinition } from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';

const field = (type: string, id: number, rule?: 'repeated'): { type: string; id: number; rule?: string } =>
  rule === undefined ? { type, id } : { type, id, rule };

// protobufjs's typings require a comment on every method.
const unaryMethod = (requestType: string, responseType: string): { requestType: string; responseType: string; comment: string } => ({
  requestType,
  responseType,
  comment: '',
});

const streamMethod = (
  requestType: string,
  responseType: string,
): ReturnType<typeof unaryMethod> & { requestStream: true; responseStream: true } => ({
  ...unaryMethod(requestType, responseType),
  requestStream: true,
  responseStream: true,
});

const ETCD_DESCRIPTOR: Parameters<typeof fromJSON>[0] = {
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
        PutRequest: { fields: { key: field('bytes', 1), value: field('bytes', 2), lease: field('int64', 3), prev_kv: field('bool', 4) } },
        PutResponse: { fields: { header: field('ResponseHeader', 1), prev_kv: field('KeyValue', 2) } },
        RangeRequest: {
          fields: {
            key: field('bytes', 1),
            range_end: field('bytes', 2),
            limit: field('int64', 3),
            revision: field('int64', 4),
            // serializable=false (the default) is a linearizable read through etcd's ReadIndex.
            serializable: field('bool', 7),
            keys_only: field('bool', 8),
            count_only: field('bool', 9),
          },
        },
        RangeResponse: {
          fields: {
            header: field('ResponseHeader', 1),
            kvs: field('KeyValue', 2, 'repeated'),
            more: field('bool', 3),
            count: field('int64', 4),
          },
        },
        StatusRequest: { fields: {} },
        StatusResponse: {
          fields: {
            header: field('ResponseHeader', 1),
            version: field('string', 2),
            dbSize: field('int64', 3),
            leader: field('uint64', 4),
            raftIndex: field('uint64', 5),
            raftTerm: field('uint64', 6),
          },
        },
        KV: {
          methods: {
            Range: unaryMethod('RangeRequest', 'RangeResponse'),
            Put: unaryMethod('PutRequest', 'PutResponse'),
          },
        },
        Maintenance: { methods: { Status: unaryMethod('StatusRequest', 'StatusResponse') } },
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
        Watch: { methods: { Watch: streamMethod('WatchRequest', 'WatchResponse') } },
        Lease: {
          methods: {
            LeaseGrant: unaryMethod('LeaseGrantRequest', 'LeaseGrantResponse'),
            LeaseKeepAlive: streamMethod('LeaseKeepAliveRequest', 'LeaseKeepAliveResponse'),
          },
        },
      },
    },
  },
};

export interface EtcdPutRequest {
  key: Buffer;
  value: Buffer;
}
export interface EtcdRangeRequest {
  key: Buffer;
  serializable?: boolean;
}
export interface EtcdResponseHeader {
  member_id: string;
}
/** uint64 ids are decoded as decimal strings (`longs: String`) to stay exact. */
export interface EtcdStatusResponse {
  header: EtcdResponseHeader;
  leader: string;
}

export interface EtcdMethods {
  readonly put: MethodDefinition<EtcdPutRequest, object>;
  readonly range: MethodDefinition<EtcdRangeRequest, object>;
  readonly status: MethodDefinition<object, EtcdStatusResponse>;
}

/** The descriptor loaded: uint64 ids decode as decimal strings, field names as in etcd's proto. */
export function loadEtcdDefinition(): ReturnType<typeof fromJSON> {
  return fromJSON(ETCD_DESCRIPTOR, { longs: String, keepCase: true, defaults: false });
}

export function loadEtcdMethods(): EtcdMethods {
  const definition = loadEtcdDefinition();
  const service = (name: string): Record<string, unknown> => {
    const found = definition[`etcdserverpb.${name}`];
    if (found === undefined || 'format' in found) throw new Error(`etcd descriptor has no service ${name}`);
    return found as Record<string, unknown>;
  };
  return {
    put: service('KV').Put as EtcdMethods['put'],
    range: service('KV').Range as EtcdMethods['range'],
    status: service('Maintenance').Status as EtcdMethods['status'],
  };
}
