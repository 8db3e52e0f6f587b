/**
 * The neutral Cairn client: what a Go or Python service, grpcurl or a Node app
 * using grpc-js directly does. `proto/cairn/kv/v1/*.proto` is loaded at run time
 * with @grpc/proto-loader (no @cairn/clerk, no generated code), every op is one
 * unary call (KVService.Put without a write session, as etcd's Put has none;
 * KVService.Get with linearizable consistency), and calls go to the leader:
 * found once with ClusterService.Status, found again after a NOT_LEADER (the
 * refused put was never proposed, so it is sent again, once).
 */
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { grpcClient, unary, type UnaryError } from './grpc-unary.js';
import { sleep } from './processes.js';
import type { KvTarget } from './target.js';

const PROTO_ROOT = fileURLToPath(new URL('../../proto/', import.meta.url));
const PROTO_FILES = ['cairn/kv/v1/kv.proto', 'cairn/kv/v1/cluster.proto'];
/** Per-call deadline, the same as the etcd client's and the Clerk's whole-call deadline. */
const REQUEST_DEADLINE_MS = 30_000;
const STATUS_DEADLINE_MS = 1_000;
const DISCOVERY_DEADLINE_MS = 30_000;

interface StatusResponse {
  id: string;
  role: string;
  leader_id: string;
  members: Array<{ id: string; client_address: string }>;
}

interface Methods {
  readonly put: grpc.MethodDefinition<{ key: Buffer; value: Buffer }, object>;
  readonly get: grpc.MethodDefinition<{ key: Buffer; consistency: string }, object>;
  readonly status: grpc.MethodDefinition<object, StatusResponse>;
}

function loadMethods(): Methods {
  const definition = loadSync(PROTO_FILES, { includeDirs: [PROTO_ROOT], keepCase: true, longs: String, enums: String, defaults: false });
  const method = (service: string, name: string): unknown => {
    const found = definition[`cairn.kv.v1.${service}`];
    if (found === undefined || 'format' in found) throw new Error(`proto/ has no service cairn.kv.v1.${service}`);
    return (found as Record<string, unknown>)[name];
  };
  return {
    put: method('KVService', 'Put') as Methods['put'],
    get: method('KVService', 'Get') as Methods['get'],
    status: method('ClusterService', 'Status') as Methods['status'],
  };
}

/** A KvTarget over unary calls to the leader, given every node's gRPC address (as a user's config lists them). */
export function cairnUnaryTarget(endpoints: readonly string[]): KvTarget {
  const methods = loadMethods();
  const clients = new Map<string, grpc.Client>();
  const clientFor = (address: string): grpc.Client => {
    let client = clients.get(address);
    if (client === undefined) clients.set(address, (client = grpcClient(address)));
    return client;
  };
  let leader: Promise<grpc.Client> | undefined;
  const discover = async (): Promise<grpc.Client> => {
    const deadline = Date.now() + DISCOVERY_DEADLINE_MS;
    for (;;) {
      for (const endpoint of endpoints) {
        const status = await unary(clientFor(endpoint), methods.status, {}, STATUS_DEADLINE_MS).catch(() => undefined);
        const address = status?.members.find((m) => m.id === status.leader_id)?.client_address;
        if (status !== undefined && status.leader_id !== '0' && address !== undefined) return clientFor(address);
      }
      if (Date.now() > deadline) throw Object.assign(new Error('no node names a leader'), { code: 'NO_LEADER' });
      await sleep(100);
    }
  };
  /** What `leader` resolved to, to forget it only once when many calls fail on it. */
  let known: grpc.Client | undefined;
  const leaderClient = (): Promise<grpc.Client> =>
    (leader ??= discover().then(
      (client) => (known = client),
      (error: unknown) => {
        leader = undefined; // The next call tries again.
        throw error;
      },
    ));
  /** Calls the leader; after NOT_LEADER, finds the leader again and calls it once more. */
  const call = async <Req>(method: grpc.MethodDefinition<Req, object>, request: Req): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const client = await leaderClient();
      try {
        await unary(client, method, request, REQUEST_DEADLINE_MS);
        return;
      } catch (error) {
        const { code, details = '' } = error as Partial<UnaryError>;
        const notLeader = details.startsWith('NOT_LEADER');
        // A redirect or a lost connection: find the leader again (once, whatever the number of calls in flight).
        if ((notLeader || code === 'UNAVAILABLE') && known === client) {
          leader = undefined;
          known = undefined;
        }
        if (!notLeader || attempt > 0) throw error;
      }
    }
  };
  return {
    system: 'cairn',
    protocol: 'unary',
    describeEndpoint: `one grpc-js channel to the leader (found with ClusterService.Status), proto/ loaded at run time; Put without a write session, linearizable Get`,
    put: (_worker, key, value) => call(methods.put, { key, value }),
    get: (_worker, key) => call(methods.get, { key, consistency: 'CONSISTENCY_LINEARIZABLE' }),
    close: () => clients.forEach((c) => c.close()),
  };
}
