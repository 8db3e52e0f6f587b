// Found in review (issue 17 §2): "started empty" was once known only during the first
// start after a wipe (bootstrapIfNew just wrote the genesis). If the wiped node
// is restarted again before its survey decided (its peers were down), the second
// start sees a non-empty data dir, ignores `cluster_started`, and, with peers
// that restarted too (no term or match index remembered), releases its votes:
// an emptied voter votes again, the data loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, waitFor } from '@cairn/testkit';

test('a wiped node restarted again before its check decided is still fenced', { timeout: 120_000 }, async () => {
  const cluster = await TestCluster.start({ size: 3 });
  try {
    const leader = await cluster.waitForLeader();
    await waitFor(
      async () => {
        const s = await cluster.status(leader);
        return s.term >= 2 && s.commitIndex > 3;
      },
      { deadlineMs: 20_000, what: 'the cluster to commit past its genesis' },
    );
    for (const n of cluster.nodes) await cluster.kill(n);
    const node3 = cluster.node(3);
    cluster.wipe(node3);
    // First start on the empty dir, alone: it writes the genesis and waits for answers.
    await cluster.launch(node3, cluster.peerArgs(3));
    assert.equal((await cluster.status(node3)).storage, 'checking');
    await cluster.kill(node3);
    // Second start; node 1 (intact, freshly started) is back.
    await cluster.launch(cluster.node(1), cluster.peerArgs(1));
    await cluster.launch(node3, cluster.peerArgs(3));
    const state = await waitFor(
      async () => {
        const s = (await cluster.status(node3)).storage;
        return s === 'checking' ? undefined : s;
      },
      { deadlineMs: 20_000, what: 'node 3 to decide' },
    );
    assert.equal(state, 'recovering', 'a node whose data dir was wiped must stay fenced, not vote again');
  } finally {
    await cluster.stop();
  }
});
