// Goal: KVService.Pipeline runs each op exactly like its unary call and answers
// it by id: several ops in one message each get their own result, a bad op
// (no operation, oversized key) gets a typed error result without disturbing
// the others or the stream, and a node stopping with SIGTERM ends its open
// streams cleanly (status OK) instead of leaving them to a dropped connection.
// The raw KV link (CLIENT_LINK_MAGIC on the same port) echoes its magic and
// serves the same ops, answering those still running when the client
// half-closes; a link that sends bytes that are not PipelineRequest frames is
// closed without disturbing the node, and stopping ends raw links with a
// clean close after their finished results.
// Method: one real node; a raw generated client writes PipelineRequests, and
// a plain socket speaks the raw link.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  CLIENT_LINK_MAGIC,
  Consistency,
  encodeFrame,
  FrameReader,
  type PipelineOp,
  PipelineRequest,
  PipelineResponse,
  type PipelineResult,
} from '@cairn/proto';
import { metricSum, TestCluster, waitFor } from '@cairn/testkit';

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

interface RawLink {
  readonly socket: net.Socket;
  readonly results: Map<number, PipelineResult>;
  echoed(): boolean;
  /** How the node closed the link: 'end' (a clean FIN) or 'close' without one; undefined while open. */
  closedBy(): 'end' | 'close' | undefined;
  send(request: PipelineRequest): void;
}

/** Speaks the raw KV link to `address` with a plain socket. */
function rawLink(address: string): RawLink {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const socket = net.connect({ host, port });
  const results = new Map<number, PipelineResult>();
  const reader = new FrameReader(64 * 1024 * 1024);
  let head = Buffer.alloc(0);
  let echoed = false;
  let closedBy: 'end' | 'close' | undefined;
  socket.write(CLIENT_LINK_MAGIC);
  socket.on('data', (chunk: Buffer) => {
    let data = chunk;
    if (!echoed) {
      head = Buffer.concat([head, chunk]);
      if (head.length < CLIENT_LINK_MAGIC.length) return;
      assert.deepEqual(head.subarray(0, CLIENT_LINK_MAGIC.length), CLIENT_LINK_MAGIC, 'the node echoes the magic first');
      echoed = true;
      data = head.subarray(CLIENT_LINK_MAGIC.length);
    }
    for (const frame of reader.push(data)) for (const result of PipelineResponse.decode(frame).results) results.set(result.id, result);
  });
  socket.on('end', () => (closedBy ??= 'end'));
  socket.on('close', () => (closedBy ??= 'close'));
  socket.on('error', () => undefined);
  return {
    socket,
    results,
    echoed: () => echoed,
    closedBy: () => closedBy,
    send: (request) => socket.write(encodeFrame(PipelineRequest.encode(request).finish())),
  };
}

async function rawResults(link: RawLink, ids: number[]): Promise<PipelineResult[]> {
  await waitFor(() => ids.every((id) => link.results.has(id)), { deadlineMs: 15_000, what: `raw link results ${ids.join(',')}` });
  return ids.map((id) => link.results.get(id)!);
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
      {
        id: 9,
        put: { key: Buffer.alloc(5000, 1), value: Buffer.from('x'), session: { clientId: 'pipeline-test-2', seq: 1 }, prevKv: false },
      },
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
    stream.write({
      ops: [{ id: 12, append: { key: Buffer.from('p/a'), value: Buffer.from('+two'), session: { clientId: 'pipeline-test', seq: 2 } } }],
    });
    const [retry] = await results(collected, [12]);
    assert.equal(retry!.append?.length, 'one+two'.length);
    stream.end();
    await waitFor(() => collected.status(), { deadlineMs: 10_000, what: 'the stream to end after the client half-closed' });
    assert.equal(collected.status()!.code, grpc.status.OK);
  });

  test('the raw KV link echoes its magic and answers the same ops by id, with the same errors', async () => {
    const link = rawLink(cluster.node(1).grpcAddress);
    const session = { clientId: 'raw-link-test', seq: 1 };
    link.send({
      ops: [
        { id: 1, put: { key: Buffer.from('raw/a'), value: Buffer.from('one'), session, prevKv: false } },
        { id: 2 },
        {
          id: 3,
          put: { key: Buffer.alloc(5000, 1), value: Buffer.from('x'), session: { clientId: 'raw-link-test-2', seq: 1 }, prevKv: false },
        },
      ],
    });
    const [put, empty, tooLarge] = await rawResults(link, [1, 2, 3]);
    assert.ok(link.echoed());
    assert.equal(put!.put?.version, 1);
    assert.equal(empty!.error?.code, 'INVALID_ARGUMENT');
    assert.equal(tooLarge!.error?.code, 'KEY_TOO_LARGE');
    link.send({ ops: [{ id: 4, get: { key: Buffer.from('raw/a'), consistency: Consistency.LINEARIZABLE } }] });
    const [get] = await rawResults(link, [4]);
    assert.equal(Buffer.from(get!.get!.kv!.value).toString(), 'one');
    assert.equal(await metricSum('cairn_pipeline_streams_raw', cluster.node(1).httpAddress), 1);
    // A half-close right behind an op: the op is still answered, then the node ends the link, as
    // the gRPC stream does.
    link.send({
      ops: [{ id: 5, append: { key: Buffer.from('raw/a'), value: Buffer.from('+two'), session: { clientId: 'raw-link-test', seq: 2 } } }],
    });
    link.socket.end();
    const [append] = await rawResults(link, [5]);
    assert.equal(append!.append?.length, 'one+two'.length);
    await waitFor(() => link.closedBy(), { deadlineMs: 10_000, what: 'the node to close the half-closed link' });
    assert.equal(link.closedBy(), 'end');
    assert.equal(await metricSum('cairn_pipeline_streams_raw', cluster.node(1).httpAddress), 0);
  });

  test('a raw link that sends something other than PipelineRequest frames is closed; the node keeps serving', async () => {
    const junk = rawLink(cluster.node(1).grpcAddress);
    junk.socket.write(encodeFrame(Buffer.from([0xff, 0xff, 0xff, 0xff])));
    const oversized = rawLink(cluster.node(1).grpcAddress);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffff_fff0);
    oversized.socket.write(header);
    await waitFor(() => junk.closedBy() && oversized.closedBy(), { deadlineMs: 10_000, what: 'both bad links to be closed' });
    const good = rawLink(cluster.node(1).grpcAddress);
    good.send({ ops: [{ id: 1, get: { key: Buffer.from('raw/a'), consistency: Consistency.LINEARIZABLE } }] });
    const [get] = await rawResults(good, [1]);
    assert.equal(Buffer.from(get!.get!.kv!.value).toString(), 'one+two');
    good.socket.destroy();
  });

  test('a node stopping with SIGTERM ends its open pipeline streams with status OK, and its raw links with a clean close', async () => {
    const stream = cluster.node(1).kv.pipeline();
    const collected = collect(stream);
    stream.write({ ops: [{ id: 1, get: { key: Buffer.from('p/a'), consistency: Consistency.SERIALIZABLE } }] });
    await results(collected, [1]);
    const link = rawLink(cluster.node(1).grpcAddress);
    link.send({ ops: [{ id: 1, get: { key: Buffer.from('p/a'), consistency: Consistency.SERIALIZABLE } }] });
    await rawResults(link, [1]);
    assert.equal(collected.status(), undefined, 'the stream stays open while the node runs');
    assert.equal(link.closedBy(), undefined, 'the raw link stays open while the node runs');
    assert.equal(await cluster.terminate(cluster.node(1)), 0);
    await waitFor(() => collected.status() && link.closedBy(), { deadlineMs: 10_000, what: 'the stream and the link to end' });
    assert.equal(collected.status()!.code, grpc.status.OK, JSON.stringify(collected.status()));
    assert.equal(link.closedBy(), 'end');
  });
});
