// Goal: log replication and persistence claims from the Raft paper (§5.3,
// §5.4, Figure 8) and the 6.824 lab list (2B, 2C), as named scenarios.
// Method: a seeded SimCluster; each scenario injects its faults by hand and
// asserts its claim; the SafetyChecker watches every step (log matching,
// leader completeness, state machine safety), and awaitConvergence() ends
// each scenario by checking liveness and durability of acknowledged commands.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, awaitConvergence, commitValue, waitForLeader } from '../src/testing/index.js';
import type { NodeId } from '../src/types.js';

const ELECTION_TICKS = 10;

function otherThan(cluster: SimCluster, excluded: readonly NodeId[]): NodeId[] {
  return cluster.nodeIds().filter((id) => !excluded.includes(id));
}

describe('agreement (6.824 2B)', () => {
  test('basic agreement: a committed command is applied on every node at the same index', () => {
    const cluster = SimCluster.create(0x2b01n, { size: 3 });
    waitForLeader(cluster, 4 * ELECTION_TICKS);
    const { value, index } = commitValue(cluster, 4 * ELECTION_TICKS);
    cluster.runUntil(() => cluster.isAppliedOn(value, cluster.nodeIds()), 2 * ELECTION_TICKS);
    for (const id of cluster.nodeIds()) {
      assert.deepEqual(cluster.appliedValues(id).at(-1), [index, value]);
    }
  });

  test('with broadcastCommit off, followers learn the commit index from the next heartbeat and apply', () => {
    const cluster = SimCluster.create(0x2b05n, { size: 3, raft: { broadcastCommit: false } });
    waitForLeader(cluster, 4 * ELECTION_TICKS);
    const { value, index } = commitValue(cluster, 4 * ELECTION_TICKS);
    // One heartbeat interval (heartbeatTicks = 1) plus delivery is enough.
    assert.ok(cluster.runUntil(() => cluster.isAppliedOn(value, cluster.nodeIds()), 2));
    for (const id of cluster.nodeIds()) assert.deepEqual(cluster.appliedValues(id).at(-1), [index, value]);
  });

  test('agreement despite a follower failure, and catch-up after it restarts', () => {
    const cluster = SimCluster.create(0x2b02n, { size: 3 });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    const [follower] = otherThan(cluster, [leader]);
    cluster.crash(follower!);
    for (let i = 0; i < 5; i++) commitValue(cluster, 4 * ELECTION_TICKS);
    cluster.restart(follower!);
    const { value } = commitValue(cluster, 4 * ELECTION_TICKS);
    assert.ok(cluster.runUntil(() => cluster.isAppliedOn(value, [follower!]), 4 * ELECTION_TICKS));
    assert.equal(cluster.appliedValues(follower!).length, 6);
  });

  test('fail-no-agree: with 3 of 5 followers down, a proposal does not commit until they return', () => {
    const cluster = SimCluster.create(0x2b03n, { size: 5, raft: { checkQuorum: false } });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    commitValue(cluster, 4 * ELECTION_TICKS);
    const down = otherThan(cluster, [leader]).slice(0, 3);
    for (const id of down) cluster.crash(id);
    const outcome = cluster.propose(leader);
    assert.ok(outcome.result.ok);
    cluster.runTicks(5 * ELECTION_TICKS);
    assert.equal(cluster.checker.ackIndexOf(outcome.value), undefined, 'no majority, no commit');
    assert.ok(!cluster.isAppliedOn(outcome.value, [leader]));
    for (const id of down) cluster.restart(id);
    awaitConvergence(cluster, 20 * ELECTION_TICKS);
  });

  test("rejoin: a partitioned leader's uncommitted entries are discarded when it rejoins", () => {
    const cluster = SimCluster.create(0x2b04n, { size: 3 });
    const oldLeader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    commitValue(cluster, 4 * ELECTION_TICKS);
    cluster.network.partition([oldLeader], otherThan(cluster, [oldLeader]));
    const lost = [cluster.propose(oldLeader), cluster.propose(oldLeader), cluster.propose(oldLeader)];
    cluster.runUntil(() => cluster.leader() !== undefined && cluster.leader() !== oldLeader, 6 * ELECTION_TICKS);
    const { value } = commitValue(cluster, 4 * ELECTION_TICKS);
    cluster.network.healPartitions();
    assert.ok(cluster.runUntil(() => cluster.isAppliedOn(value, cluster.nodeIds()), 6 * ELECTION_TICKS));
    for (const outcome of lost) assert.ok(!cluster.isAppliedOn(outcome.value, [oldLeader]), 'never applied');
    awaitConvergence(cluster, 20 * ELECTION_TICKS);
  });

  test('backup: a leader quickly overwrites many conflicting entries on a lagging follower', () => {
    const cluster = SimCluster.create(0x2b05n, { size: 5, raft: { maxSizePerMsgBytes: 1024 } });
    const first = waitForLeader(cluster, 4 * ELECTION_TICKS);
    commitValue(cluster, 4 * ELECTION_TICKS);
    // The leader and one follower get 50 entries that can never commit.
    const [partner, ...rest] = otherThan(cluster, [first]);
    cluster.network.partition([first, partner!], rest);
    for (let i = 0; i < 50; i++) cluster.propose(first);
    cluster.runTicks(2 * ELECTION_TICKS);
    // The other three elect a leader and commit 50 different entries.
    cluster.network.healPartitions();
    cluster.network.partition(rest, [first, partner!]);
    cluster.runUntil(() => rest.includes(cluster.leader()!), 8 * ELECTION_TICKS);
    const second = cluster.leader()!;
    for (let i = 0; i < 50; i++) cluster.propose(second);
    cluster.runTicks(3 * ELECTION_TICKS);
    // Everyone reconnects; the stale pair must adopt the new log.
    cluster.network.healPartitions();
    const result = awaitConvergence(cluster, 30 * ELECTION_TICKS);
    assert.ok(result.ticks < 30 * ELECTION_TICKS);
    assert.equal(cluster.appliedIndex(first), cluster.appliedIndex(second));
    assert.ok(cluster.checker.ackedCount >= 50);
  });
});

describe('persistence (6.824 2C)', () => {
  test('all nodes crash and restart: every acknowledged command survives', () => {
    const cluster = SimCluster.create(0x2c01n, { size: 3, fsyncDelayMaxInstants: 4 });
    waitForLeader(cluster, 4 * ELECTION_TICKS);
    for (let i = 0; i < 10; i++) commitValue(cluster, 4 * ELECTION_TICKS);
    const acked = cluster.checker.ackedCount;
    for (const id of cluster.nodeIds()) cluster.crash(id);
    cluster.network.dropAllInFlight();
    for (const id of cluster.nodeIds()) cluster.restart(id);
    waitForLeader(cluster, 6 * ELECTION_TICKS);
    commitValue(cluster, 6 * ELECTION_TICKS);
    awaitConvergence(cluster, 20 * ELECTION_TICKS);
    // awaitConvergence() already checked every acknowledged command is on every node.
    assert.ok(cluster.checker.ackedCount > acked, 'a command committed after the restart');
    for (const id of cluster.nodeIds()) assert.ok(cluster.appliedValues(id).length > acked);
  });

  test('crashes before fsync lose only unacknowledged writes', () => {
    const cluster = SimCluster.create(0x2c02n, { size: 3, fsyncDelayMaxInstants: 10 });
    waitForLeader(cluster, 4 * ELECTION_TICKS);
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 3; i++) cluster.propose();
      cluster.runTicks(1);
      const victim = cluster.nodeIds()[round % 3]!;
      cluster.crash(victim);
      cluster.runTicks(ELECTION_TICKS);
      cluster.restart(victim);
      cluster.runTicks(2 * ELECTION_TICKS);
    }
    awaitConvergence(cluster, 30 * ELECTION_TICKS);
    assert.ok(cluster.checker.ackedCount > 0);
  });
});

describe('Figure 8 (Raft §5.4.2)', () => {
  for (const unreliable of [false, true]) {
    test(`leaders crash right after proposing; no committed entry is ever lost${unreliable ? ' (unreliable network)' : ''}`, () => {
      const cluster = SimCluster.create(unreliable ? 0x2c04n : 0x2c03n, {
        size: 5,
        fsyncDelayMaxInstants: 3,
        network: unreliable ? { lossProbability: 0.1, duplicateProbability: 0.05, reorder: true, pathDelayMaxInstants: 20 } : {},
      });
      const rng = cluster.rng;
      for (let round = 0; round < 40; round++) {
        cluster.runUntil(() => cluster.leader() !== undefined, 5 * ELECTION_TICKS);
        const leader = cluster.leader();
        if (leader !== undefined) cluster.propose(leader);
        // Crash the leader soon (sometimes before its entry reaches anyone).
        cluster.runTicks(rng.float() < 0.1 ? ELECTION_TICKS : 1 + rng.intBelow(3));
        if (leader !== undefined && cluster.isUp(leader)) cluster.crash(leader);
        const down = cluster.nodeIds().filter((id) => !cluster.isUp(id));
        if (down.length > 0 && cluster.upNodeIds().length < 3) cluster.restart(down[rng.intBelow(down.length)]!);
        cluster.runTicks(2);
      }
      cluster.heal();
      const result = awaitConvergence(cluster, 40 * ELECTION_TICKS);
      assert.equal(result.members.length, 5);
      assert.ok(cluster.checker.leadersObserved >= 10, 'many leaders came and went');
    });
  }

  test('unreliable churn: random crashes, partitions and loss under load still converge', () => {
    const cluster = SimCluster.create(0x2c05n, {
      size: 5,
      fsyncDelayMaxInstants: 5,
      network: {
        lossProbability: 0.05,
        duplicateProbability: 0.05,
        reorder: true,
        partitionMode: 'uniform-size',
        partitionProbability: 0.05,
        unpartitionProbability: 0.1,
        partitionStabilityTicks: 10,
        unpartitionStabilityTicks: 10,
      },
    });
    const rng = cluster.rng;
    cluster.onTick(() => {
      if (rng.float() < 0.5) cluster.propose();
      if (cluster.ticks > 400) return;
      if (rng.float() < 0.02) cluster.crash(cluster.nodeIds()[rng.intBelow(5)]!);
      for (const id of cluster.nodeIds()) if (!cluster.isUp(id) && rng.float() < 0.05) cluster.restart(id);
    });
    cluster.runTicks(400);
    cluster.heal();
    awaitConvergence(cluster, 40 * ELECTION_TICKS);
    assert.ok(cluster.stats.crashes > 0);
    assert.ok(cluster.checker.ackedCount > 20);
  });
});
