// Goal: a started node serves reads at a revision, txn, prefix delete and
// compaction over gRPC, the pipeline and HTTP, with typed errors (COMPACTED
// naming the compact revision, FUTURE_REVISION, INVALID_ARGUMENT) that leave
// the store unchanged, and the leader compacts past --history-revisions.
// Method: one real node process with a small --history-revisions; calls
// through the gRPC clients of the testkit and node:http.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import {
  CompareResult,
  CompareTarget,
  Consistency,
  type CompactResponse,
  type DeleteResponse,
  type GetResponse,
  type PutResponse,
  type RangeResponse,
  type TxnRequest,
  type TxnResponse,
} from '@cairn/proto';
import { type CallError, type NodeProcess, TestCluster, unaryCall, waitFor } from '@cairn/testkit';

const HISTORY_REVISIONS = 50;
const b = (text: string): Buffer => Buffer.from(text);

function send(
  node: NodeProcess,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const [host, port] = node.httpAddress.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text, headers: response.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function errorOf(call: Promise<unknown>): Promise<CallError> {
  try {
    await call;
  } catch (error) {
    return error as CallError;
  }
  assert.fail('the call succeeded');
}

describe('history, txn and compaction through a node', () => {
  let cluster: TestCluster;
  let node: NodeProcess;
  const put = (key: string, value: string): Promise<PutResponse> =>
    unaryCall<PutResponse>((cb) => node.kv.put({ key: b(key), value: b(value), prevKv: false }, cb));
  const get = (key: string, revision: number): Promise<GetResponse> =>
    unaryCall<GetResponse>((cb) => node.kv.get({ key: b(key), consistency: Consistency.LINEARIZABLE, revision }, cb));
  const txn = (request: TxnRequest): Promise<TxnResponse> => unaryCall<TxnResponse>((cb) => node.kv.txn(request, cb));

  before(async () => {
    cluster = await TestCluster.start({ size: 1, extraArgs: ['--history-revisions', String(HISTORY_REVISIONS)] });
    node = await cluster.waitForLeader();
  });
  after(async () => {
    await cluster?.stop();
  });

  test('get and range at a revision; FUTURE_REVISION above the current one', async () => {
    const first = await put('r/a', '1');
    await put('r/b', '1');
    const third = await put('r/a', '2');
    const at = await get('r/a', first.header!.revision);
    assert.equal(at.kv?.value.toString(), '1');
    assert.equal(at.header!.revision, first.header!.revision, 'the header names the revision read at');
    assert.equal((await get('r/a', third.header!.revision)).kv?.value.toString(), '2');
    const range = await unaryCall<RangeResponse>((cb) =>
      node.kv.range(
        {
          prefix: b('r/'),
          startAfter: Buffer.alloc(0),
          limit: 0,
          consistency: Consistency.LINEARIZABLE,
          keysOnly: false,
          revision: first.header!.revision,
        },
        cb,
      ),
    );
    assert.deepEqual(
      range.kvs.map((kv) => kv.key.toString()),
      ['r/a'],
    );
    const future = await errorOf(get('r/a', third.header!.revision + 1000));
    assert.equal(future.detail?.code, 'FUTURE_REVISION');
    const http = await send(node, 'GET', `/kv/r/a?rev=${first.header!.revision}`);
    assert.equal(http.status, 200);
    assert.equal(http.body, '1');
    assert.equal(http.headers['x-cairn-revision'], String(first.header!.revision));
  });

  test('txn over gRPC and HTTP; bad txns are typed errors with nothing applied', async () => {
    const created = await put('t/lock', 'free');
    const won = await txn({
      compare: [{ key: b('t/lock'), target: CompareTarget.VALUE, result: CompareResult.EQUAL, value: b('free') }],
      success: [
        { put: { key: b('t/lock'), value: b('held'), prevKv: false } },
        { put: { key: b('t/owner'), value: b('me'), prevKv: false } },
      ],
      failure: [{ get: { key: b('t/lock'), consistency: 0 } }],
    });
    assert.equal(won.succeeded, true);
    assert.equal(won.header!.revision, created.header!.revision + 1, 'both writes at one revision');
    const before = (await get('t/owner', 0)).header!.revision;
    const tooMany = await errorOf(
      txn({
        compare: [],
        success: Array.from({ length: 129 }, (_, i) => ({ put: { key: b(`t/${i}`), value: b('x'), prevKv: false } })),
        failure: [],
      }),
    );
    assert.equal(tooMany.detail?.code, 'INVALID_ARGUMENT');
    const noOperand = await errorOf(
      txn({ compare: [{ key: b('t/lock'), target: CompareTarget.VERSION, result: CompareResult.EQUAL }], success: [], failure: [] }),
    );
    assert.equal(noOperand.detail?.code, 'INVALID_ARGUMENT');
    assert.equal((await get('t/owner', 0)).header!.revision, before, 'nothing applied');

    const body = JSON.stringify({
      compare: [{ key: 't/lock', target: 'value', result: '=', value: 'held' }],
      success: [{ put: { key: 't/lock', value: 'free' } }, { get: { key: 't/owner' } }],
    });
    const http = await send(node, 'POST', '/txn', body);
    assert.equal(http.status, 200, http.body);
    const reply = JSON.parse(http.body) as { succeeded: boolean; revision: number; responses: Array<{ get?: { kv?: { value: string } } }> };
    assert.equal(reply.succeeded, true);
    assert.equal(reply.responses[1]!.get!.kv!.value, 'me');
    const bad = await send(node, 'POST', '/txn', JSON.stringify({ compare: [{ key: 't/lock', target: 'version', result: '=' }] }));
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.body) as { code: string }).code, 'INVALID_ARGUMENT');
  });

  test('prefix delete over gRPC and HTTP removes every key at one revision', async () => {
    for (const key of ['d/1', 'd/2', 'd/3', 'e/1']) await put(key, 'x');
    const deleted = await unaryCall<DeleteResponse>((cb) => node.kv.delete({ key: b('d/'), prefix: true, prevKv: true }, cb));
    assert.equal(deleted.count, 3);
    assert.deepEqual(
      deleted.prevKvs.map((kv) => kv.key.toString()),
      ['d/1', 'd/2', 'd/3'],
    );
    await put('f/1', 'x');
    await put('f/2', 'x');
    const http = await send(node, 'DELETE', '/kv/f/?prefix=1');
    assert.equal(http.status, 200);
    assert.equal((JSON.parse(http.body) as { count: number }).count, 2);
    assert.equal((await get('e/1', 0)).kv?.value.toString(), 'x');
  });

  test('the leader compacts past --history-revisions; reads below get COMPACTED; compact() refuses the future', async () => {
    const start = await put('c/k', '0');
    for (let i = 1; i <= 3 * HISTORY_REVISIONS; i++) await put('c/k', String(i));
    const compacted = await waitFor(
      async () => {
        const error = await get('c/k', start.header!.revision).then(
          () => undefined,
          (e: unknown) => e as CallError,
        );
        return error?.detail?.code === 'COMPACTED' ? error.detail.compactRevision : undefined;
      },
      { what: 'an automatic compaction' },
    );
    assert.ok(compacted > start.header!.revision);
    const latest = (await get('c/k', 0)).header!.revision;
    assert.ok(latest - compacted <= HISTORY_REVISIONS + HISTORY_REVISIONS / 10 + 1, `kept ${latest - compacted} revisions`);
    assert.equal((await get('c/k', compacted)).kv?.modRevision, compacted, 'the compacted revision itself stays readable');
    const future = await errorOf(unaryCall<CompactResponse>((cb) => node.kv.compact({ revision: latest + 1000 }, cb)));
    assert.equal(future.detail?.code, 'FUTURE_REVISION');
    const done = await unaryCall<CompactResponse>((cb) => node.kv.compact({ revision: latest }, cb));
    assert.equal(done.header!.revision, latest);
    const http = await send(node, 'GET', `/kv/c/k?rev=${latest - 1}`);
    assert.equal(http.status, 410, http.body);
    assert.deepEqual(
      (({ code, compactRevision }) => ({ code, compactRevision }))(JSON.parse(http.body) as { code: string; compactRevision: number }),
      { code: 'COMPACTED', compactRevision: latest },
    );
  });
});
