import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompareResult, CompareTarget, type HistoryRecord, type LeaseKeepAliveResponse, type TxnRequest } from '@cairn/proto';
import { Clerk, compare, InvalidArgumentError, LeaseNotFoundError, NotLeaderError, op, TimeoutError } from '../src/index.js';
import { reply, ScriptedTransport } from '../src/testing.js';
import { type FakeStream, FakeStreamTransport } from './fake-streams.js';

const header = (revision: number) => ({ memberId: 1, term: 1, appliedIndex: 5, leaderId: 1, revision, clusterId: '' });

test('txn sends the compares and both branches with the write session, and maps the responses', async () => {
  const transport = new ScriptedTransport({
    steps: [
      {
        method: 'txn',
        reply: reply.ok({
          header: header(42),
          succeeded: false,
          responses: [
            {
              get: {
                kv: {
                  key: Buffer.from('lock'),
                  value: Buffer.from('x'),
                  version: 3,
                  createRevision: 7,
                  modRevision: 9,
                  lease: 5,
                  createIndex: 0,
                  modIndex: 0,
                },
              },
            },
          ],
        }),
      },
    ],
  });
  const clerk = Clerk.lazy({ endpoints: ['a:1'], clientId: 'txn-test', membersRefreshMs: 0 }, { transport });
  try {
    const result = await clerk.txn({
      if: [compare.createRevision('lock', '=', 0), compare.value('cfg', '!=', 'off')],
      then: [op.put('lock', 'me', { lease: 5 }), op.delete('tmp/', { prefix: true })],
      else: [op.get('lock')],
    });
    assert.equal(result.succeeded, false);
    assert.equal(result.revision, 42);
    assert.deepEqual(
      result.responses.map((r) => r.type === 'get' && [r.kv?.createRevision, r.kv?.modRevision, r.kv?.lease]),
      [[7, 9, 5]],
    );
    const sent = transport.callsOf('txn')[0]!.request as TxnRequest;
    assert.deepEqual(sent.session, { clientId: 'txn-test', seq: 1 });
    assert.deepEqual(
      sent.compare.map((c) => [c.target, c.result, c.key.toString()]),
      [
        [CompareTarget.CREATE, CompareResult.EQUAL, 'lock'],
        [CompareTarget.VALUE, CompareResult.NOT_EQUAL, 'cfg'],
      ],
    );
    assert.equal(sent.success[0]?.put?.lease, 5);
    assert.equal(sent.success[1]?.delete?.prefix, true);
    assert.equal(sent.failure[0]?.get?.key.toString(), 'lock');
  } finally {
    clerk.close();
  }
});

test('txn and lease arguments are checked before anything is sent', async () => {
  const transport = new ScriptedTransport();
  const clerk = Clerk.lazy({ endpoints: ['a:1'], membersRefreshMs: 0 }, { transport });
  try {
    assert.throws(() => compare.version('k', '>=' as never, 1), InvalidArgumentError);
    assert.throws(() => compare.version('', '=', 1), InvalidArgumentError);
    assert.throws(() => op.put('k', 'v', { lease: -1 }), InvalidArgumentError);
    await assert.rejects(clerk.txn({ then: [{} as never] }), InvalidArgumentError);
    await assert.rejects(clerk.grant(0), InvalidArgumentError);
    await assert.rejects(clerk.revoke(1.5), InvalidArgumentError);
    await assert.rejects(clerk.get('k', { revision: 0 }), InvalidArgumentError);
    await assert.rejects(clerk.compact(0), InvalidArgumentError);
    assert.deepEqual(transport.callsOf(), []);
  } finally {
    clerk.close();
  }
});

function keepAliveAnswer(id: number, ttl: number): LeaseKeepAliveResponse {
  return { header: header(1), id, ttl };
}

function leaseTransport(): FakeStreamTransport {
  return new FakeStreamTransport((_address, method) => {
    if (method === 'leaseGrant') return { header: header(3), id: 77, ttl: 1 };
    if (method === 'leaseRevoke') return { header: header(4), deleted: 2 };
    return {};
  });
}

test('a kept lease is renewed over one stream; when the node says it is gone (TTL 0) its signal fires with LeaseNotFoundError', async () => {
  const transport = leaseTransport();
  let answered = 0;
  transport.onOpen = (stream) => {
    const keepAlive = stream as FakeStream<'leaseKeepAlive'>;
    // Answers every keep-alive written so far, then the next ones as they come; the third says the lease is gone.
    const timer = setInterval(() => {
      while (keepAlive.written.length > answered) {
        answered += 1;
        keepAlive.send(keepAliveAnswer(77, answered >= 3 ? 0 : 1));
      }
    }, 20);
    timer.unref();
  };
  const clerk = Clerk.lazy({ endpoints: ['a:1'], membersRefreshMs: 0 }, { transport });
  try {
    const lease = await clerk.lease(1);
    assert.equal(lease.id, 77);
    const reason = await new Promise<unknown>((resolve) => lease.signal.addEventListener('abort', () => resolve(lease.signal.reason)));
    assert.ok(reason instanceof LeaseNotFoundError, String(reason));
    assert.equal(transport.streamsOf('leaseKeepAlive').length, 1, 'one stream carried every keep-alive');
    assert.ok(answered >= 3);
  } finally {
    clerk.close();
  }
});

test('a lease whose keep-alives go unanswered is lost after its TTL (TimeoutError)', async () => {
  const transport = leaseTransport();
  const clerk = Clerk.lazy({ endpoints: ['a:1'], membersRefreshMs: 0, requestTimeoutMs: 60_000 }, { transport });
  try {
    const lease = await clerk.lease(1);
    const reason = await new Promise<unknown>((resolve) => lease.signal.addEventListener('abort', () => resolve(lease.signal.reason)));
    assert.ok(reason instanceof TimeoutError, String(reason));
  } finally {
    clerk.close();
  }
});

test('the keep-alive stream follows a NOT_LEADER hint to the leader; revoke() aborts the signal and revokes', async () => {
  const transport = leaseTransport();
  transport.onOpen = (stream) => {
    const keepAlive = stream as FakeStream<'leaseKeepAlive'>;
    if (keepAlive.address === 'a:1') keepAlive.end(new NotLeaderError(2, 'b:1'));
    else keepAlive.send(keepAliveAnswer(77, 1));
  };
  const clerk = Clerk.lazy({ endpoints: ['a:1', 'b:1'], membersRefreshMs: 0 }, { transport });
  try {
    const lease = await clerk.lease(1);
    await clerk.keepAliveOnce(77).catch(() => undefined);
    const answered = await clerk.keepAliveOnce(77);
    assert.equal(answered.ttl, 1);
    const streams = transport.streamsOf('leaseKeepAlive');
    assert.equal(streams.at(-1)?.address, 'b:1');
    await lease.revoke();
    assert.ok(lease.signal.aborted);
    assert.deepEqual(
      transport.calls.filter((call) => call.method === 'leaseRevoke').map((call) => (call.request as { id: number }).id),
      [77],
    );
    assert.equal(streams.at(-1)?.cancelled, true, 'with no lease left the stream closes');
  } finally {
    clerk.close();
  }
});

test('keepAliveOnce of a lease the clerk does not keep answers the TTL and leaves no stream open; TTL 0 is LeaseNotFoundError', async () => {
  const transport = leaseTransport();
  transport.onOpen = (stream) => {
    const keepAlive = stream as FakeStream<'leaseKeepAlive'>;
    const id = keepAlive.written[0]?.id ?? 0;
    keepAlive.send(keepAliveAnswer(id, id === 5 ? 4 : 0));
  };
  const clerk = Clerk.lazy({ endpoints: ['a:1'], membersRefreshMs: 0 }, { transport });
  try {
    assert.deepEqual(await clerk.keepAliveOnce(5), { id: 5, ttl: 4 });
    assert.equal(transport.streamsOf('leaseKeepAlive')[0]?.cancelled, true);
    await assert.rejects(clerk.keepAliveOnce(6), LeaseNotFoundError);
  } finally {
    clerk.close();
  }
});

test('with a history, a txn is recorded with its compares, branches, results and revision', async () => {
  const records: HistoryRecord[] = [];
  const transport = new ScriptedTransport({
    steps: [
      {
        method: 'txn',
        reply: reply.ok({
          header: header(9),
          succeeded: true,
          responses: [
            { put: { header: header(9), version: 1 } },
            {
              range: {
                kvs: [
                  {
                    key: Buffer.from('a'),
                    value: Buffer.from([0xff]),
                    version: 2,
                    createRevision: 3,
                    modRevision: 9,
                    lease: 0,
                    createIndex: 0,
                    modIndex: 0,
                  },
                ],
                more: false,
              },
            },
          ],
        }),
      },
      { method: 'txn', reply: reply.serverError('INVALID_ARGUMENT', 'too many ops') },
    ],
  });
  const clerk = Clerk.lazy(
    { endpoints: ['a:1'], clientId: 'h', membersRefreshMs: 0, history: { record: (r) => records.push(r) } },
    { transport },
  );
  try {
    await clerk.txn({
      if: [compare.version('a', '>', 1)],
      then: [op.put('a', 'x', { lease: 4 }), op.range('a')],
      else: [op.delete('b/', { prefix: true })],
    });
    await assert.rejects(clerk.txn({ then: [op.get('a')] }), InvalidArgumentError);
    assert.deepEqual(
      records.map((r) => [r.type, r.op, r.id]),
      [
        ['invoke', 'txn', 1],
        ['ok', 'txn', 1],
        ['invoke', 'txn', 2],
        ['fail', 'txn', 2],
      ],
    );
    assert.deepEqual(records[0]!.txn, {
      compare: [{ key: 'a', target: 'version', op: '>', operand: 1 }],
      success: [
        { op: 'put', key: 'a', value: 'x', lease: 4 },
        { op: 'range', key: 'a' },
      ],
      failure: [{ op: 'delete', key: 'b/', prefix: true }],
    });
    const ok = records[1]!;
    assert.equal(ok.result, true);
    assert.equal(ok.revision, 9);
    // The result holds a value that is not UTF-8: the whole record is base64.
    assert.equal(ok.binary, true);
    assert.deepEqual(ok.txnResult, {
      succeeded: true,
      results: [
        { op: 'put' },
        {
          op: 'range',
          kvs: [
            {
              key: Buffer.from('a').toString('base64'),
              value: Buffer.from([0xff]).toString('base64'),
              version: 2,
              createRevision: 3,
              modRevision: 9,
              lease: 0,
            },
          ],
        },
      ],
    });
    assert.equal(records[3]!.error, 'INVALID_ARGUMENT');
  } finally {
    clerk.close();
  }
});
