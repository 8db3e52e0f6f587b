/**
 * Issue 20 acceptance: a watcher resuming through the Clerk across killed
 * nodes sees every revision exactly once. One clerk writes `wr/<n>` = n
 * in a loop; another watches the prefix from the revision before the first
 * write. The member serving the watch is SIGKILLed (and restarted) three
 * times while writes go on, once while it is the leader if it is. Required:
 * the watched revisions strictly increase (no duplicate, in order), every
 * acknowledged write's revision is among them (no gap), and every event is
 * a write the writer issued, with its value.
 * Method: a 3-node cluster (50 ms ticks). Synchronisation: waitFor with
 * deadlines on the writer's progress and on the watcher catching up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Clerk, type WatchEvent } from '@cairn/clerk';
import { TestCluster, waitFor } from '@cairn/testkit';

const KILLS = 3;

test('a watch through the clerk sees every revision exactly once across three kills of the member serving it', async (t) => {
  const cluster = await TestCluster.start({ size: 3 });
  const endpoints = cluster.nodes.map((node) => node.grpcAddress);
  const writer = await Clerk.connect({ endpoints, deadlineMs: 30_000 });
  const watcher = await Clerk.connect({ endpoints, deadlineMs: 30_000 });
  const controller = new AbortController();
  const acknowledged = new Map<number, string>();
  const issued = new Set<string>();
  const seen: WatchEvent[] = [];
  let writing = true;
  let writes: Promise<void> | undefined;
  let watching: Promise<void> | undefined;
  try {
    await cluster.waitForLeader();
    const start = (await writer.put('wr-start', '')).revision;
    const watch = watcher.watch('wr/', { prefix: true, fromRevision: start + 1, signal: controller.signal });
    watching = (async () => {
      for await (const event of watch) seen.push(event);
    })();
    writes = (async () => {
      for (let n = 0; writing; n++) {
        issued.add(String(n));
        const result = await writer.put(`wr/${n % 50}`, String(n));
        acknowledged.set(result.revision, String(n));
      }
    })();
    for (let kill = 0; kill < KILLS; kill++) {
      const before = acknowledged.size;
      await waitFor(() => acknowledged.size >= before + 20 && watch.endpoint !== undefined, {
        deadlineMs: 30_000,
        what: 'writes before a kill',
      });
      const serving = cluster.nodes.find((node) => node.grpcAddress === watch.endpoint);
      assert.ok(serving !== undefined, `a member serves the watch (${String(watch.endpoint)})`);
      t.diagnostic(`kill ${kill + 1}: node ${serving.id}`);
      await cluster.kill(serving);
      const after = acknowledged.size;
      await waitFor(() => acknowledged.size >= after + 20, { deadlineMs: 30_000, what: 'writes after a kill' });
      await cluster.launch(serving, cluster.peerArgs(serving.id));
    }
    writing = false;
    await writes;
    const last = Math.max(...acknowledged.keys());
    await waitFor(() => watch.revision >= last || undefined, { deadlineMs: 30_000, what: `the watcher to reach revision ${last}` });
  } finally {
    writing = false;
    controller.abort();
    await Promise.allSettled([writes, watching]);
    writer.close();
    watcher.close();
    await cluster.stop();
  }
  await watching;
  const revisions = seen.map((event) => event.revision);
  for (let i = 1; i < revisions.length; i++) {
    assert.ok(revisions[i]! > revisions[i - 1]!, `revisions increase: ${revisions[i - 1]} then ${revisions[i]} (event ${i})`);
  }
  const byRevision = new Map(seen.map((event) => [event.revision, event.value.toString()]));
  const missing = [...acknowledged].filter(([revision, value]) => byRevision.get(revision) !== value);
  assert.deepEqual(missing, [], 'every acknowledged write was seen at its revision with its value');
  const foreign = seen.filter((event) => event.type !== 'put' || !issued.has(event.value.toString()));
  assert.deepEqual(foreign, [], 'every event is a write the writer issued');
  t.diagnostic(`${seen.length} events, ${acknowledged.size} acknowledged writes`);
});
