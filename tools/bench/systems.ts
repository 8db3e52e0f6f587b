/** Starting a system under test (a fresh N-node cluster) and getting load targets for it. */
import type { BenchOptions } from './args.js';
import { CairnCluster } from './cairn-cluster.js';
import { EtcdCluster } from './etcd-cluster.js';
import type { Teardown } from './processes.js';
import { systemSpeaks, type HttpTarget, type KvTarget, type Protocol, type SystemName } from './target.js';

export interface SystemUnderTest {
  readonly system: SystemName;
  /** Process ids of every member (for CPU use). */
  readonly memberPids: readonly number[];
  /**
   * A client of `protocol` (not `http`); the caller closes it. `maxWorkers`
   * sizes the Cairn clerk pool (one Clerk per `--workers-per-clerk` workers).
   */
  kvTarget(protocol: Exclude<Protocol, 'http'>, maxWorkers: number): Promise<KvTarget>;
  /** The leader's HTTP listener. */
  httpTarget(): Promise<HttpTarget>;
  /** The current leader's process id (for RSS). */
  leaderPid(): Promise<number>;
  /** The current leader's data dir (for on-disk size). */
  leaderDataDir(): Promise<string>;
  /** Stops the cluster gracefully (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
}

export async function startSystem(system: SystemName, options: BenchOptions, teardown: Teardown): Promise<SystemUnderTest> {
  if (system === 'cairn') {
    const cluster = await CairnCluster.start(
      { size: options.nodes, cpuProfileDir: options.cpuProfileDir, serverArgs: options.serverArgs },
      teardown,
    );
    return {
      system,
      memberPids: cluster.nodes.map((n) => n.process.pid),
      kvTarget: (protocol, maxWorkers) =>
        Promise.resolve(protocol === 'unary' ? cluster.unaryTarget() : cluster.clerkTarget(maxWorkers, options.workersPerClerk, protocol)),
      httpTarget: () => cluster.httpTarget(),
      leaderPid: async () => (await cluster.leader()).process.pid,
      leaderDataDir: async () => (await cluster.leader()).dataDir,
      stop: () => cluster.stop(),
    };
  }
  const cluster = await EtcdCluster.start(options.etcdBinary, options.nodes, teardown);
  return {
    system,
    memberPids: cluster.members.map((m) => m.process.pid),
    kvTarget: (protocol) => {
      if (!systemSpeaks('etcd', protocol)) throw new Error(`etcd has no ${protocol} client`);
      return cluster.target();
    },
    httpTarget: () => cluster.httpTarget(),
    leaderPid: async () => (await cluster.leader()).process.pid,
    leaderDataDir: async () => (await cluster.leader()).dataDir,
    stop: () => cluster.stop(),
  };
}

/**
 * The protocol that writes the keys before the first level (and loads them in
 * RSS mode): the Clerk over the raw link when it is in the run (the fastest
 * loader, and the one RSS figures were always taken with), else unary.
 */
export function loadingProtocol(system: SystemName, protocols: readonly Protocol[]): Exclude<Protocol, 'http'> {
  if (system === 'cairn' && protocols.includes('clerk-raw')) return 'clerk-raw';
  return 'unary';
}
