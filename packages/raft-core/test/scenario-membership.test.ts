// Goal: snapshot installation (Raft §7, 6.824 2D), leader transfer (thesis
// §3.10) and membership changes (thesis §4: learner, promote, remove) as named
// scenarios.
// Method: a seeded SimCluster whose nodes snapshot and compact their logs
// periodically, so a lagging follower can only catch up by InstallSnapshot;
// faults are injected by hand and awaitConvergence() checks liveness and
// durability at the end; the SafetyChecker watches every step.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SimCluster, awaitConvergence, commitValue, retryUntil, waitForLeader } from '../src/testing/index.js';
import type { NodeId } from '../src/types.js';

const ELECTION_TICKS = 10;

function otherThan(cluster: SimCluster, excluded: readonly NodeId[]): NodeId[] {
  return cluster.nodeIds().filter((id) => !excluded.includes(id));
}

describe('snapshots (Raft §7, 6.824 2D)', () => {
  test('a follower that missed compacted entries catches up through InstallSnapshot', () => {
    const cluster = SimCluster.create(0x2d01n, { size: 3, snapshotEveryEntries: 10 });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    const [lagging] = otherThan(cluster, [leader]);
    cluster.crash(lagging!);
    for (let i = 0; i < 40; i++) commitValue(cluster, 4 * ELECTION_TICKS);
    assert.ok(cluster.log(leader).firstIndex() > 2, 'the leader compacted its log');
    cluster.restart(lagging!);
    awaitConvergence(cluster, 20 * ELECTION_TICKS);
    assert.ok(cluster.stats.snapshotsInstalled >= 1);
    assert.deepEqual(cluster.appliedValues(lagging!), cluster.appliedValues(leader));
  });

  test('snapshots with crashes: restarted nodes restore from their own snapshot and keep every command', () => {
    const cluster = SimCluster.create(0x2d02n, { size: 3, snapshotEveryEntries: 7, fsyncDelayMaxInstants: 4 });
    waitForLeader(cluster, 4 * ELECTION_TICKS);
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < 8; i++) commitValue(cluster, 6 * ELECTION_TICKS);
      const victim = cluster.nodeIds()[round % 3]!;
      cluster.crash(victim);
      cluster.runTicks(ELECTION_TICKS);
      cluster.restart(victim);
    }
    awaitConvergence(cluster, 30 * ELECTION_TICKS);
    assert.ok(cluster.stats.snapshotsTaken >= 6);
    assert.ok(cluster.checker.ackedCount >= 48);
  });

  test('snapshots on an unreliable network with crashes converge', () => {
    const cluster = SimCluster.create(0x2d03n, {
      size: 5,
      snapshotEveryEntries: 5,
      snapshotTrailingEntries: 2,
      fsyncDelayMaxInstants: 3,
      network: { lossProbability: 0.1, duplicateProbability: 0.05, reorder: true, pathDelayMaxInstants: 15 },
    });
    const rng = cluster.rng;
    cluster.onTick(() => {
      if (rng.float() < 0.6) cluster.propose();
      if (cluster.ticks > 300) return;
      if (rng.float() < 0.03) cluster.crash(cluster.nodeIds()[rng.intBelow(5)]!);
      for (const id of cluster.nodeIds()) if (!cluster.isUp(id) && rng.float() < 0.03) cluster.restart(id);
    });
    cluster.runTicks(300);
    cluster.heal();
    awaitConvergence(cluster, 40 * ELECTION_TICKS);
    assert.ok(cluster.stats.snapshotsInstalled >= 1, 'some follower needed a snapshot');
  });
});

describe('leader transfer (Raft thesis §3.10)', () => {
  test('transferLeader hands leadership to the chosen up-to-date voter within an election timeout', () => {
    const cluster = SimCluster.create(0x3a01n, { size: 3 });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    commitValue(cluster, 4 * ELECTION_TICKS);
    const [target] = otherThan(cluster, [leader]);
    assert.ok(cluster.transferLeader(target!));
    assert.ok(cluster.runUntil(() => cluster.leader() === target, 2 * ELECTION_TICKS));
    awaitConvergence(cluster, 10 * ELECTION_TICKS);
  });

  test('a transfer to a lagging voter completes after it catches up, under load', () => {
    const cluster = SimCluster.create(0x3a02n, { size: 3 });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    const [target] = otherThan(cluster, [leader]);
    cluster.crash(target!);
    for (let i = 0; i < 10; i++) commitValue(cluster, 4 * ELECTION_TICKS);
    cluster.restart(target!);
    cluster.onTick(() => void cluster.propose());
    cluster.transferLeader(target!);
    assert.ok(cluster.runUntil(() => cluster.leader() === target, 4 * ELECTION_TICKS));
    awaitConvergence(cluster, 10 * ELECTION_TICKS);
  });
});

describe('membership (Raft thesis §4)', () => {
  test('add a learner, promote it, then remove an old voter, all under load', () => {
    const cluster = SimCluster.create(0x4a01n, { size: 3, snapshotEveryEntries: 20 });
    waitForLeader(cluster, 4 * ELECTION_TICKS);
    cluster.onTick(() => {
      if (cluster.rng.float() < 0.5) cluster.propose();
    });
    for (let i = 0; i < 30; i++) commitValue(cluster, 4 * ELECTION_TICKS);
    const learner = cluster.addLearner();
    assert.ok(learner !== undefined, 'the leader accepted the conf change');
    const leaderStatus = () => cluster.status(cluster.leader() ?? learner);
    assert.ok(
      cluster.runUntil(() => leaderStatus()?.learners.includes(learner) ?? false, 4 * ELECTION_TICKS),
      'joined',
    );
    // Promote only once it caught up, as an operator would.
    assert.ok(cluster.runUntil(() => cluster.appliedIndex(learner) >= cluster.appliedIndex(cluster.leader()!) - 2, 8 * ELECTION_TICKS));
    assert.equal(cluster.status(learner)!.role, 'follower');
    const promoted = retryUntil(
      cluster,
      () => leaderStatus()?.voters.includes(learner) ?? false,
      () => cluster.promote(learner),
      8 * ELECTION_TICKS,
    );
    assert.ok(promoted, 'promoted to voter');
    const [old] = otherThan(cluster, [cluster.leader()!, learner]);
    assert.ok(
      retryUntil(
        cluster,
        () => cluster.isRemoved(old!),
        () => cluster.removeNode(old!),
        8 * ELECTION_TICKS,
      ),
      'removed',
    );
    const result = awaitConvergence(cluster, 20 * ELECTION_TICKS);
    assert.ok(result.members.includes(learner));
    assert.ok(!result.members.includes(old!));
    assert.equal(result.members.length, 3);
    assert.deepEqual(cluster.appliedValues(learner), cluster.appliedValues(result.leader));
  });

  test('a learner added after the last snapshot catches up from a compacted log', () => {
    // The leader's only snapshot predates the learner; its ConfState lacks it.
    const cluster = SimCluster.create(0x4a03n, { size: 3, snapshotEveryEntries: 10 });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    for (let i = 0; i < 25; i++) commitValue(cluster, 4 * ELECTION_TICKS);
    assert.ok(cluster.log(leader).firstIndex() > 1, 'the log is compacted');
    const learner = cluster.addLearner();
    assert.ok(learner !== undefined);
    const { value } = commitValue(cluster, 4 * ELECTION_TICKS);
    assert.ok(
      cluster.runUntil(() => cluster.isAppliedOn(value, [learner]), 10 * ELECTION_TICKS),
      'the learner caught up',
    );
    assert.ok(cluster.stats.snapshotsInstalled >= 1);
  });

  test('removing the leader itself hands over to the remaining voters', () => {
    const cluster = SimCluster.create(0x4a02n, { size: 5 });
    const leader = waitForLeader(cluster, 4 * ELECTION_TICKS);
    commitValue(cluster, 4 * ELECTION_TICKS);
    assert.ok(cluster.removeNode(leader));
    assert.ok(cluster.runUntil(() => cluster.isRemoved(leader), 4 * ELECTION_TICKS));
    const result = awaitConvergence(cluster, 20 * ELECTION_TICKS);
    assert.notEqual(result.leader, leader);
    assert.deepEqual(result.members, otherThan(cluster, [leader]));
  });
});
