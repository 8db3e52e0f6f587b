// Goal: leader election claims from the Raft paper (§5.2) and the 6.824 lab
// list (2A), each as a named deterministic scenario.
// Method: a seeded SimCluster on a reliable network; faults are injected by
// hand (crash, partition); the SafetyChecker watches every run, so any
// election-safety violation throws even when the claim under test holds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, awaitConvergence, waitForLeader } from '../src/testing/index.js';
import type { NodeId } from '../src/types.js';

const ELECTION_TICKS = 10;

function otherThan(cluster: SimCluster, excluded: readonly NodeId[]): NodeId[] {
  return cluster.nodeIds().filter((id) => !excluded.includes(id));
}

describe('election (Raft §5.2, 6.824 2A)', () => {
  test('initial election: a 3-node cluster elects one leader that every node follows', () => {
    const cluster = SimCluster.create(0x2a01n, { size: 3 });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    cluster.runTicks(2 * ELECTION_TICKS);
    for (const id of cluster.nodeIds()) {
      assert.equal(cluster.status(id)!.leaderId, leader, `node ${id} follows the leader`);
    }
  });

  test('initial election: with no failures the term stays the same', () => {
    const cluster = SimCluster.create(0x2a02n, { size: 3 });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    const term = cluster.status(leader)!.term;
    cluster.runTicks(10 * ELECTION_TICKS);
    assert.equal(cluster.leader(), leader);
    assert.equal(cluster.status(leader)!.term, term);
  });

  test('re-election: a new leader is elected after the leader crashes', () => {
    const cluster = SimCluster.create(0x2a03n, { size: 3 });
    const first = waitForLeader(cluster, 4 * ELECTION_TICKS);
    cluster.crash(first);
    const second = waitForLeader(cluster, 6 * ELECTION_TICKS);
    assert.notEqual(second, first);
    assert.ok(cluster.status(second)!.term > 1);
  });

  test('re-election: a rejoining old leader does not disturb the new leader', () => {
    const cluster = SimCluster.create(0x2a04n, { size: 3 });
    const first = waitForLeader(cluster, 4 * ELECTION_TICKS);
    cluster.network.partition([first], otherThan(cluster, [first]));
    cluster.runUntil(() => cluster.leader() !== undefined && cluster.leader() !== first, 6 * ELECTION_TICKS);
    const second = cluster.leader()!;
    assert.notEqual(second, first);
    cluster.network.healPartitions();
    cluster.runTicks(4 * ELECTION_TICKS);
    assert.equal(cluster.leader(), second, 'the old leader steps down and follows');
    assert.equal(cluster.status(first)!.role, 'follower');
  });

  test('re-election: no leader without a quorum, and one again once a quorum is back', () => {
    const cluster = SimCluster.create(0x2a05n, { size: 3 });
    const first = waitForLeader(cluster, 4 * ELECTION_TICKS);
    const [a, b] = otherThan(cluster, [first]);
    cluster.crash(first);
    cluster.crash(a!);
    cluster.runTicks(6 * ELECTION_TICKS);
    assert.equal(cluster.leader(), undefined, 'one of three nodes cannot elect itself');
    cluster.restart(a!);
    const leader = waitForLeader(cluster, 6 * ELECTION_TICKS);
    assert.ok(leader === a || leader === b);
  });

  test('many elections: 7 nodes, repeatedly crashing 3, always re-elect exactly one leader', () => {
    const cluster = SimCluster.create(0x2a06n, { size: 7 });
    waitForLeader(cluster, 4 * ELECTION_TICKS);
    for (let round = 0; round < 10; round++) {
      const ids = cluster.nodeIds();
      const victims = [ids[(round * 3) % 7]!, ids[(round * 3 + 1) % 7]!, ids[(round * 3 + 5) % 7]!];
      for (const id of victims) cluster.crash(id);
      waitForLeader(cluster, 8 * ELECTION_TICKS);
      for (const id of victims) cluster.restart(id);
    }
    assert.ok(cluster.checker.leadersObserved >= 2, 'leadership changed hands');
    awaitConvergence(cluster, 20 * ELECTION_TICKS);
  });

  test('pre-vote: a partitioned follower does not inflate its term and disrupt the leader on return', () => {
    const cluster = SimCluster.create(0x2a07n, { size: 3, raft: { preVote: true, checkQuorum: true } });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    const term = cluster.status(leader)!.term;
    const [lonely] = otherThan(cluster, [leader]);
    cluster.network.partition([lonely!], otherThan(cluster, [lonely!]));
    cluster.runTicks(10 * ELECTION_TICKS);
    assert.equal(cluster.status(lonely!)!.term, term, 'pre-votes fail, so the term stays');
    cluster.network.healPartitions();
    cluster.runTicks(4 * ELECTION_TICKS);
    assert.equal(cluster.leader(), leader);
    assert.equal(cluster.status(leader)!.term, term);
  });

  test('check-quorum: a leader cut off from the majority steps down', () => {
    const cluster = SimCluster.create(0x2a08n, { size: 3, raft: { checkQuorum: true } });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    cluster.network.partition([leader], otherThan(cluster, [leader]));
    cluster.runTicks(4 * ELECTION_TICKS);
    assert.notEqual(cluster.status(leader)!.role, 'leader');
  });
});
