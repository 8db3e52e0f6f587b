// Goal: KVService.Pipeline runs each op exactly like its unary call and answers
// it by id: several ops in one message each get their own result, a bad op
// (no operation, oversized key) gets a typed error result without disturbing
// the others or the stream, and a node stopping with SIGTERM ends its open
// streams cleanly (status OK) instead of leaving them to a dropped connection.
// Method: one real node; a raw generated client writes PipelineRequests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Consistency, type PipelineOp, type PipelineRequest, type PipelineResponse, type PipelineResult } from '@cairn/proto';
import { TestCluster, waitFor } from '@cairn/testkit';

type Stream = grpc.ClientDuplexStream<PipelineRequest, PipelineResponse>;

/** Collects results by id, and the stream's final status. */
function collect(stream: Stream): { results: Map<number, PipelineResult>; status: () => grpc.StatusObject | undefined } {
  const results = new Map<number, PipelineResult>();
  let status: grpc.StatusObject | undefined;
  stream.on('data', (response: PipelineResponse) => {
    for (const result of response.results) results.set(result.id, result);
  });
  stream.on('status', (s: grpc.StatusObject) => (status = s));
  stream.on('error', () => {});
  return { results, status: () => status };
}

async function results(collected: ReturnType<typeof collect>, ids: number[]): Promise<PipelineResult[]> {
  await waitFor(() => ids.every((id) => collected.results.has(id)), { deadlineMs: 15_000, what: `results ${ids.join(',')}` });
  return ids.map((id) => collected.results.get(id)!);
}

describe('KVService.Pipeline', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ size: 1 });
    await cluster.waitForLeader();
  });
  after(async () => {
    await cluster?.stop();
  });

  test('ops in one message are answered by id; bad ops get typed errors and the stream keeps serving', async () => {
    const stream = cluster.node(1).kv.pipeline();
    const collected = collect(stream);
    const session = { clientId: 'pipeline-test', seq: 1 };
    const ops: PipelineOp[] = [
      { id: 7, put: { key: Buffer.from('p/a'), value: Buffer.from('one'), session, prevKv: false } },
      { id: 8 },
      { id: 9, put: { key: Buffer.alloc(5000, 1), value: Buffer.from('x'), session: { clientId: 'pipeline-test-2', seq: 1 }, prevKv: false } },
    ];
    stream.write({ ops });
    const [put, empty, tooLarge] = await results(collected, [7, 8, 9]);
    assert.equal(put!.put?.version, 1);
    assert.equal(put!.error, undefined);
    assert.equal(empty!.error?.code, 'INVALID_ARGUMENT');
    assert.equal(tooLarge!.error?.code, 'KEY_TOO_LARGE');

    stream.write({
      ops: [
        { id: 10, get: { key: Buffer.from('p/a'), consistency: Consistency.LINEARIZABLE } },
        { id: 11, append: { key: Buffer.from('p/a'), value: Buffer.from('+two'), session: { clientId: 'pipeline-test', seq: 2 } } },
      ],
    });
    const [get, append] = await results(collected, [10, 11]);
    assert.equal(Buffer.from(get!.get!.kv!.value).toString(), 'one');
    assert.equal(append!.append?.length, 'one+two'.length);

    // A retry of the same session seq is answered from the session table, not applied twice.
    stream.write({ ops: [{ id: 12, append: { key: Buffer.from('p/a'), value: Buffer.from('+two'), session: { clientId: 'pipeline-test', seq: 2 } } }] });
    const [retry] = await results(collected, [12]);
    assert.equal(retry!.append?.length, 'one+two'.length);
    stream.end();
    await waitFor(() => collected.status(), { deadlineMs: 10_000, what: 'the stream to end after the client half-closed' });
    assert.equal(collected.status()!.code, grpc.status.OK);
  });

  test('a node stopping with SIGTERM ends its open pipeline streams with status OK', async () => {
    const stream = cluster.node(1).kv.pipeline();
    const collected = collect(stream);
    stream.write({ ops: [{ id: 1, get: { key: Buffer.from('p/a'), consistency: Consistency.SERIALIZABLE } }] });
    await results(collected, [1]);
    assert.equal(collected.status(), undefined, 'the stream stays open while the node runs');
    assert.equal(await cluster.terminate(cluster.node(1)), 0);
    await waitFor(() => collected.status(), { deadlineMs: 10_000, what: 'the stream to end' });
    assert.equal(collected.status()!.code, grpc.status.OK);
  });
});
