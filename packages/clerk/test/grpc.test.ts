// Goal: the real grpc-js unary path (`pipeline: false`) works end to end: requests are encoded, responses
// decoded, the `cairn-error-bin` trailer is rebuilt into typed errors (NOT_LEADER redirects,
// VALUE_TOO_LARGE), an unreachable endpoint is skipped, and sessions reach the server intact.
// Method: tiny in-test gRPC servers on 127.0.0.1:0 implement KVService over an in-memory map
// (with per-client dedup) and ClusterService.Members; one "follower" server answers every
// KV call with a NOT_LEADER trailer pointing at the leader.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ClusterServiceService, ErrorDetail, type KeyValue, KVServiceService, type WriteSession } from '@cairn/proto';
import { Clerk, type ClerkStatus, GrpcTransport, UnavailableError, ValueTooLargeError } from '../src/index.js';

const VALUE_BYTES_MAX = 64;

/** The fakes serve the unary KV methods only. */
const unary = () => ({ transport: new GrpcTransport({ pipeline: false }) });

function errorTrailer(detail: Partial<ErrorDetail> & { code: string }): grpc.Metadata {
  const metadata = new grpc.Metadata();
  const full = { message: '', leaderId: 0, leaderAddress: '', compactRevision: 0, ...detail };
  metadata.set('cairn-error-bin', Buffer.from(ErrorDetail.encode(full).finish()));
  return metadata;
}

function fail(code: string, extra: Partial<ErrorDetail> = {}): Partial<grpc.StatusObject> {
  return { code: grpc.status.FAILED_PRECONDITION, details: code, metadata: errorTrailer({ code, ...extra }) };
}

/** An in-memory KV "leader": enough of the contract to exercise the clerk. */
function leaderService(sessions: WriteSession[]) {
  const store = new Map<string, KeyValue>();
  let index = 0;
  const write = (key: Buffer, value: Buffer): KeyValue => {
    index += 1;
    const previous = store.get(key.toString('hex'));
    const kv = {
      key,
      value,
      version: (previous?.version ?? 0) + 1,
      createIndex: previous?.createIndex ?? index,
      modIndex: index,
      createRevision: previous?.createRevision ?? index,
      modRevision: index,
      lease: 0,
    };
    store.set(key.toString('hex'), kv);
    return kv;
  };
  const header = () => ({ memberId: 1, term: 1, appliedIndex: index, leaderId: 1, revision: index, clusterId: '' });
  return {
    put: (
      call: grpc.ServerUnaryCall<{ key: Buffer; value: Buffer; session?: WriteSession }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      if (call.request.session) sessions.push(call.request.session);
      if (call.request.value.length > VALUE_BYTES_MAX) return callback(fail('VALUE_TOO_LARGE'));
      callback(null, { header: header(), version: write(call.request.key, call.request.value).version });
    },
    get: (call: grpc.ServerUnaryCall<{ key: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      callback(null, { header: header(), kv: store.get(call.request.key.toString('hex')) });
    },
    append: (call: grpc.ServerUnaryCall<{ key: Buffer; value: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const previous = store.get(call.request.key.toString('hex'))?.value ?? Buffer.alloc(0);
      const kv = write(call.request.key, Buffer.concat([previous, call.request.value]));
      callback(null, { header: header(), version: kv.version, length: kv.value.length });
    },
    delete: (call: grpc.ServerUnaryCall<{ key: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      callback(null, { header: header(), deleted: store.delete(call.request.key.toString('hex')), count: 0, prevKvs: [] });
    },
    cas: (
      call: grpc.ServerUnaryCall<{ key: Buffer; value: Buffer; expectedValue?: Buffer; expectedVersion?: number }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      const current = store.get(call.request.key.toString('hex'));
      const { expectedValue, expectedVersion } = call.request;
      const matches =
        expectedValue !== undefined ? current?.value.equals(expectedValue) === true : (current?.version ?? 0) === expectedVersion;
      const kv = matches ? write(call.request.key, call.request.value) : current;
      callback(null, { header: header(), succeeded: matches, kv });
    },
    range: (call: grpc.ServerUnaryCall<{ prefix: Buffer; limit: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const kvs = [...store.values()].filter((kv) => kv.key.subarray(0, call.request.prefix.length).equals(call.request.prefix));
      kvs.sort((left, right) => Buffer.compare(left.key, right.key));
      const limit = call.request.limit || kvs.length;
      callback(null, { header: header(), kvs: kvs.slice(0, limit), more: kvs.length > limit });
    },
  };
}

/** A follower: every KV call answers NOT_LEADER with the leader's address. */
function followerService(leaderAddress: () => string) {
  const redirect = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
    callback(fail('NOT_LEADER', { leaderId: 1, leaderAddress: leaderAddress() }));
  return { put: redirect, get: redirect, append: redirect, delete: redirect, cas: redirect, range: redirect };
}

async function listen(server: grpc.Server): Promise<string> {
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return `127.0.0.1:${port}`;
}

describe('grpc connection', () => {
  const sessions: WriteSession[] = [];
  const leader = new grpc.Server();
  const follower = new grpc.Server();
  let leaderAddress = '';
  let followerAddress = '';
  let closedAddress = '';

  before(async () => {
    leader.addService(KVServiceService, leaderService(sessions));
    follower.addService(
      KVServiceService,
      followerService(() => leaderAddress),
    );
    const members = (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
      callback(null, {
        leaderId: 1,
        members: [
          { id: 1, peerAddress: '', clientAddress: leaderAddress, httpAddress: '', learner: false },
          { id: 2, peerAddress: '', clientAddress: followerAddress, httpAddress: '', learner: false },
        ],
      });
    const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback({ code: grpc.status.UNIMPLEMENTED });
    const cluster = {
      status: unimplemented,
      members,
      addLearner: unimplemented,
      promote: unimplemented,
      removeMember: unimplemented,
      transferLeader: unimplemented,
      snapshot: unimplemented,
      injectFault: unimplemented,
    };
    leader.addService(ClusterServiceService, cluster);
    follower.addService(ClusterServiceService, cluster);
    leaderAddress = await listen(leader);
    followerAddress = await listen(follower);
    const closed = new grpc.Server();
    closedAddress = await listen(closed);
    closed.forceShutdown();
  });

  after(() => {
    leader.forceShutdown();
    follower.forceShutdown();
  });

  test('a clerk pointed at a follower and a dead port finds the leader and round-trips every KV call', async () => {
    const clerk = Clerk.lazy(
      { endpoints: [closedAddress, followerAddress], clientId: 'grpc-test', deadlineMs: 5_000, membersRefreshMs: 0 },
      unary(),
    );
    const events: ClerkStatus[] = [];
    const collecting = (async () => {
      for await (const event of clerk.statusEvents()) events.push(event);
    })();
    try {
      assert.deepEqual(await clerk.put('app/a', 'one'), { version: 1, prevKv: undefined, revision: 0 });
      assert.ok(
        events.some((event) => event.type === 'redirect' && event.to === leaderAddress),
        'followed the NOT_LEADER trailer',
      );
      assert.equal(clerk.knownLeader()?.address, leaderAddress);
      assert.ok(
        events.some((event) => event.type === 'unavailable' && event.address === closedAddress),
        'skipped the dead port',
      );

      const kv = await clerk.get('app/a');
      assert.equal(kv?.value.toString(), 'one');
      assert.equal(kv?.version, 1);
      assert.ok(Buffer.isBuffer(kv?.key));
      assert.deepEqual(await clerk.append('app/a', '+two'), { version: 2, length: 7 });
      assert.equal((await clerk.cas('app/a', { expectedValue: 'one+two' }, 'three')).succeeded, true);
      assert.equal((await clerk.cas('app/a', { expectedVersion: 1 }, 'four')).succeeded, false);
      await clerk.put('app/b', new Uint8Array([0, 255]));
      const page = await clerk.range('app/', { limit: 1 });
      assert.deepEqual(
        page.kvs.map((entry) => entry.value.toString()),
        ['three'],
      );
      assert.equal(page.more, true);
      const deleted = await clerk.delete('app/a');
      assert.deepEqual({ ...deleted, revision: undefined }, { deleted: true, count: 1, prevKvs: [], revision: undefined });
      assert.equal(await clerk.get('app/a'), undefined);

      await assert.rejects(clerk.put('big', 'x'.repeat(VALUE_BYTES_MAX + 1)), ValueTooLargeError);
      assert.deepEqual(sessions.slice(0, 2), [
        { clientId: 'grpc-test', seq: 1 },
        { clientId: 'grpc-test', seq: 5 },
      ]);
    } finally {
      clerk.close();
      await collecting;
    }
  });

  test('connect learns the leader and the member addresses from Members', async () => {
    const clerk = await Clerk.connect({ endpoints: [followerAddress], deadlineMs: 5_000 }, unary());
    try {
      assert.deepEqual(clerk.knownLeader(), { address: leaderAddress, leaderId: 1 });
      assert.deepEqual(clerk.endpoints(), [followerAddress, leaderAddress]);
      assert.equal((await clerk.members()).members.length, 2);
    } finally {
      clerk.close();
    }
  });

  test('a write to a port where nothing listens is a definite UnavailableError, not an unknown outcome', async () => {
    const clerk = Clerk.lazy({ endpoints: [closedAddress], deadlineMs: 400, requestTimeoutMs: 200, retry: { initialMs: 20, maxMs: 50 } });
    try {
      await assert.rejects(clerk.put('k', 'v'), UnavailableError);
    } finally {
      clerk.close();
    }
  });

  test('connect fails with UnavailableError when nothing listens', async () => {
    await assert.rejects(Clerk.connect({ endpoints: [closedAddress], deadlineMs: 500, requestTimeoutMs: 200 }), UnavailableError);
  });
});
