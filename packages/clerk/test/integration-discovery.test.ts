// Goal: leader discovery works against a real cluster: a clerk whose first endpoint is a
// follower follows the NOT_LEADER hint straight to the leader; a clerk seeded with a single
// endpoint learns the other members and keeps working after that node is killed; and a
// serializable read pinned to a follower is answered by that follower alone.
// Method: one real 3-node chaos cluster (cairn-server processes on 127.0.0.1, OS-assigned
// ports); clerks use a transport that records every attempt (address, method), so the tests
// assert where each call went. Synchronisation is waitFor with deadlines only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, waitFor } from '@cairn/testkit';
import { Clerk, type ClerkStatus } from '../src/index.js';
import { addressesOf, RecordingTransport, waitForNewLeader } from './integration-support.js';

describe('leader discovery against a 3-node cluster', () => {
  let cluster: TestCluster;
  let control: Clerk;

  before(async () => {
    cluster = await TestCluster.start({ size: 3, chaos: true });
    await cluster.waitForLeader();
    control = await Clerk.connect({ endpoints: addressesOf(cluster) });
  });

  after(async () => {
    control?.close();
    await cluster?.stop();
  });

  test('a clerk whose first endpoint is a follower follows NOT_LEADER to the leader, then goes there directly', async () => {
    const leader = await cluster.waitForLeader();
    const followers = cluster.nodes.filter((node) => node.id !== leader.id);
    const transport = new RecordingTransport();
    // Lazy and without periodic refresh, so nothing but the redirect can reveal the leader.
    const clerk = Clerk.lazy({ endpoints: [...followers, leader].map((node) => node.grpcAddress), membersRefreshMs: 0 }, { transport });
    const events = clerk.statusEvents();
    try {
      assert.equal((await clerk.put('discovery/redirect', 'v')).version, 1);
      assert.deepEqual(
        transport.attempts.map((attempt) => [attempt.method, attempt.address]),
        [
          ['put', followers[0]!.grpcAddress],
          ['put', leader.grpcAddress],
        ],
      );
      assert.deepEqual(clerk.knownLeader(), { address: leader.grpcAddress, leaderId: leader.id });
      assert.equal((await clerk.get('discovery/redirect'))?.value.toString(), 'v');
      assert.deepEqual(
        transport.attempts.slice(2).map((attempt) => [attempt.method, attempt.address]),
        [['get', leader.grpcAddress]],
      );
    } finally {
      clerk.close();
    }
    // Closing ends the iterator after the buffered events: exactly one redirect, then the leader.
    const seen: ClerkStatus[] = [];
    for await (const event of events) seen.push(event);
    assert.deepEqual(seen, [
      { type: 'redirect', from: followers[0]!.grpcAddress, to: leader.grpcAddress },
      { type: 'leader-changed', leaderId: leader.id, address: leader.grpcAddress },
    ]);
  });

  test('a serializable read pinned to a follower is answered by that follower without contacting the leader', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((node) => node.id !== leader.id)!;
    await control.put('discovery/local', 'here');
    const transport = new RecordingTransport();
    const clerk = await Clerk.connect({ endpoints: addressesOf(cluster), membersRefreshMs: 0 }, { transport });
    try {
      assert.equal(clerk.knownLeader()?.address, leader.grpcAddress);
      const connectAttempts = transport.attempts.length;
      // The follower applies the put shortly after the leader acknowledged it.
      const kv = await waitFor(
        async () => {
          const read = await clerk.get('discovery/local', { consistency: 'serializable', endpoint: follower.grpcAddress });
          return read?.value.toString() === 'here' ? read : undefined;
        },
        { what: 'the follower to serve the value' },
      );
      assert.equal(kv.version, 1);
      const reads = transport.attempts.slice(connectAttempts);
      assert.ok(reads.length > 0);
      assert.deepEqual(new Set(reads.map((attempt) => `${attempt.method} ${attempt.address}`)), new Set([`get ${follower.grpcAddress}`]));
      // A linearizable read pinned to the same follower is refused rather than served locally.
      await assert.rejects(clerk.get('discovery/local', { endpoint: follower.grpcAddress }), { code: 'NOT_LEADER' });
      // Unpinned, even a serializable read goes to the known leader.
      const before = transport.attempts.length;
      await clerk.get('discovery/local', { consistency: 'serializable' });
      assert.deepEqual(
        transport.attempts.slice(before).map((attempt) => attempt.address),
        [leader.grpcAddress],
      );
    } finally {
      clerk.close();
    }
  });

  // Last: it leaves the seed node down (the cluster is stopped next).
  test('a clerk seeded with one endpoint learns the members and keeps working after that node is killed', async () => {
    const seed = await cluster.waitForLeader();
    const clerk = await Clerk.connect({ endpoints: [seed.grpcAddress], requestTimeoutMs: 500, deadlineMs: 10_000 });
    try {
      assert.deepEqual([...clerk.endpoints()].sort(), addressesOf(cluster).sort());
      assert.equal((await clerk.put('discovery/seed', 'first')).version, 1);

      await cluster.kill(seed);
      // The write is sent once the seed is gone: the clerk must find the new leader through learned members.
      assert.equal((await clerk.put('discovery/seed', 'second')).version, 2);
      const leader = await waitForNewLeader(cluster, seed.id);
      assert.deepEqual(clerk.knownLeader(), { address: leader.grpcAddress, leaderId: leader.id });
      assert.equal((await clerk.get('discovery/seed'))?.value.toString(), 'second');
    } finally {
      clerk.close();
    }
  });
});
