// Goal: a clerk's serializable reads see its own acknowledged writes wherever they are served:
// after the leader is killed, on the followers, and on the killed node as soon as it serves again
// after a restart (issue 17 §5). They used to do so only on the node that acknowledged the write.
// Method: one real 3-node cluster (cairn-server processes on 127.0.0.1, ports from freePort).
// Each round the clerk puts a new value to one key and gets the acknowledgement; the leader is
// killed (SIGKILL) at once, and serializable gets follow: through the clerk as it routes them,
// then pinned to each live node; the killed node is restarted and asked as soon as it serves.
// Each must return the value just written. A follower learns the commit index only from the
// leader's next message, and a new leader only once it commits an entry of its own term, so
// without the clerk's read-your-writes token (min_index) these reads returned the previous value
// in almost every round. (Leadership transfers were tried too: the followers have caught up by
// the time a transfer is confirmed, so they showed nothing.) Synchronisation is by replies and
// waitFor with deadlines; nothing sleeps.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type NodeProcess, TestCluster, waitFor } from '@cairn/testkit';
import { Clerk } from '../src/index.js';
import { addressesOf } from './integration-support.js';

const KILL_ROUNDS = 8;

describe('read your own writes across leader changes', () => {
  let cluster: TestCluster;
  let clerk: Clerk;

  before(async () => {
    cluster = await TestCluster.start({ size: 3 });
    await cluster.waitForLeader();
    clerk = await Clerk.connect({ endpoints: addressesOf(cluster) });
  });

  after(async () => {
    clerk?.close();
    await cluster?.stop();
  });

  /**
   * Reads `key` serializably, first through the clerk's routing (`routedFirst`) or pinned to
   * each of `nodes` in order, then the other way; returns the misses.
   */
  async function staleReads(
    key: string,
    expected: string,
    label: string,
    nodes: readonly NodeProcess[],
    routedFirst: boolean,
  ): Promise<string[]> {
    const misses: string[] = [];
    const routed = async (): Promise<void> => {
      const read = (await clerk.get(key, { consistency: 'serializable' }))?.value.toString() ?? '<absent>';
      if (read !== expected) misses.push(`${label}: routed read of ${expected} returned ${read}`);
    };
    if (routedFirst) await routed();
    for (const node of nodes) {
      const read = (await clerk.get(key, { consistency: 'serializable', endpoint: node.grpcAddress }))?.value.toString() ?? '<absent>';
      if (read !== expected) misses.push(`${label}: node ${node.id} returned ${read} for ${expected}`);
    }
    if (!routedFirst) await routed();
    return misses;
  }

  test(`leader killed after each put: serializable gets return the value, also on the restarted node, ${KILL_ROUNDS} rounds`, async () => {
    const stale: string[] = [];
    for (let round = 0; round < KILL_ROUNDS; round++) {
      const value = `k${round}`;
      await clerk.put('ryw/kill', value);
      const leaderId = clerk.knownLeader()?.leaderId;
      assert.ok(leaderId !== undefined && leaderId > 0, 'the put taught the clerk the leader');
      const killed = cluster.node(leaderId);
      await cluster.kill(killed);
      stale.push(
        ...(await staleReads(
          'ryw/kill',
          value,
          `round ${round}, node ${killed.id} down`,
          cluster.nodes.filter((n) => n !== killed),
          true,
        )),
      );
      await cluster.launch(killed, cluster.peerArgs());
      // Asked as soon as it serves, before it has caught up with the cluster.
      stale.push(...(await staleReads('ryw/kill', value, `round ${round}, node ${killed.id} restarted`, [killed], false)));
      const leader = await cluster.waitForLeader();
      await waitFor(async () => (await cluster.status(killed)).leaderId === leader.id, {
        deadlineMs: 20_000,
        what: `node ${killed.id} to rejoin`,
      });
    }
    assert.deepEqual(stale, [], `${stale.length} serializable reads missed the clerk's own acknowledged write`);
  });
});
