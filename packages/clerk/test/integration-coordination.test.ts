// Goal: the clerk's coordination API works end to end against a real 3-node cluster: revisions
// on every change, reads at a past revision, txn, prefix delete, compaction, leases (attached keys
// go with the lease; a kept lease outlives its TTL and a leader kill), watch (and its resume when
// the member serving it is killed), and the Mutex and Election recipes.
// Method: one cluster (cairn-server processes on 127.0.0.1, OS-assigned ports, 50 ms ticks, so the
// shortest lease TTL is 1 s); each test uses its own key prefix. Synchronisation is waitFor, the
// watch iterators and the recipes' own waits, all with deadlines.
// A server feature that is not there yet ('the command has no operation', UNIMPLEMENTED) skips
// its test with that reason instead of failing it.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, waitFor } from '@cairn/testkit';
import {
  Clerk,
  ClerkError,
  CompactedError,
  compare,
  Election,
  LeaseNotFoundError,
  Mutex,
  op,
  Session,
  type WatchEvent,
} from '../src/index.js';
import { addressesOf, waitForNewLeader } from './integration-support.js';

/** Runs `body`; a server that lacks the feature skips the test with its answer. */
async function unlessMissing(t: TestContext, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    const text = error instanceof Error ? `${error.message} ${String((error as { cause?: unknown }).cause ?? '')}` : String(error);
    if (/no operation|UNIMPLEMENTED/i.test(text)) {
      t.skip(`the server does not implement this yet: ${text}`);
      return;
    }
    throw error;
  }
}

/** `promise`, or a failure naming `what` after 20 s (so a hang says where). */
async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 20_000);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next `n` events of a watch, within a deadline. */
async function nextEvents(iterator: AsyncIterator<WatchEvent>, n: number, what: string): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  const deadline = new Promise<never>((_, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what} (${events.length}/${n} events)`)), 20_000);
    timer.unref();
  });
  while (events.length < n) {
    const next = await Promise.race([iterator.next(), deadline]);
    if (next.done === true) throw new Error(`the watch ended after ${events.length}/${n} events of ${what}`);
    events.push(next.value);
  }
  return events;
}

describe('coordination primitives through the clerk on a 3-node cluster', () => {
  let cluster: TestCluster;
  let clerk: Clerk;

  before(async () => {
    cluster = await TestCluster.start({ size: 3 });
    await cluster.waitForLeader();
    clerk = await Clerk.connect({ endpoints: addressesOf(cluster), deadlineMs: 20_000 });
  });

  after(async () => {
    clerk?.close();
    await cluster?.stop();
  });

  test('revisions, reads at a past revision, txn, prefix delete and compaction', async (t) => {
    await unlessMissing(t, async () => {
      const first = await clerk.put('rev/a', 'one');
      const second = await clerk.put('rev/a', 'two');
      assert.ok(second.revision > first.revision, 'every change gets a later revision');
      const kv = await clerk.get('rev/a');
      assert.equal(kv?.createRevision, first.revision);
      assert.equal(kv?.modRevision, second.revision);
      assert.equal((await clerk.get('rev/a', { revision: first.revision }))?.value.toString(), 'one');

      const won = await clerk.txn({
        if: [compare.modRevision('rev/a', '=', second.revision), compare.version('rev/b', '=', 0)],
        then: [op.put('rev/b', 'B'), op.put('rev/c', 'C'), op.get('rev/a')],
        else: [op.get('rev/b')],
      });
      assert.equal(won.succeeded, true);
      assert.deepEqual(
        won.responses.map((r) => r.type),
        ['put', 'put', 'get'],
      );
      const b = await clerk.get('rev/b');
      const c = await clerk.get('rev/c');
      assert.equal(b?.modRevision, won.revision, 'a txn applies at one revision');
      assert.equal(c?.modRevision, won.revision);
      const lost = await clerk.txn({ if: [compare.value('rev/a', '=', 'nope')], then: [op.delete('rev/a')], else: [op.range('rev/')] });
      assert.equal(lost.succeeded, false);
      const range = lost.responses[0];
      assert.ok(range?.type === 'range' && range.kvs.length === 3);

      const deleted = await clerk.delete('rev/', { prefix: true, prevKv: true });
      assert.equal(deleted.count, 3);
      assert.equal(deleted.prevKvs.length, 3);
      assert.deepEqual((await clerk.range('rev/')).kvs, []);

      await clerk.compact(second.revision);
      await assert.rejects(clerk.get('rev/a', { revision: first.revision }), (error: unknown) => {
        return error instanceof CompactedError && error.compactRevision >= second.revision;
      });
    });
  });

  test('leases: attached keys go with a revoke; a kept lease outlives its TTL and a leader kill', async (t) => {
    await unlessMissing(t, async () => {
      const granted = await clerk.grant(2);
      await clerk.put('lease/x', '1', { lease: granted.id });
      await clerk.put('lease/y', '2', { lease: granted.id });
      assert.equal((await clerk.get('lease/x'))?.lease, granted.id);
      const ttl = await clerk.timeToLive(granted.id, { keys: true });
      assert.deepEqual(ttl.keys.map((key) => key.toString()).sort(), ['lease/x', 'lease/y']);
      assert.ok((await clerk.leases()).includes(granted.id));
      const revoked = await clerk.revoke(granted.id);
      assert.equal(revoked.deleted, 2);
      assert.deepEqual((await clerk.range('lease/')).kvs, []);
      await assert.rejects(clerk.revoke(granted.id), LeaseNotFoundError);

      // A TTL longer than an election plus the keep-alive stream's reconnection (the clerk counts
      // a TTL from the send of the last answered keep-alive, so a 1 s lease may lapse on its side).
      const lease = await clerk.lease(3);
      await clerk.put('lease/kept', 'k', { lease: lease.id });
      // Outlive the TTL twice over, across a leader kill.
      const renewedPast = Date.now() + 6_000;
      const former = await cluster.waitForLeader();
      await cluster.kill(former);
      try {
        await waitForNewLeader(cluster, former.id);
        await waitFor(() => Date.now() > renewedPast || lease.signal.aborted, { deadlineMs: 20_000, what: 'two TTLs' });
      } finally {
        await cluster.launch(former, cluster.peerArgs(former.id));
      }
      assert.equal(lease.signal.aborted, false, `the lease was lost: ${String(lease.signal.reason)}`);
      assert.equal((await clerk.get('lease/kept'))?.value.toString(), 'k');
      await lease.revoke();
      assert.equal(await clerk.get('lease/kept'), undefined);
    });
  });

  test('a watch delivers every revision once, resuming when the member serving it is killed', async (t) => {
    await unlessMissing(t, async () => {
      const start = await clerk.put('watch/k', 'v0');
      const watcherClerk = await Clerk.connect({ endpoints: addressesOf(cluster), deadlineMs: 20_000 });
      const controller = new AbortController();
      const watch = watcherClerk.watch('watch/', { prefix: true, fromRevision: start.revision, signal: controller.signal });
      try {
        const revisions = [start.revision];
        for (let i = 1; i <= 5; i++) revisions.push((await clerk.put('watch/k', `v${i}`)).revision);
        const seen = await nextEvents(watch, 6, 'the first puts');
        // Kill the member serving the watch.
        const serving = cluster.nodes.find((node) => node.grpcAddress === watch.endpoint)!;
        assert.ok(serving !== undefined, `the watch is served by a member (${String(watch.endpoint)})`);
        await cluster.kill(serving);
        try {
          await cluster.waitForLeader();
          for (let i = 6; i <= 10; i++) revisions.push((await clerk.put('watch/k', `v${i}`)).revision);
          const deleted = await clerk.delete('watch/k');
          revisions.push(deleted.revision);
          seen.push(...(await nextEvents(watch, 6, 'the puts after the kill')));
        } finally {
          await cluster.launch(serving, cluster.peerArgs(serving.id));
        }
        assert.deepEqual(
          seen.map((event) => event.revision),
          revisions,
          'every revision exactly once, in order',
        );
        assert.equal(seen.at(-1)?.type, 'delete');
      } finally {
        controller.abort();
        watcherClerk.close();
      }
      assert.equal((await watch.next()).done, true, 'an aborted watch ends cleanly');
    });
  });

  test('Mutex: waiters get the lock in order with increasing fencing revisions; Election: campaign, observe, resign', async (t) => {
    await unlessMissing(t, async () => {
      const sessions = await Promise.all([0, 1, 2].map(() => Session.create(clerk, { ttl: 5 })));
      const mutexes = sessions.map((session) => new Mutex(session, 'locks/m'));
      const order: number[] = [];
      const first = await within(mutexes[0]!.lock(), 'the first lock');
      const waiting = mutexes.slice(1).map(async (mutex, i) => {
        const held = await mutex.lock();
        order.push(i + 1);
        return held;
      });
      // The waiters must not get it while it is held.
      assert.deepEqual(order, []);
      await mutexes[0]!.unlock();
      const second = await within(waiting[0]!, 'the second lock');
      assert.deepEqual(order, [1]);
      assert.ok(second.fencingRevision > first.fencingRevision);
      // A holder whose session ends releases the lock too.
      await sessions[1]!.close();
      const third = await within(waiting[1]!, 'the third lock (the second holder closed its session)');
      assert.ok(third.fencingRevision > second.fencingRevision);
      await mutexes[2]!.unlock();

      const elections = sessions.filter((_, i) => i !== 1).map((session) => new Election(session, 'elect/e'));
      const [a, b] = elections as [Election, Election];
      await within(a.campaign('alpha'), 'the first campaign');
      assert.equal((await a.leader())?.value.toString(), 'alpha');
      const controller = new AbortController();
      const observed: string[] = [];
      const observing = (async () => {
        for await (const value of b.observe({ signal: controller.signal })) {
          observed.push(value.toString());
          if (observed.length === 3) controller.abort();
        }
      })();
      await waitFor(() => observed.length >= 1, { deadlineMs: 10_000, what: 'the first leader observed' });
      await a.proclaim('alpha-2');
      const bElected = b.campaign('beta');
      await waitFor(() => observed.length >= 2, { deadlineMs: 10_000, what: 'the proclamation observed' });
      await a.resign();
      await within(bElected, 'the second campaign');
      assert.equal(b.isLeader, true);
      await within(observing, 'three leader values observed');
      assert.deepEqual(observed, ['alpha', 'alpha-2', 'beta']);
      await assert.rejects(a.proclaim('again'), ClerkError);
      for (const session of sessions) await session.close().catch(() => undefined);
    });
  });
});
