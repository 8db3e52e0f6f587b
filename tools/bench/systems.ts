/** Starting a system under test (a fresh 3-node cluster) and getting a load target for it. */
import type { BenchOptions } from './args.js';
import { CairnCluster } from './cairn-cluster.js';
import { EtcdCluster } from './etcd-cluster.js';
import type { Teardown } from './processes.js';
import type { KvTarget, SystemName } from './target.js';

export const CLUSTER_SIZE = 3;

export interface SystemUnderTest {
  readonly system: SystemName;
  readonly target: KvTarget;
  /** Process ids of every member (for CPU use). */
  readonly memberPids: readonly number[];
  /** Stops the cluster gracefully (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
}

/** `maxWorkers` sizes the Cairn clerk pool (one Clerk per `workersPerClerk` workers). */
export async function startSystem(
  system: SystemName,
  options: BenchOptions,
  maxWorkers: number,
  teardown: Teardown,
): Promise<SystemUnderTest> {
  if (system === 'cairn') {
    const cluster = await CairnCluster.start(
      { size: CLUSTER_SIZE, cpuProfileDir: options.cpuProfileDir, serverArgs: options.serverArgs },
      teardown,
    );
    const target = cluster.target(maxWorkers, options.workersPerClerk, options.clerkCarrier);
    return {
      system,
      target,
      memberPids: cluster.nodes.map((n) => n.process.pid),
      stop: async () => {
        target.close();
        await cluster.stop();
      },
    };
  }
  const cluster = await EtcdCluster.start(options.etcdBinary, CLUSTER_SIZE, teardown);
  const target = await cluster.target();
  return {
    system,
    target,
    memberPids: cluster.members.map((m) => m.process.pid),
    stop: async () => {
      target.close();
      await cluster.stop();
    },
  };
}
