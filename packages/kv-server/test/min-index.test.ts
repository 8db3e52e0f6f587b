// Goal: the read-your-writes token at the gRPC and HTTP level (issue 17 §5). Every write reply
// names the log index it was applied at; a serializable read that carries `min_index` is answered
// only once the contacted node's reads see that index, on any node, and a node that cannot get
// there within its wait bound answers UNAVAILABLE (retryable) instead of a stale value.
// Method: one real 3-node cluster (cairn-server processes on 127.0.0.1, ports from freePort).
// - A serializable get with min_index one past everything written is sent to a follower before
//   the write that reaches that index exists: it can only answer with the value of that write.
// - A min_index the cluster never reaches ends in UNAVAILABLE (gRPC Get, Range, HTTP GET).
// - Rounds of put-on-the-leader then get-on-a-follower with the put's index: a follower learns
//   the commit index only from the leader's next message, so without the wait it lags often.
// Synchronisation is by request order and replies only; nothing sleeps.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Consistency,
  type AppendResponse,
  type CasResponse,
  type DeleteResponse,
  type GetResponse,
  type PutResponse,
  type RangeResponse,
} from '@cairn/proto';
import { type CallError, type NodeProcess, TestCluster, unaryCall } from '@cairn/testkit';

const ROUNDS = 100;
/** An index no test here writes up to. */
const UNREACHED = 1_000_000_000;

describe('read-your-writes token (min_index)', () => {
  let cluster: TestCluster;
  let leader: NodeProcess;
  let followers: NodeProcess[];

  before(async () => {
    cluster = await TestCluster.start({ size: 3 });
    leader = await cluster.waitForLeader();
    followers = cluster.nodes.filter((n) => n.id !== leader.id);
  });
  after(async () => {
    await cluster?.stop();
  });

  const put = (key: string, value: string, session?: { clientId: string; seq: number }) =>
    unaryCall<PutResponse>((cb) => leader.kv.put({ key: Buffer.from(key), value: Buffer.from(value), prevKv: false, session }, cb));
  const get = (node: NodeProcess, key: string, minIndex: number | undefined) =>
    unaryCall<GetResponse>((cb) => node.kv.get({ key: Buffer.from(key), consistency: Consistency.SERIALIZABLE, minIndex }, cb));

  test('every write reply names the index it was applied at; a retried write names one that covers it', async () => {
    const first = await put('token/put', 'a');
    const append = await unaryCall<AppendResponse>((cb) =>
      leader.kv.append({ key: Buffer.from('token/put'), value: Buffer.from('b') }, cb),
    );
    const cas = await unaryCall<CasResponse>((cb) =>
      leader.kv.cas({ key: Buffer.from('token/put'), expectedVersion: 99, value: Buffer.from('c') }, cb),
    );
    const del = await unaryCall<DeleteResponse>((cb) => leader.kv.delete({ key: Buffer.from('token/put') }, cb));
    const indexes = [first.index, append.index, cas.index, del.index];
    assert.ok(
      indexes.every((index) => index !== undefined && index > 0),
      `indexes ${indexes.join(', ')}`,
    );
    assert.ok(first.index! < append.index! && append.index! < cas.index! && cas.index! < del.index!, `increasing: ${indexes.join(', ')}`);
    assert.ok(first.header!.appliedIndex >= first.index!, 'the header never names less than the write it answers');

    const session = { clientId: 'token-retry', seq: 1 };
    const original = await put('token/retry', 'x', session);
    const retry = await put('token/retry', 'x', session);
    assert.equal(retry.version, original.version, 'the retry is answered from the session table');
    assert.ok(retry.index !== undefined && retry.index >= original.index!, `retry index ${retry.index} covers ${original.index}`);
  });

  test('a serializable get with min_index past the applied index waits, then answers with the write that reaches it', async () => {
    const anchor = await put('token/anchor', 'x');
    const follower = followers[0]!;
    // Sent before the write at anchor + 1 exists: a node that does not wait answers "absent".
    const pending = get(follower, 'token/waited', anchor.index! + 1);
    const written = await put('token/waited', 'v');
    assert.equal(written.index, anchor.index! + 1, 'a quiet cluster: the next write takes the next index');
    const read = await pending;
    assert.equal(read.kv?.value.toString(), 'v');
    assert.ok(read.header!.appliedIndex >= written.index!, `answered at ${read.header!.appliedIndex}`);
  });

  test('a min_index the node does not reach in time: UNAVAILABLE (gRPC get and range, HTTP GET), never a stale answer', async () => {
    const follower = followers[1]!;
    const error = await get(follower, 'token/anchor', UNREACHED).then(
      () => assert.fail('answered although its min_index was never applied'),
      (e: CallError) => e,
    );
    assert.equal(error.detail?.code, 'UNAVAILABLE', error.message);
    const range = await unaryCall<RangeResponse>((cb) =>
      follower.kv.range(
        {
          prefix: Buffer.from('token/'),
          startAfter: Buffer.alloc(0),
          limit: 10,
          consistency: Consistency.SERIALIZABLE,
          keysOnly: false,
          minIndex: UNREACHED,
        },
        cb,
      ),
    ).then(
      () => assert.fail('range answered although its min_index was never applied'),
      (e: CallError) => e,
    );
    assert.equal(range.detail?.code, 'UNAVAILABLE', range.message);
    const http = await fetch(`http://${follower.httpAddress}/kv/token/anchor?consistency=serializable&min_index=${UNREACHED}`);
    assert.equal(http.status, 503);
    assert.equal(((await http.json()) as { code: string }).code, 'UNAVAILABLE');
    // A linearizable read covers every acknowledged write: it ignores the token.
    const linearizable = await unaryCall<GetResponse>((cb) =>
      leader.kv.get({ key: Buffer.from('token/anchor'), consistency: Consistency.LINEARIZABLE, minIndex: UNREACHED }, cb),
    );
    assert.equal(linearizable.kv?.value.toString(), 'x');
  });

  test(`HTTP: PUT answers the index; GET ?min_index= on a follower sees that write, ${ROUNDS / 4} rounds`, async () => {
    const stale: string[] = [];
    for (let round = 0; round < ROUNDS / 4; round++) {
      const value = `h${round}`;
      const response = await fetch(`http://${leader.httpAddress}/kv/token/http`, { method: 'PUT', body: value });
      assert.equal(response.status, 200);
      const { index } = (await response.json()) as { index: number };
      assert.ok(Number.isSafeInteger(index) && index > 0, `index ${index}`);
      const follower = followers[round % followers.length]!;
      const got = await fetch(`http://${follower.httpAddress}/kv/token/http?consistency=serializable&min_index=${index}`);
      const read = got.status === 200 ? await got.text() : `<status ${got.status}>`;
      if (read !== value) stale.push(`${value} read as ${read} on node ${follower.id}`);
    }
    assert.deepEqual(stale, []);
    const bad = await fetch(`http://${leader.httpAddress}/kv/token/http?consistency=serializable&min_index=-1`);
    assert.equal(bad.status, 400);
  });

  test(`put on the leader, then a serializable get on a follower with the put's index returns it, ${ROUNDS} rounds`, async () => {
    const stale: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const value = `v${round}`;
      const written = await put('token/follower', value);
      const follower = followers[round % followers.length]!;
      const read = (await get(follower, 'token/follower', written.index)).kv?.value.toString() ?? '<absent>';
      if (read !== value) stale.push(`${value} read as ${read} on node ${follower.id}`);
    }
    assert.deepEqual(stale, [], `${stale.length} of ${ROUNDS} follower reads missed the write whose index they carried`);
  });
});
