import type { NodeId } from '../types.js';
import { check } from './checkers.js';
import type { SimCluster } from './sim-cluster.js';

/** Runs until some node leads (or throws LIVENESS after `ticksMax`); returns its id. */
export function waitForLeader(cluster: SimCluster, ticksMax: number): NodeId {
  const ok = cluster.runUntil(() => cluster.leader() !== undefined, ticksMax);
  check(ok, 'LIVENESS', () => `no leader within ${ticksMax} ticks`);
  return cluster.leader()!;
}

/**
 * Proposes a fresh command on the leader (re-proposing a new one if a leader
 * change loses it) until one is acknowledged; returns the value and its index.
 */
export function commitValue(cluster: SimCluster, ticksMax: number, retryTicks = 30): { value: string; index: number } {
  let value: string | undefined;
  let proposedAt = -Infinity;
  const ok = cluster.runUntil(() => {
    if (value !== undefined && cluster.checker.ackIndexOf(value) !== undefined) return true;
    const leader = cluster.leader();
    if (leader !== undefined && cluster.ticks - proposedAt >= retryTicks) {
      const outcome = cluster.propose(leader);
      if (outcome.result.ok) {
        value = outcome.value;
        proposedAt = cluster.ticks;
      }
    }
    return false;
  }, ticksMax);
  check(ok && value !== undefined, 'LIVENESS', () => `no command committed within ${ticksMax} ticks`);
  return { value, index: cluster.checker.ackIndexOf(value)! };
}

/**
 * Runs until `done()` holds, calling `attempt()` at once and then every
 * `retryTicks` while it does not (e.g. re-proposing a conf change that a
 * leader change lost). Returns whether `done()` held within `ticksMax`.
 */
export function retryUntil(cluster: SimCluster, done: () => boolean, attempt: () => void, ticksMax: number, retryTicks = 20): boolean {
  let attemptedAt = -Infinity;
  return cluster.runUntil(() => {
    if (done()) return true;
    if (cluster.ticks - attemptedAt >= retryTicks) {
      attempt();
      attemptedAt = cluster.ticks;
    }
    return false;
  }, ticksMax);
}
