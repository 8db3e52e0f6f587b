/**
 * A fresh 3-node Cairn cluster of `cairn-server` child processes (run from
 * TypeScript sources, as `npm start` does) on 127.0.0.1 with OS-assigned ports
 * and temp data dirs, and a KvTarget that drives it through @cairn/clerk.
 */
import { join } from 'node:path';
import { Clerk, type ClerkOptions, GrpcTransport } from '@cairn/clerk';
import { launchNode } from '@cairn/kv-server/launch';
import { freePorts, makeTempDir, ManagedProcess, pollUntil, type Teardown } from './processes.js';
import type { KvTarget } from './target.js';

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
  readonly dataDir: string;
  readonly process: ManagedProcess;
}

/** How benchmark clerks reach the nodes: the raw KV link (the clerk's default), the gRPC Pipeline stream, or unary gRPC calls. */
export type ClerkCarrier = 'raw' | 'grpc' | 'unary';
const CARRIER_DESCRIPTIONS: Record<ClerkCarrier, string> = { raw: 'raw KV link', grpc: 'gRPC Pipeline stream', unary: 'unary gRPC calls' };

export class CairnCluster {
  private constructor(
    readonly nodes: readonly CairnNode[],
    private readonly admin: Clerk,
  ) {}

  static async start(options: CairnClusterOptions, teardown: Teardown): Promise<CairnCluster> {
    const root = teardown.removeDirLater(makeTempDir('cairn-bench-'));
    const ports = await freePorts(options.size);
    const peers = ports.map((port, index) => ({ id: index + 1, address: `127.0.0.1:${port}` }));
    const profileFlags = options.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir];
    const nodes = peers.map(({ id, address }): CairnNode => {
      const dataDir = join(root, `node-${id}`);
      const { child } = launchNode({
        id,
        address,
        dataDir,
        peers,
        nodeFlags: profileFlags,
        args: ['--log-level', 'warn', ...options.serverArgs],
      });
      return { id, address, dataDir, process: teardown.track(new ManagedProcess(`cairn node ${id}`, child)) };
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
   * session lane (no worker waits inside the clerk for a lane). `carrier`:
   * how the clerks reach the node (the default is the clerk's own choice).
   */
  target(workers: number, workersPerClerk: number, carrier: ClerkCarrier = 'raw'): KvTarget {
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
    const deps = carrier === 'raw' ? {} : { transport: new GrpcTransport(carrier === 'unary' ? { pipeline: false } : { rawLink: false }) };
    const clerks = Array.from({ length: Math.ceil(workers / workersPerClerk) }, () => Clerk.lazy(clerkOptions, deps));
    const clerkOf = (worker: number): Clerk => clerks[Math.floor(worker / workersPerClerk)]!;
    return {
      system: 'cairn',
      describeEndpoint: `${clerks.length} Clerk(s) × ${workersPerClerk} workers, writesInflightMax=${workersPerClerk}, ${CARRIER_DESCRIPTIONS[carrier]}; clerk follows NOT_LEADER to the leader`,
      put: async (worker, key, value) => {
        await clerkOf(worker).put(key, value);
      },
      get: async (worker, key) => {
        await clerkOf(worker).get(key);
      },
      leaderPid: async () => (await this.leader()).process.pid,
      leaderDataDir: async () => (await this.leader()).dataDir,
      close: () => clerks.forEach((c) => c.close()),
    };
  }

  /** SIGTERM every node (graceful: CPU profiles are written on exit). */
  async stop(): Promise<void> {
    this.admin.close();
    await Promise.all(this.nodes.map((n) => n.process.stop()));
  }
}
