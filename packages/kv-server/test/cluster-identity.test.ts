// Goal: two clusters started with the same default flags never mix (issue 17
// §3). Each has its own cluster id, derived from its name and initial
// members; a node started with one cluster's flags on the other's data dir
// refuses to start, naming both; every client answer names the cluster.
// Method: real cairn-server processes through testkit's TestCluster: cluster
// A (nodes 1..3) and cluster B (one node, `--id 3`), both with the same
// `--cluster-id`, as the report ran them. A's node 3 is then started
// with A's flags on B's data dir.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import { CLIENT_LINK_MAGIC, CLUSTER_ID_HEADER, Consistency, KVServiceClient, MessageReader, PipelineResponse } from '@cairn/proto';
import { type NodeProcess, TestCluster, unaryCall, waitFor } from '@cairn/testkit';
import { deriveClusterId } from '../src/cluster-identity.js';

describe('cluster identity', () => {
  let a: TestCluster;
  let b: TestCluster;
  let bNode: NodeProcess;

  before(async () => {
    a = await TestCluster.start({ size: 3 });
    b = await TestCluster.start({ size: 0 });
    bNode = await b.addNodeSlot(3);
    await b.launch(bNode);
    await a.waitForLeader();
    await b.waitForLeader();
    const aLeader = await a.waitForLeader();
    await unaryCall((cb) => aLeader.kv.put({ key: Buffer.from('owner'), value: Buffer.from('cluster A'), prevKv: false }, cb));
    await unaryCall((cb) => bNode.kv.put({ key: Buffer.from('owner'), value: Buffer.from('cluster B'), prevKv: false }, cb));
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  test('each cluster has its own id, derived from its name and initial members, shown by /status', async () => {
    const aStatus = await a.status(a.node(1));
    const bStatus = await b.status(bNode);
    assert.equal(aStatus.clusterId, deriveClusterId('test', [1, 2, 3]));
    assert.equal(bStatus.clusterId, deriveClusterId('test', [3]));
    assert.notEqual(aStatus.clusterId, bStatus.clusterId);
    for (const node of a.nodes) assert.equal((await a.status(node)).clusterId, aStatus.clusterId, `node ${node.id} agrees`);
    const http = await (await fetch(`http://${bNode.httpAddress}/status`)).json() as { clusterId: string };
    assert.equal(http.clusterId, bStatus.clusterId);
  });

  test('every client answer names the cluster: gRPC headers and error trailers, HTTP, the pipeline\'s first message', async () => {
    const expected = deriveClusterId('test', [1, 2, 3]);
    const node = a.node(1);
    const headers = await new Promise<grpc.Metadata>((resolve, reject) => {
      const call = node.kv.get({ key: Buffer.from('owner'), consistency: Consistency.SERIALIZABLE }, (error) => error && reject(error));
      call.on('metadata', resolve);
    });
    assert.deepEqual(headers.get(CLUSTER_ID_HEADER), [expected]);
    // A failed call (an empty key is invalid) names it in its trailers.
    const failure = await new Promise<grpc.ServiceError>((resolve) => node.kv.put({ key: Buffer.alloc(0), value: Buffer.from('x'), prevKv: false }, (error) => resolve(error!)));
    assert.deepEqual(failure.metadata.get(CLUSTER_ID_HEADER), [expected]);
    const http = await fetch(`http://${node.httpAddress}/kv/owner`);
    assert.equal(http.headers.get(CLUSTER_ID_HEADER), expected);
    assert.equal((await fetch(`http://${node.httpAddress}/kv/missing-key`)).headers.get(CLUSTER_ID_HEADER), expected);
    // The raw KV link: the magic's echo, then a first message naming the cluster, before any op is sent.
    assert.equal(await firstRawLinkMessage(node.grpcAddress).then((m) => m.clusterId), expected);
    // The gRPC Pipeline: its first message too.
    const client = new KVServiceClient(node.grpcAddress, grpc.credentials.createInsecure());
    try {
      const stream = client.pipeline();
      const first = await new Promise<PipelineResponse>((resolve, reject) => {
        stream.once('data', resolve);
        stream.once('error', reject);
      });
      stream.cancel();
      stream.on('error', () => undefined);
      assert.equal(first.clusterId, expected);
      assert.equal(first.results.length, 0);
    } finally {
      client.close();
    }
  });

  test("a node started with its cluster's flags on another cluster's data dir refuses to start, naming both", async () => {
    const aNode3 = a.node(3);
    await a.terminate(aNode3);
    await b.terminate(bNode);
    const ownDir = aNode3.dataDir;
    aNode3.dataDir = bNode.dataDir;
    try {
      await assert.rejects(a.launch(aNode3, a.peerArgs(aNode3.id)), /exited with 1 during start/);
    } finally {
      aNode3.dataDir = ownDir;
    }
    const lines = aNode3.stderr.split('\n').filter((line) => line.startsWith('cairn-server: error:'));
    assert.equal(lines.length, 1, aNode3.stderr);
    const line = lines[0]!;
    assert.match(line, /^cairn-server: error: CLUSTER_MISMATCH: /);
    assert.ok(line.includes(`cluster ${deriveClusterId('test', [3])} with members {3}`), line);
    assert.ok(line.includes(`cluster ${deriveClusterId('test', [1, 2, 3])} with members {1,2,3}`), line);
    assert.doesNotMatch(aNode3.stderr, /\n\s+at /, 'no stack trace');

    // Its own data dir still starts, and A still serves its own data.
    await a.launch(aNode3, a.peerArgs(aNode3.id));
    await waitFor(async () => (await a.status(aNode3)).appliedIndex > 0, { deadlineMs: 30_000, what: 'node 3 to catch up' });
    const got = await unaryCall<{ kv?: { value: Buffer } }>((cb) => aNode3.kv.get({ key: Buffer.from('owner'), consistency: Consistency.SERIALIZABLE }, cb));
    assert.equal(got.kv?.value.toString(), 'cluster A');
  });
});

/** Opens the raw KV link and returns the node's first PipelineResponse (sending nothing but the magic). */
function firstRawLinkMessage(address: string): Promise<PipelineResponse> {
  const colon = address.lastIndexOf(':');
  const socket = net.connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
  const reader = new MessageReader(PipelineResponse, 'PipelineResponse', 1 << 20);
  let head = Buffer.alloc(0);
  return new Promise<PipelineResponse>((resolve, reject) => {
    socket.on('connect', () => socket.write(CLIENT_LINK_MAGIC));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length < CLIENT_LINK_MAGIC.length) return;
      assert.deepEqual(head.subarray(0, CLIENT_LINK_MAGIC.length), CLIENT_LINK_MAGIC);
      const { messages } = reader.push(head.subarray(CLIENT_LINK_MAGIC.length));
      head = Buffer.from(CLIENT_LINK_MAGIC);
      if (messages[0] !== undefined) resolve(messages[0]);
    });
  }).finally(() => socket.destroy());
}
