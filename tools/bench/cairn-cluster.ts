/**
 * A fresh N-node Cairn cluster of `cairn-server` child processes (started as
 * `launchNode` starts them, as `npm start` does) on 127.0.0.1 with OS-assigned
 * ports (gRPC and HTTP) and temp data dirs; KvTargets that drive it through
 * @cairn/clerk or as a neutral gRPC client, and an HttpTarget for `/kv/<key>`.
 */
import { join } from 'node:path';
import { Clerk, type ClerkOptions, GrpcTransport } from '@cairn/clerk';
import { launchNode } from '@cairn/kv-server/launch';
import { cairnUnaryTarget } from './cairn-unary.js';
import { freePorts, makeTempDir, ManagedProcess, pollUntil, type Teardown } from './processes.js';
import type { HttpTarget, KvTarget, Protocol } from './target.js';

const START_DEADLINE_MS = 60_000;

export interface CairnClusterOptions {
  readonly size: number;
  /** When set, nodes run with `--cpu-prof --cpu-prof-dir <dir>` (profiles are written on graceful exit). */
  readonly cpuProfileDir: string | undefined;
  /** Extra `cairn-server` flags (e.g. `--tick-ms 50`). */
  readonly serverArgs: readonly string[];
}

export interface CairnNode {
  readonly id: number;
  readonly address: string;
  /** The `--client-addr` HTTP listener. */
  readonly httpAddress: string;
  readonly dataDir: string;
  readonly process: ManagedProcess;
}

/** How benchmark clerks reach the nodes: the raw KV link (the clerk's default), the gRPC Pipeline stream, or unary gRPC calls. */
export type ClerkProtocol = Extract<Protocol, `clerk-${string}`>;
const CLERK_DESCRIPTIONS: Record<ClerkProtocol, string> = {
  'clerk-raw': 'raw KV link',
  'clerk-grpc': 'gRPC Pipeline stream',
  'clerk-unary': 'unary gRPC calls',
};

export class CairnCluster {
  private constructor(
    readonly nodes: readonly CairnNode[],
    private readonly admin: Clerk,
  ) {}

  static async start(options: CairnClusterOptions, teardown: Teardown): Promise<CairnCluster> {
    const root = teardown.removeDirLater(makeTempDir('cairn-bench-'));
    const ports = await freePorts(options.size * 2);
    const peers = ports.slice(0, options.size).map((port, index) => ({ id: index + 1, address: `127.0.0.1:${port}` }));
    const profileFlags = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir];
    const nodes = peers.map(({ id, address }): CairnNode => {
      const dataDir = join(root, `node-${id}`);
      const httpAddress = `127.0.0.1:${ports[options.size + id - 1]}`;
      const { child } = launchNode({
        id,
        address,
        clientAddress: httpAddress,
        dataDir,
        peers,
        nodeFlags: profileFlags,
        args: ['--log-level', 'warn', ...options.serverArgs],
      });
      return { id, address, httpAddress, dataDir, process: teardown.track(new ManagedProcess(`cairn node ${id}`, child)) };
    });
    const admin = Clerk.lazy({ endpoints: nodes.map((n) => n.address), membersRefreshMs: 0, requestTimeoutMs: 1_000 });
    teardown.add(() => admin.close());
    const cluster = new CairnCluster(nodes, admin);
    await cluster.leader();
    return cluster;
  }

  /** Waits until a majority of nodes name the same leader, which calls itself leader. */
  async leader(): Promise<CairnNode> {
    return pollUntil(
      async () => {
        const statuses = await Promise.all(
          this.nodes.map((n) => this.admin.status({ endpoint: n.address, deadlineMs: 1_000 }).catch(() => undefined)),
        );
        const leaderStatus = statuses.find((s) => s?.role === 'leader');
        if (leaderStatus === undefined) return undefined;
        const agreeing = statuses.filter((s) => s?.leaderId === leaderStatus.id).length;
        if (agreeing * 2 <= this.nodes.length) return undefined;
        return this.nodes.find((n) => n.id === leaderStatus.id);
      },
      { deadlineMs: START_DEADLINE_MS, what: 'a Cairn leader', failFast: () => this.describeDeadNode() },
    );
  }

  private describeDeadNode(): string | undefined {
    const dead = this.nodes.find((n) => !n.process.running);
    return dead === undefined ? undefined : `${dead.process.name} exited: ${dead.process.describeOutput() || '(no output)'}`;
  }

  /** Number of keys the leader reports (Status.keys). */
  async keyCount(): Promise<number> {
    const leader = await this.leader();
    return (await this.admin.status({ endpoint: leader.address })).keys;
  }

  /**
   * A target with one Clerk per `workersPerClerk` workers. Each clerk gets
   * `writesInflightMax = workersPerClerk`, so every worker always has a free
   * session lane (no worker waits inside the clerk for a lane). `protocol`:
   * how the clerks reach the node (clerk-raw is the clerk's own choice).
   */
  clerkTarget(workers: number, workersPerClerk: number, protocol: ClerkProtocol): KvTarget {
    const endpoints = this.nodes.map((n) => n.address);
    const clerkOptions: ClerkOptions = {
      endpoints,
      writesInflightMax: workersPerClerk,
      // A whole-call deadline well above the worst expected latency, so slowness shows as latency, not as errors.
      deadlineMs: 30_000,
      requestTimeoutMs: 10_000,
      // No background Members polling: only the workload's requests reach the server.
      membersRefreshMs: 0,
    };
    const deps =
      protocol === 'clerk-raw'
        ? {}
        : { transport: new GrpcTransport(protocol === 'clerk-unary' ? { pipeline: false } : { rawLink: false }) };
    const clerks = Array.from({ length: Math.ceil(workers / workersPerClerk) }, () => Clerk.lazy(clerkOptions, deps));
    const clerkOf = (worker: number): Clerk => clerks[Math.floor(worker / workersPerClerk)]!;
    return {
      system: 'cairn',
      protocol,
      describeEndpoint: `${clerks.length} Clerk(s) × ${workersPerClerk} workers, writesInflightMax=${workersPerClerk}, ${CLERK_DESCRIPTIONS[protocol]}; clerk follows NOT_LEADER to the leader`,
      put: async (worker, key, value) => {
        await clerkOf(worker).put(key, value);
      },
      get: async (worker, key) => {
        await clerkOf(worker).get(key);
      },
      close: () => clerks.forEach((c) => c.close()),
    };
  }

  /** The neutral gRPC client (cairn-unary.ts), given every node's address. */
  unaryTarget(): KvTarget {
    return cairnUnaryTarget(this.nodes.map((n) => n.address));
  }

  /** `PUT /kv/<key>` (the body is the value) and `GET /kv/<key>` (linearizable by default) on the leader's HTTP listener. */
  async httpTarget(): Promise<HttpTarget> {
    const leader = await this.leader();
    const path = (key: Buffer): string => `/kv/${encodeURIComponent(key.toString('latin1'))}`;
    return {
      system: 'cairn',
      url: `http://${leader.httpAddress}`,
      describeEndpoint: `the leader's --client-addr (node ${leader.id}, http://${leader.httpAddress}/kv/<key>)`,
      put: (key, value) => ({ method: 'PUT', path: path(key), headers: { 'content-type': 'application/octet-stream' }, body: value }),
      get: (key) => ({ method: 'GET', path: path(key), headers: {} }),
    };
  }

  /** SIGTERM every node (graceful: CPU profiles are written on exit). */
  async stop(): Promise<void> {
    this.admin.close();
    await Promise.all(this.nodes.map((n) => n.process.stop()));
  }
}
