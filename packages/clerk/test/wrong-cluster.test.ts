// Goal: a Clerk never mixes two clusters (issue 17 §3). Given endpoints of
// cluster A plus one node of cluster B (both started with the same default
// flags, B's node as `--id 3`), it refuses B with WrongClusterError, never
// returns B's data, and sends B nothing more once refused; with `clusterId`
// it refuses B even when B is listed first. Method: real cairn-server
// processes via testkit's TestCluster; one key holds a different value in
// each cluster, so any answer from B would show.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metricSum, type NodeProcess, startTwoClusters, type TestCluster, type TwoClusters } from '@cairn/testkit';
import { Clerk, GrpcTransport, WrongClusterError } from '../src/index.js';

/** Rejects unless `promise` fails with WRONG_CLUSTER (itself, or as the cause of the call's final error). */
async function assertWrongCluster(promise: Promise<unknown>, address: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    const refusal = (error as { code?: string }).code === 'WRONG_CLUSTER' ? error : (error as { cause?: unknown }).cause;
    assert.ok(refusal instanceof WrongClusterError, `expected WRONG_CLUSTER, got ${String(error)}`);
    assert.equal(refusal.address, address);
    return true;
  });
}

describe('a clerk given endpoints of two clusters', () => {
  let clusters: TwoClusters | undefined;
  let a: TestCluster;
  let bNode: NodeProcess;
  let aClusterId: string;

  before(async () => {
    clusters = await startTwoClusters(3);
    ({ a, bNode } = clusters);
    const setup = await Clerk.connect({ endpoints: a.nodes.map((n) => n.grpcAddress) });
    const setupB = await Clerk.connect({ endpoints: [bNode.grpcAddress] });
    try {
      await setup.put('owner', 'cluster A');
      await setupB.put('owner', 'cluster B');
      await setupB.put('only-in-b', 'foreign');
    } finally {
      setup.close();
      setupB.close();
    }
    aClusterId = (await a.status(a.node(1))).clusterId;
  });

  after(async () => {
    await clusters?.stop();
  });

  test('pins the first cluster that answers, refuses the node of the other one, and never returns its data', async () => {
    const endpoints = [...a.nodes.map((n) => n.grpcAddress), bNode.grpcAddress];
    const clerk = await Clerk.connect({ endpoints, deadlineMs: 3_000 });
    try {
      // A call pinned to B is refused: B names another cluster than the one pinned.
      await assertWrongCluster(
        clerk.get('owner', { endpoint: bNode.grpcAddress, consistency: 'serializable', deadlineMs: 1_000 }),
        bNode.grpcAddress,
      );
      const servedByB = await metricSum('cairn_requests_total', bNode.httpAddress!);
      for (let i = 0; i < 30; i++) {
        assert.equal(
          (await clerk.get('owner', { consistency: i % 2 === 0 ? 'serializable' : 'linearizable' }))?.value.toString(),
          'cluster A',
        );
        assert.equal(await clerk.get('only-in-b', { consistency: 'serializable' }), undefined);
      }
      await clerk.put('written-through-mixed-clerk', 'A');
      // Calls sent to the refused node again fail on this side: B serves nothing more to this clerk.
      await assertWrongCluster(
        clerk.get('owner', { endpoint: bNode.grpcAddress, consistency: 'serializable', deadlineMs: 500 }),
        bNode.grpcAddress,
      );
      assert.equal(await metricSum('cairn_requests_total', bNode.httpAddress!), servedByB);
    } finally {
      clerk.close();
    }
    // B holds none of what went through the mixed clerk.
    const clerkB = await Clerk.connect({ endpoints: [bNode.grpcAddress] });
    try {
      assert.equal(await clerkB.get('written-through-mixed-clerk', { consistency: 'serializable' }), undefined);
    } finally {
      clerkB.close();
    }
  });

  test('with clusterId, refuses the other cluster even when its node is listed first and answers first', async () => {
    const clerk = await Clerk.connect({
      endpoints: [bNode.grpcAddress, ...a.nodes.map((n) => n.grpcAddress)],
      clusterId: aClusterId,
      deadlineMs: 3_000,
    });
    try {
      for (let i = 0; i < 10; i++) assert.equal((await clerk.get('owner', { consistency: 'serializable' }))?.value.toString(), 'cluster A');
      await assertWrongCluster(
        clerk.get('owner', { endpoint: bNode.grpcAddress, consistency: 'serializable', deadlineMs: 500 }),
        bNode.grpcAddress,
      );
    } finally {
      clerk.close();
    }
  });

  test('connect fails with WrongClusterError when every endpoint belongs to another cluster', async () => {
    await assert.rejects(Clerk.connect({ endpoints: [bNode.grpcAddress], clusterId: aClusterId, deadlineMs: 3_000 }), (error: unknown) => {
      assert.ok(error instanceof WrongClusterError, String(error));
      assert.equal(error.code, 'WRONG_CLUSTER');
      assert.equal(error.expectedClusterId, aClusterId);
      assert.notEqual(error.foundClusterId, aClusterId);
      return true;
    });
  });

  test('the unary path refuses too (pipelining off)', async () => {
    const transport = new GrpcTransport({ pipeline: false, clusterId: aClusterId });
    const clerk = Clerk.lazy({ endpoints: [bNode.grpcAddress, a.node(1).grpcAddress], deadlineMs: 3_000 }, { transport });
    try {
      for (let i = 0; i < 5; i++) assert.equal((await clerk.get('owner', { consistency: 'serializable' }))?.value.toString(), 'cluster A');
      await assertWrongCluster(
        clerk.get('owner', { endpoint: bNode.grpcAddress, consistency: 'serializable', deadlineMs: 500 }),
        bNode.grpcAddress,
      );
    } finally {
      clerk.close();
    }
  });
});
