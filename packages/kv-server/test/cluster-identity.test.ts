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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NodeProcess, startTwoClusters, TestCluster, type TwoClusters, unaryCall, waitFor } from '@cairn/testkit';
import { ClusterIdentity, checkFlagsMembers, deriveClusterId } from '../src/cluster-identity.js';
import { ClusterMismatchError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { NodeDatabase } from '../src/storage/database.js';

describe('stored cluster identity', () => {
  const dirs: string[] = [];
  const newDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-identity-'));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test('the id depends on the name and the set of initial voters, not on their order; never on addresses', () => {
    assert.equal(deriveClusterId('cairn', [3, 1, 2]), deriveClusterId('cairn', [1, 2, 3]));
    assert.notEqual(deriveClusterId('cairn', [1, 2, 3]), deriveClusterId('cairn', [3]));
    assert.notEqual(deriveClusterId('cairn', [1, 2, 3]), deriveClusterId('other', [1, 2, 3]));
    assert.match(deriveClusterId('cairn', [1]), /^cairn\/[0-9a-f]{16}$/);
  });

  test('a bootstrapping data dir keeps its initial voters; flags naming members it never had are refused', async () => {
    const dir = newDir();
    await (await NodeDatabase.open(dir, { clusterId: 'cairn', nodeId: 3, initialVoters: [3] })).close();
    const database = await NodeDatabase.open(dir, { clusterId: 'cairn', nodeId: 3, initialVoters: [1, 2, 3] });
    try {
      assert.deepEqual(database.cluster, { name: 'cairn', initialVoters: [3], clusterId: deriveClusterId('cairn', [3]) });
      assert.throws(
        () => checkFlagsMembers(dir, database.cluster, { name: 'cairn', initialVoters: [1, 2, 3] }, [3]),
        (error: unknown) => {
          assert.ok(error instanceof ClusterMismatchError);
          assert.match(error.message, /with members \{3\}, but the flags say cluster .* with members \{1,2,3\}/);
          return true;
        },
      );
      // A member added later may be listed; so may the original ones.
      checkFlagsMembers(dir, database.cluster, { name: 'cairn', initialVoters: [3, 4] }, [3, 4]);
      checkFlagsMembers(dir, database.cluster, { name: 'cairn', initialVoters: undefined }, [3]);
    } finally {
      await database.close();
    }
  });

  test('a data dir from before derived ids keeps its bare name as the id', async () => {
    const dir = newDir();
    // What the previous version wrote: the name only, no initial voters.
    await (await NodeDatabase.open(dir, { clusterId: 'cairn', nodeId: 1 })).close();
    const database = await NodeDatabase.open(dir, { clusterId: 'cairn', nodeId: 1, initialVoters: [1, 2, 3] });
    try {
      assert.deepEqual(database.cluster, { name: 'cairn', initialVoters: undefined, clusterId: 'cairn' });
    } finally {
      await database.close();
    }
    await assert.rejects(NodeDatabase.open(dir, { clusterId: 'other', nodeId: 1 }), ClusterMismatchError);
  });

  test('a joining node learns its id from a peer of the same name only, and keeps it across restarts', async () => {
    const dir = newDir();
    const database = await NodeDatabase.open(dir, { clusterId: 'cairn', nodeId: 4, join: true });
    const logger = createLogger('silent', {});
    const identity = new ClusterIdentity('cairn', database.cluster.clusterId, (id) => database.recordLearnedClusterId(id), logger);
    assert.equal(identity.id, undefined);
    assert.equal(identity.grpcMetadata, undefined);
    assert.equal(identity.adoptFromPeer(deriveClusterId('other', [1, 2, 3])), false);
    assert.equal(identity.adoptFromPeer('cairn'), false, 'a legacy bare name is not adopted');
    const id = deriveClusterId('cairn', [1, 2, 3]);
    assert.equal(identity.adoptFromPeer(id), true);
    assert.equal(identity.id, id);
    assert.equal(identity.adoptFromPeer(deriveClusterId('cairn', [1])), false, 'adopted once only');
    await waitFor(() => database.cluster.clusterId === id, { deadlineMs: 5_000, what: 'the learned id to be stored' });
    await database.close();
    const reopened = await NodeDatabase.open(dir, { clusterId: 'cairn', nodeId: 4, join: true });
    try {
      assert.equal(reopened.cluster.clusterId, id);
    } finally {
      await reopened.close();
    }
  });
});

describe('cluster identity', () => {
  let clusters: TwoClusters | undefined;
  let a: TestCluster;
  let b: TestCluster;
  let bNode: NodeProcess;

  before(async () => {
    clusters = await startTwoClusters(3);
    ({ a, b, bNode } = clusters);
    const aLeader = await a.waitForLeader();
    await unaryCall((cb) => aLeader.kv.put({ key: Buffer.from('owner'), value: Buffer.from('cluster A'), prevKv: false }, cb));
    await unaryCall((cb) => bNode.kv.put({ key: Buffer.from('owner'), value: Buffer.from('cluster B'), prevKv: false }, cb));
  });

  after(async () => {
    await clusters?.stop();
  });

  test('each cluster has its own id, derived from its name and initial members, shown by /status', async () => {
    const aStatus = await a.status(a.node(1));
    const bStatus = await b.status(bNode);
    assert.equal(aStatus.clusterId, deriveClusterId('test', [1, 2, 3]));
    assert.equal(bStatus.clusterId, deriveClusterId('test', [3]));
    assert.notEqual(aStatus.clusterId, bStatus.clusterId);
    for (const node of a.nodes) assert.equal((await a.status(node)).clusterId, aStatus.clusterId, `node ${node.id} agrees`);
    const http = (await (await fetch(`http://${bNode.httpAddress}/status`)).json()) as { clusterId: string };
    assert.equal(http.clusterId, bStatus.clusterId);
  });

  test("every client answer names the cluster: gRPC headers and error trailers, HTTP, the pipeline's first message", async () => {
    const expected = deriveClusterId('test', [1, 2, 3]);
    const node = a.node(1);
    const headers = await new Promise<grpc.Metadata>((resolve, reject) => {
      const call = node.kv.get({ key: Buffer.from('owner'), consistency: Consistency.SERIALIZABLE }, (error) => error && reject(error));
      call.on('metadata', resolve);
    });
    assert.deepEqual(headers.get(CLUSTER_ID_HEADER), [expected]);
    // A failed call (an empty key is invalid) names it in its trailers.
    const failure = await new Promise<grpc.ServiceError>((resolve) =>
      node.kv.put({ key: Buffer.alloc(0), value: Buffer.from('x'), prevKv: false }, (error) => resolve(error!)),
    );
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
      await assert.rejects(a.launch(aNode3, a.peerArgs()), /exited with 1 during start/);
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
    await a.launch(aNode3, a.peerArgs());
    await waitFor(async () => (await a.status(aNode3)).appliedIndex > 0, { deadlineMs: 30_000, what: 'node 3 to catch up' });
    const got = await unaryCall<{ kv?: { value: Buffer } }>((cb) =>
      aNode3.kv.get({ key: Buffer.from('owner'), consistency: Consistency.SERIALIZABLE }, cb),
    );
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
