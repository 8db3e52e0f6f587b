/**
 * `@cairn/raft-core/testing`: a deterministic simulator for RawNode clusters
 * (TigerBeetle's VOPR is the model) plus Raft safety checkers.
 *
 * ### Usage
 * ```ts
 * const cluster = SimCluster.create(0x1f3an, { size: 3 });
 * cluster.runUntil(() => cluster.leader() !== undefined, 100);
 * cluster.propose();
 * awaitConvergence(cluster, 200); // throws SimViolationError on any violation
 * ```
 * Random runs: `runSeed(seed)` draws the options from the seed (swarm testing).
 */
export { EventQueue } from './event-queue.js';
export { SimNetwork, RELIABLE_NETWORK } from './sim-network.js';
export type { SimNetworkOptions, SimNetworkStats, PartitionMode, PartitionSymmetry } from './sim-network.js';
export { SimStorage } from './sim-storage.js';
export { SimStateMachine } from './sim-state-machine.js';
export { SimCluster } from './sim-cluster.js';
export type { SimClusterOptions, SimClusterStats, SimRaftOptions, ProposeOutcome, TickHook } from './sim-cluster.js';
export { SafetyChecker, SimViolationError, check, entryContent, dataText } from './checkers.js';
export type { ViolationCode, AppliedValue } from './checkers.js';
export { awaitConvergence, checkFinalState } from './liveness.js';
export type { ConvergenceResult } from './liveness.js';
export { runSeed, drawSwarmOptions, formatSeed, parseSeed, parseSeedList, replayCommand } from './swarm.js';
export { waitForLeader, commitValue, retryUntil } from './helpers.js';
export type { SwarmOptions, SeedResult } from './swarm.js';
