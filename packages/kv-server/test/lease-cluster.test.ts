// Goal: leases on a real 3-node cluster: revoke deletes every attached key at
// one revision; bad input gets typed errors and applies nothing; a lease
// nobody keeps alive is revoked within TTL + one election timeout; a lease
// kept alive survives the leader's kill -9 without losing its keys; leases
// and their keys survive a restart of every node and still expire after it.
// Method: cairn-server processes (--tick-ms 50 --election-ticks 20: a 1 s
// election timeout, so the shortest TTL is 2 s), generated gRPC clients and
// HTTP; every wait is a waitFor with a deadline, and the only deadline that
// is a claim is TTL + election timeout for expiry.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Consistency, type GetResponse } from '@cairn/proto';
import { type CallError, type NodeProcess, TestCluster, unaryCall, waitFor } from '@cairn/testkit';
import { KeepAliveLoop, LeaseClient } from './helpers/lease-client.js';

const ELECTION_TIMEOUT_MS = 1000;
const MIN_TTL = 2;

async function localGet(node: NodeProcess, key: string): Promise<GetResponse> {
  return unaryCall<GetResponse>((cb) =>
    node.kv.get({ key: Buffer.from(key), consistency: Consistency.SERIALIZABLE }, new grpc.Metadata(), { deadline: Date.now() + 2000 }, cb),
  );
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: CallError) => error.detail?.code,
  );
}

describe('leases on a 3-node cluster', () => {
  let cluster: TestCluster;
  let leases: LeaseClient;
  before(async () => {
    cluster = await TestCluster.start({ size: 3, extraArgs: ['--election-ticks', '20'] });
    await cluster.waitForLeader();
    leases = new LeaseClient(cluster);
  });
  after(async () => {
    leases?.close();
    await cluster?.stop();
  });

  test('revoke deletes every attached key at one revision; other keys stay', async () => {
    const { id } = await leases.grant(60);
    await leases.put('svc/a', '1', id);
    await leases.put('svc/b', '1', id);
    await leases.put('svc/c', '1', id);
    const before = await leases.put('svc/free', '1', 0);
    const ttl = await leases.timeToLive(id, true);
    assert.deepEqual(ttl.keys.map(String).sort(), ['svc/a', 'svc/b', 'svc/c']);
    assert.equal(ttl.grantedTtl, 60);
    const revoked = await leases.revoke(id);
    assert.equal(revoked.deleted, 3);
    // One revision for the three deletions: the revoke is the next revision, and so is the write after it.
    assert.equal(revoked.header!.revision, before.header!.revision + 1);
    const afterPut = await leases.put('svc/free', '2', 0);
    assert.equal(afterPut.header!.revision, revoked.header!.revision + 1);
    const leader = leases.knownLeader!;
    for (const key of ['svc/a', 'svc/b', 'svc/c']) assert.equal((await localGet(leader, key)).kv, undefined, key);
    assert.equal((await localGet(leader, 'svc/free')).kv?.value.toString(), '2');
    assert.equal((await leases.timeToLive(id)).ttl, -1);
  });

  test('bad input: unknown lease on put, revoke and keep-alive, TTL out of range: typed errors, nothing applied', async () => {
    const unknown = 987_654;
    assert.equal(await codeOf(leases.put('bad/key', 'v', unknown)), 'LEASE_NOT_FOUND');
    assert.equal(await codeOf(leases.revoke(unknown)), 'LEASE_NOT_FOUND');
    assert.equal(await leases.keepAliveOnce(unknown), 0);
    assert.equal(await codeOf(leases.grant(MIN_TTL - 1)), 'INVALID_ARGUMENT');
    assert.equal(await codeOf(leases.grant(9_000_000_001)), 'INVALID_ARGUMENT');
    const { id } = await leases.grant(30, 4242);
    assert.equal(await codeOf(leases.grant(30, 4242)), 'FAILED_PRECONDITION');
    const leader = leases.knownLeader!;
    assert.equal((await localGet(leader, 'bad/key')).kv, undefined);
    // HTTP: the same refusals, as JSON with the code.
    const http = `http://${leader.httpAddress}`;
    const put = await fetch(`${http}/kv/bad%2Fkey?lease=${unknown}`, { method: 'PUT', body: 'v' });
    assert.equal(put.status, 404);
    assert.equal(((await put.json()) as { code: string }).code, 'LEASE_NOT_FOUND');
    const keep = await fetch(`${http}/lease/keepalive`, { method: 'POST', body: JSON.stringify({ id: unknown }) });
    assert.equal(((await keep.json()) as { code: string }).code, 'LEASE_NOT_FOUND');
    const grant = await fetch(`${http}/lease/grant`, { method: 'POST', body: JSON.stringify({ ttl: 0 }) });
    assert.equal(grant.status, 400);
    const list = (await (await fetch(`${http}/leases`)).json()) as { leases: number[] };
    assert.ok(list.leases.includes(id));
    assert.ok(!list.leases.includes(unknown));
    await leases.revoke(id);
  });

  test('HTTP: grant, attach with ?lease=, keep-alive, ttl with keys, revoke', async () => {
    const leader = await cluster.waitForLeader();
    const http = `http://${leader.httpAddress}`;
    const granted = (await (await fetch(`${http}/lease/grant`, { method: 'POST', body: '{"ttl": 30}' })).json()) as { id: number };
    assert.equal((await fetch(`${http}/kv/web%2Fk?lease=${granted.id}`, { method: 'PUT', body: 'v' })).status, 200);
    const kept = (await (await fetch(`${http}/lease/keepalive`, { method: 'POST', body: `{"id": ${granted.id}}` })).json()) as {
      ttl: number;
    };
    assert.equal(kept.ttl, 30);
    const ttl = (await (await fetch(`${http}/lease/${granted.id}?keys=1`)).json()) as { ttl: number; grantedTtl: number; keys: string[] };
    assert.equal(ttl.grantedTtl, 30);
    assert.ok(ttl.ttl > 0 && ttl.ttl <= 30);
    assert.deepEqual(ttl.keys, ['web/k']);
    const revoked = (await (await fetch(`${http}/lease/revoke`, { method: 'POST', body: `{"id": ${granted.id}}` })).json()) as {
      deleted: number;
    };
    assert.equal(revoked.deleted, 1);
    assert.equal((await fetch(`${http}/kv/web%2Fk`)).status, 404);
  });

  test('a lease nobody keeps alive is revoked within TTL + one election timeout', async () => {
    const ttl = MIN_TTL;
    const { id } = await leases.grant(ttl);
    const granted = Date.now();
    await leases.put('expiring/k', 'v', id);
    const leader = leases.knownLeader!;
    await waitFor(async () => (await localGet(leader, 'expiring/k')).kv === undefined || undefined, {
      deadlineMs: ttl * 1000 + ELECTION_TIMEOUT_MS - (Date.now() - granted),
      intervalMs: 50,
      what: 'the unrenewed lease to expire',
    });
    assert.equal((await leases.timeToLive(id)).ttl, -1);
  });

  test("a lease kept alive survives the leader's kill -9 and is not expired early", async () => {
    const ttl = 3;
    const { id } = await leases.grant(ttl);
    await leases.put('kept/a', '1', id);
    await leases.put('kept/b', '1', id);
    // Followers apply the puts a moment after the leader answered: the watch below starts once every node has them.
    await waitFor(
      async () => {
        const got = await Promise.all(cluster.nodes.flatMap((n) => ['kept/a', 'kept/b'].map((key) => localGet(n, key))));
        return got.every((g) => g.kv !== undefined) || undefined;
      },
      { deadlineMs: 10_000, what: 'every node to apply the attached keys' },
    );
    const keeper = new KeepAliveLoop(leases, cluster, [id], 300);
    keeper.start();
    let missing = '';
    let watching = true;
    // Every live node's applied state must hold both keys the whole time.
    const watcher = (async () => {
      while (watching) {
        for (const node of cluster.nodes.filter((n) => n.process !== undefined)) {
          for (const key of ['kept/a', 'kept/b']) {
            const got = await localGet(node, key).catch(() => undefined);
            if (got !== undefined && got.kv === undefined) missing ||= `${key} gone on node ${node.id}`;
          }
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const oldLeader = await cluster.waitForLeader();
      await cluster.kill(oldLeader);
      const newLeader = await cluster.waitForLeader();
      assert.notEqual(newLeader.id, oldLeader.id);
      // Keep-alives reach the new leader, and two full TTLs pass under it.
      const answered = keeper.answers.length;
      await waitFor(() => keeper.answers.length > answered + 2 * Math.ceil((ttl * 1000) / 300) || undefined, {
        deadlineMs: 30_000,
        what: 'keep-alives answered by the new leader for two TTLs',
      });
      assert.equal(missing, '');
      assert.ok(!keeper.answers.includes(0), 'no keep-alive was told the lease is gone');
      assert.equal((await leases.timeToLive(id)).grantedTtl, ttl);
      // Revoked while still kept alive: once the keeper stops, a 3 s lease can expire before a slow relaunch is done.
      await leases.revoke(id);
    } finally {
      watching = false;
      keeper.stop();
      await watcher;
    }
    await cluster.launch(
      cluster.nodes.find((n) => n.process === undefined)!,
      cluster.peerArgs(),
    );
  });

  test('leases and their keys survive a restart of every node, and still expire after it', async () => {
    const ttl = 4;
    const { id } = await leases.grant(ttl);
    await leases.put('restart/k', 'v', id);
    for (const node of cluster.nodes) await cluster.kill(node);
    await Promise.all(cluster.nodes.map((node) => cluster.launch(node, cluster.peerArgs())));
    const leader = await cluster.waitForLeader();
    const elected = Date.now();
    const alive = await leases.timeToLive(id, true);
    assert.equal(alive.grantedTtl, ttl);
    assert.deepEqual(alive.keys.map(String), ['restart/k']);
    // The new leader counts from its election; nobody keeps the lease alive.
    await waitFor(async () => (await localGet(leader, 'restart/k').catch(() => undefined))?.kv === undefined || undefined, {
      deadlineMs: ttl * 1000 + ELECTION_TIMEOUT_MS - (Date.now() - elected),
      intervalMs: 50,
      what: 'the lease to expire after the restart',
    });
  });
});
