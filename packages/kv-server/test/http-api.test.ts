// Goal: the HTTP API stores exactly the key the client named and counts its
// requests like gRPC's. The key is every byte of the request target after
// `/kv/` up to the query, percent-decoded once and never path-normalised (a
// WHATWG URL parser turned `PUT /kv/a/../b` into key `b`, and `/kv/../status`
// into `/status`), and HTTP requests were missing from cairn_requests_total.
// Method: one real node; requests sent with http.request, whose path goes on
// the wire verbatim (fetch and URL would normalise it first); the stored keys
// are checked through gRPC, and the counters through GET /metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Consistency, type GetResponse } from '@cairn/proto';
import { type NodeProcess, TestCluster, unaryCall } from '@cairn/testkit';
import { decodeKeyFromPath, splitRequestTarget } from '../src/api/http-server.js';

interface RawResponse {
  status: number;
  body: string;
}

/** Sends `path` as the request target byte for byte. */
function send(node: NodeProcess, method: string, path: string, body?: string): Promise<RawResponse> {
  const [host, port] = node.httpAddress.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), method, path }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The value stored under exactly these key bytes, read through gRPC. */
async function grpcValue(node: NodeProcess, key: Buffer | string): Promise<string | undefined> {
  const got = await unaryCall<GetResponse>((cb) => node.kv.get({ key: Buffer.from(key), consistency: Consistency.LINEARIZABLE }, cb));
  return got.kv?.value.toString();
}

describe('HTTP keys are the request target, byte for byte', () => {
  let cluster: TestCluster;
  let node: NodeProcess;
  before(async () => {
    cluster = await TestCluster.start({ size: 1 });
    node = await cluster.waitForLeader();
  });
  after(async () => {
    await cluster?.stop();
  });

  test('PUT /kv/a/../b stores key "a/../b", not "b"', async () => {
    assert.equal((await send(node, 'PUT', '/kv/a/../b', 'dots')).status, 200);
    assert.equal(await grpcValue(node, 'a/../b'), 'dots');
    assert.equal(await grpcValue(node, 'b'), undefined);
    const back = await send(node, 'GET', '/kv/a/../b');
    assert.deepEqual(back, { status: 200, body: 'dots' });
  });

  test('PUT /kv/c/%2E%2E/d is decoded once into key "c/../d"', async () => {
    assert.equal((await send(node, 'PUT', '/kv/c/%2E%2E/d', 'encoded dots')).status, 200);
    assert.equal(await grpcValue(node, 'c/../d'), 'encoded dots');
    assert.equal(await grpcValue(node, 'd'), undefined);
  });

  test('GET /kv/../status reads the key "../status", not the status page', async () => {
    const missing = await send(node, 'GET', '/kv/../status');
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body).message, 'key not found');
    assert.equal((await send(node, 'PUT', '/kv/../status', 'a key')).status, 200);
    assert.deepEqual(await send(node, 'GET', '/kv/../status'), { status: 200, body: 'a key' });
    assert.equal(await grpcValue(node, '../status'), 'a key');
  });

  test('escapes decode exactly once, into bytes; the query string is not part of the key', async () => {
    assert.equal((await send(node, 'PUT', '/kv/%252E', 'once')).status, 200);
    assert.equal(await grpcValue(node, '%2E'), 'once');
    assert.equal((await send(node, 'PUT', '/kv/x%2Fy', 'slash')).status, 200);
    assert.equal(await grpcValue(node, 'x/y'), 'slash');
    assert.equal((await send(node, 'PUT', '/kv/%FF%00', 'bytes')).status, 200);
    assert.equal(await grpcValue(node, Buffer.from([0xff, 0x00])), 'bytes');
    assert.equal((await send(node, 'PUT', '/kv/q?consistency=serializable', 'query')).status, 200);
    assert.equal(await grpcValue(node, 'q'), 'query');
    assert.equal((await send(node, 'PUT', '/kv/bad%zz', 'x')).status, 400);
    assert.equal((await send(node, 'PUT', '/kv/bad%4', 'x')).status, 400);
  });

  test('other routes are matched on the raw path too', async () => {
    assert.equal((await send(node, 'GET', '/kv/../../status')).status, 404);
    assert.equal((await send(node, 'GET', '/x/../status')).status, 404);
    const status = await send(node, 'GET', '/status?verbose=1');
    assert.equal(status.status, 200);
    assert.ok('role' in JSON.parse(status.body));
  });

  test('HTTP requests are counted in cairn_requests_total with gRPC labels', async () => {
    const before = counters((await send(node, 'GET', '/metrics')).body);
    await send(node, 'PUT', '/kv/counted', 'v');
    await send(node, 'PUT', '/kv/counted', 'v');
    await send(node, 'GET', '/kv/counted?consistency=serializable');
    await send(node, 'GET', '/kv/never-written');
    await send(node, 'DELETE', '/kv/counted');
    await send(node, 'GET', '/kv/bad%zz');
    const after = counters((await send(node, 'GET', '/metrics')).body);
    const delta = (labels: string): number => (after.get(labels) ?? 0) - (before.get(labels) ?? 0);
    assert.equal(delta('op="put",code="OK"'), 2);
    // A missing key is a successful get, as in gRPC (HTTP shows it as 404).
    assert.equal(delta('op="get",code="OK"'), 2);
    assert.equal(delta('op="delete",code="OK"'), 1);
    assert.equal(delta('op="get",code="INVALID_ARGUMENT"'), 1);
  });
});

/** cairn_requests_total samples by their label text. */
function counters(metrics: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const match of metrics.matchAll(/^cairn_requests_total\{(.*)\} (\d+)$/gm)) samples.set(match[1]!, Number(match[2]));
  return samples;
}

test('splitRequestTarget and decodeKeyFromPath never normalise', () => {
  assert.equal(splitRequestTarget('/kv/a/./../b?x=1').path, '/kv/a/./../b');
  assert.equal(splitRequestTarget('/kv/a?consistency=serializable').query.get('consistency'), 'serializable');
  assert.equal(splitRequestTarget('http://h:1/kv/a/../b').path, '/kv/a/../b');
  assert.deepEqual(decodeKeyFromPath('a/%2e%2E/b'), Buffer.from('a/../b'));
  assert.deepEqual(decodeKeyFromPath('%C3%A9+'), Buffer.from('é+'));
  assert.throws(() => decodeKeyFromPath('%'), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => decodeKeyFromPath('é'), { code: 'INVALID_ARGUMENT' });
});
