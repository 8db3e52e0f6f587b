// Goal: membership changes at runtime through the Cluster service while
// clients keep writing: a new node joins as a learner, catches up, is
// promoted to voter, then an original member is removed; no acknowledged
// write is lost. Also: leader transfer moves leadership to the named node.
// Method: real processes, generated gRPC clients, deadline-bounded waits.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MembersResponse } from '@cairn/proto';
import { type CallError, TestCluster, unaryCall, waitFor } from '@cairn/testkit';
import { TestClient } from './helpers/kv-client.js';

describe('membership and leadership at runtime', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ size: 3 });
  });
  after(async () => {
    await cluster?.stop();
  });

  test('add a learner, promote it, remove an old member, all under load', async () => {
    const acknowledged = new Map<string, string>();
    let stop = false;
    const writer = (async () => {
      const client = new TestClient(cluster, 'membership-writer');
      for (let i = 0; !stop; i++) {
        try {
          await client.put(`m/${i}`, `v${i}`, 20_000);
          acknowledged.set(`m/${i}`, `v${i}`);
        } catch {
          // Not acknowledged. Yield to the event loop: with no node reachable the
          // put fails at once, and a bare retry loop would starve every timer
          // (it hung a CI run instead of failing it).
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    })();
    await waitFor(() => acknowledged.size >= 20, { what: 'initial writes' });

    const newcomer = await cluster.addNodeSlot(4);
    await cluster.launch(newcomer, ['--join']);
    let leader = await cluster.waitForLeader();
    const member = { id: 4, peerAddress: newcomer.grpcAddress, clientAddress: newcomer.grpcAddress, httpAddress: '', learner: true };
    const added = await unaryCall<MembersResponse>((cb) => leader.cluster.addLearner({ member }, cb));
    assert.ok(
      added.members.some((m) => m.id === 4 && m.learner),
      'node 4 is a learner',
    );

    await waitFor(
      async () => {
        leader = await cluster.waitForLeader();
        return unaryCall<MembersResponse>((cb) => leader.cluster.promote({ id: 4 }, cb)).catch((e: CallError) => {
          if (e.detail?.code === 'FAILED_PRECONDITION' || e.detail?.code === 'NOT_LEADER') return undefined;
          throw e;
        });
      },
      { what: 'promotion of node 4', deadlineMs: 30_000, intervalMs: 200 },
    );
    await waitFor(async () => (await cluster.status(newcomer)).members.some((m) => m.id === 4 && !m.learner), {
      what: 'node 4 to see itself as voter',
      deadlineMs: 30_000,
    });

    leader = await cluster.waitForLeader();
    const victim = cluster.nodes.find((n) => n.id !== leader.id && n.id !== 4)!;
    await unaryCall<MembersResponse>((cb) => leader.cluster.removeMember({ id: victim.id }, cb));
    await waitFor(async () => !(await cluster.status(leader)).members.some((m) => m.id === victim.id), { what: 'removal' });
    await cluster.kill(victim);

    const before = acknowledged.size;
    await waitFor(() => acknowledged.size >= before + 20, { what: 'writes after the changes', deadlineMs: 30_000 });
    stop = true;
    await writer;
    const reader = new TestClient(cluster);
    for (const [key, value] of acknowledged) assert.equal((await reader.get(key))?.value.toString(), value, key);
    const newcomerStatus = await cluster.status(newcomer);
    assert.ok(newcomerStatus.appliedIndex > 0);
  });

  test('leader transfer moves leadership to the named voter', async () => {
    const leader = await cluster.waitForLeader();
    const target = (await cluster.status(leader)).members.find((m) => m.id !== leader.id && !m.learner)!;
    const response = await unaryCall<{ leaderId: number }>((cb) => leader.cluster.transferLeader({ targetId: target.id }, cb));
    assert.equal(response.leaderId, target.id);
    const newLeader = await cluster.waitForLeader();
    assert.equal(newLeader.id, target.id);
  });

  test('membership calls with bad input are refused with typed errors', async () => {
    const leader = await cluster.waitForLeader();
    const unknown = await unaryCall((cb) => leader.cluster.promote({ id: 99 }, cb)).catch((e: CallError) => e);
    assert.equal((unknown as CallError).detail?.code, 'UNKNOWN_MEMBER');
    const badAddress = await unaryCall((cb) =>
      leader.cluster.addLearner({ member: { id: 9, peerAddress: 'nope', clientAddress: 'nope', httpAddress: '', learner: true } }, cb),
    ).catch((e: CallError) => e);
    assert.equal((badAddress as CallError).detail?.code, 'INVALID_ARGUMENT');
    const chaosOff = await unaryCall((cb) =>
      leader.cluster.injectFault({ kind: 3, peers: [], dropRate: 0, delayMs: 0, durationMs: 0 }, cb),
    ).catch((e: CallError) => e);
    assert.equal((chaosOff as CallError).detail?.code, 'FAILED_PRECONDITION');
  });
});
