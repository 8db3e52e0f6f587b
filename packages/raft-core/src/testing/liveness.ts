import type { NodeId } from '../types.js';
import { check } from './checkers.js';
import type { SimCluster } from './sim-cluster.js';

export interface ConvergenceResult {
  /** Ticks from the call until convergence. */
  ticks: number;
  leader: NodeId;
  members: NodeId[];
}

/**
 * Liveness after the faults heal: within `ticksConvergenceMax` a leader
 * emerges, a fresh probe command commits, and every member has applied it and
 * every acknowledged command. Throws a LIVENESS violation otherwise; then runs
 * the end-of-run safety checks (log matching, durability).
 */
export function awaitConvergence(cluster: SimCluster, ticksConvergenceMax: number): ConvergenceResult {
  const start = cluster.ticks;
  let probe: string | undefined;
  let probeProposedAt = -Infinity;
  const retryTicks = 20;
  const converged = (): boolean => {
    const leader = cluster.leader();
    if (leader === undefined) return false;
    const probeIndex = probe === undefined ? undefined : cluster.checker.ackIndexOf(probe);
    if (probeIndex === undefined) {
      // Re-propose on the current leader if the last probe may have been lost.
      if (cluster.ticks - probeProposedAt >= retryTicks) {
        const outcome = cluster.propose(leader, 'probe');
        if (outcome.result.ok) {
          probe = outcome.value;
          probeProposedAt = cluster.ticks;
        }
      }
      return false;
    }
    const needed = Math.max(probeIndex, cluster.checker.ackedIndexMax);
    return cluster.members().every((id) => cluster.isUp(id) && cluster.appliedIndex(id) >= needed);
  };
  const ok = cluster.runUntil(converged, ticksConvergenceMax);
  check(ok, 'LIVENESS', () => describeStuck(cluster, ticksConvergenceMax, probe));
  const leader = cluster.leader()!;
  const members = cluster.members();
  checkFinalState(cluster, members);
  return { ticks: cluster.ticks - start, leader, members };
}

/** End-of-run safety: full pairwise log matching and durability on every member. */
export function checkFinalState(cluster: SimCluster, members: readonly NodeId[]): void {
  const up = cluster.nodeIds().filter((id) => cluster.isUp(id));
  cluster.checker.checkLogMatching(new Map(up.map((id) => [id, cluster.log(id)])));
  cluster.checker.checkDurability(new Map(members.map((id) => [id, cluster.appliedValues(id)])));
}

function describeStuck(cluster: SimCluster, ticksMax: number, probe: string | undefined): string {
  const nodes = cluster.nodeIds().map((id) => {
    const status = cluster.status(id);
    if (status === undefined) return `${id}:${cluster.isRemoved(id) ? 'removed' : 'down'}`;
    return `${id}:${status.role}@${status.term} commit=${status.commitIndex} applied=${cluster.appliedIndex(id)}`;
  });
  return `no convergence within ${ticksMax} ticks after healing (probe ${probe ?? 'never accepted'}); ${nodes.join(', ')}`;
}
