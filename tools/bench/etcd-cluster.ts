/**
 * A fresh N-member etcd cluster on loopback (temp data dirs, default fsync,
 * `--initial-cluster`, free ports), a KvTarget that speaks etcd's v3 gRPC API
 * directly with @grpc/grpc-js, and an HttpTarget for its gRPC gateway (JSON
 * over HTTP/1.1 on the same client port). Requests go to the member that
 * Maintenance.Status names as leader, as the Cairn clients go to the Cairn leader.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { loadEtcdMethods, type EtcdMethods, type EtcdStatusResponse } from './etcd-proto.js';
import { freePorts, makeTempDir, pollUntil, spawnManaged, type ManagedProcess, type Teardown } from './processes.js';
import { grpcClient, unary } from './grpc-unary.js';
import type { HttpRequestSpec, HttpTarget, KvTarget } from './target.js';

const START_DEADLINE_MS = 30_000;
const STATUS_TIMEOUT_MS = 1_000;
/** Per-request gRPC deadline, the same as the Cairn clerk's whole-call deadline. */
const REQUEST_DEADLINE_MS = 30_000;

export const DEFAULT_ETCD_BINARY = '/usr/bin/etcd';

export function etcdAvailable(binary: string): boolean {
  return existsSync(binary);
}

export interface EtcdMember {
  readonly name: string;
  readonly clientAddress: string;
  readonly dataDir: string;
  readonly process: ManagedProcess;
  readonly client: grpc.Client;
}

export class EtcdCluster {
  private readonly methods: EtcdMethods = loadEtcdMethods();

  private constructor(readonly members: readonly EtcdMember[]) {}

  static async start(binary: string, size: number, teardown: Teardown): Promise<EtcdCluster> {
    const root = teardown.removeDirLater(makeTempDir('etcd-bench-'));
    const ports = await freePorts(size * 2);
    const peerUrl = (i: number): string => `http://127.0.0.1:${ports[2 * i + 1]}`;
    const initialCluster = Array.from({ length: size }, (_, i) => `m${i + 1}=${peerUrl(i)}`).join(',');
    const token = `cairn-bench-${process.pid}-${Date.now()}`;
    const members = Array.from({ length: size }, (_, i): EtcdMember => {
      const name = `m${i + 1}`;
      const clientUrl = `http://127.0.0.1:${ports[2 * i]}`;
      const dataDir = join(root, name);
      const args = [
        '--name',
        name,
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        clientUrl,
        '--advertise-client-urls',
        clientUrl,
        '--listen-peer-urls',
        peerUrl(i),
        '--initial-advertise-peer-urls',
        peerUrl(i),
        '--initial-cluster',
        initialCluster,
        '--initial-cluster-state',
        'new',
        '--initial-cluster-token',
        token,
        '--logger',
        'zap',
        '--log-level',
        'warn',
      ];
      const client = grpcClient(`127.0.0.1:${ports[2 * i]}`);
      teardown.add(() => client.close());
      return { name, clientAddress: clientUrl, dataDir, client, process: teardown.track(spawnManaged(`etcd ${name}`, binary, args)) };
    });
    const cluster = new EtcdCluster(members);
    await cluster.leader();
    return cluster;
  }

  /** The member whose own id is the leader id it reports, once a majority agree on it. */
  async leader(): Promise<EtcdMember> {
    return pollUntil(
      async () => {
        const statuses = await Promise.all(this.members.map((m) => this.status(m).catch(() => undefined)));
        const leaderId = statuses.find((s) => s !== undefined && s.leader !== '0')?.leader;
        if (leaderId === undefined) return undefined;
        if (statuses.filter((s) => s?.leader === leaderId).length * 2 <= this.members.length) return undefined;
        const index = statuses.findIndex((s) => s?.header.member_id === leaderId);
        return index >= 0 ? this.members[index] : undefined;
      },
      { deadlineMs: START_DEADLINE_MS, what: 'an etcd leader', failFast: () => this.describeDeadMember() },
    );
  }

  private describeDeadMember(): string | undefined {
    const dead = this.members.find((m) => !m.process.running);
    return dead === undefined ? undefined : `${dead.process.name} exited: ${dead.process.describeOutput() || '(no output)'}`;
  }

  private status(member: EtcdMember): Promise<EtcdStatusResponse> {
    return unary(member.client, this.methods.status, {}, STATUS_TIMEOUT_MS);
  }

  /**
   * A target on one gRPC channel to the leader (grpc-js shares one HTTP/2
   * connection per address anyway). If leadership moves during a run, the
   * old leader forwards (etcd proxies proposals and ReadIndex to the leader).
   */
  async target(): Promise<KvTarget> {
    const leader = await this.leader();
    const { put, range } = this.methods;
    return {
      system: 'etcd',
      protocol: 'unary',
      describeEndpoint: `one grpc-js channel to the leader ${leader.name} (${leader.clientAddress})`,
      put: async (_worker, key, value) => {
        await unary(leader.client, put, { key, value }, REQUEST_DEADLINE_MS);
      },
      get: async (_worker, key) => {
        await unary(leader.client, range, { key, serializable: false }, REQUEST_DEADLINE_MS);
      },
      close: () => undefined, // The member clients are closed by the teardown.
    };
  }

  /**
   * etcd's gRPC gateway on the leader's client URL: `POST /v3/kv/put` and
   * `POST /v3/kv/range` with JSON bodies whose bytes fields are base64, as
   * etcd's docs show with curl. A range without `serializable` is linearizable.
   */
  async httpTarget(): Promise<HttpTarget> {
    const leader = await this.leader();
    const json = { 'content-type': 'application/json' };
    let lastValue: { value: Buffer; base64: string } | undefined;
    const base64Of = (value: Buffer): string => {
      if (lastValue?.value !== value) lastValue = { value, base64: value.toString('base64') };
      return lastValue.base64;
    };
    return {
      system: 'etcd',
      url: leader.clientAddress,
      describeEndpoint: `etcd's gRPC gateway on the leader ${leader.name} (${leader.clientAddress}/v3/kv/put, /v3/kv/range)`,
      put: (key, value): HttpRequestSpec => ({
        method: 'POST',
        path: '/v3/kv/put',
        headers: json,
        body: Buffer.from(`{"key":"${key.toString('base64')}","value":"${base64Of(value)}"}`),
      }),
      get: (key): HttpRequestSpec => ({
        method: 'POST',
        path: '/v3/kv/range',
        headers: json,
        body: Buffer.from(`{"key":"${key.toString('base64')}"}`),
      }),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => m.process.stop()));
  }
}
