// Goal: kvctl refuses a node of another cluster and says so in one line
// (issue 17 §3). Method: two real one-node clusters started with the same
// default flags (testkit's TestCluster: A is node 1, B is node 3, so their
// cluster ids differ); the real `kvctl` executable is pointed at B with
// A's cluster id, and at A and B together.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type NodeProcess, startTwoClusters, type TestCluster, type TwoClusters } from '@cairn/testkit';
import { EXIT_UNAVAILABLE } from '../src/exit-codes.js';

const KVCTL_BIN = fileURLToPath(new URL('../bin/kvctl.js', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function kvctl(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [KVCTL_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, CAIRN_ENDPOINTS: '', CAIRN_CLUSTER_ID: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('kvctl and a node of another cluster', () => {
  let clusters: TwoClusters | undefined;
  let a: TestCluster;
  let bNode: NodeProcess;
  let aClusterId: string;

  before(async () => {
    clusters = await startTwoClusters(1);
    ({ a, bNode } = clusters);
    aClusterId = (await a.status(a.node(1))).clusterId;
    assert.equal((await kvctl(['--endpoints', bNode.grpcAddress, 'put', 'owner', 'cluster B'])).code, 0);
    assert.equal((await kvctl(['--endpoints', a.node(1).grpcAddress, 'put', 'owner', 'cluster A'])).code, 0);
  });

  after(async () => {
    await clusters?.stop();
  });

  test("--cluster-id with only the other cluster's node: WRONG_CLUSTER in one line, no data, no stack trace", async () => {
    const run = await kvctl(['--endpoints', bNode.grpcAddress, '--cluster-id', aClusterId, '--timeout', '3000', 'get', 'owner']);
    assert.equal(run.code, EXIT_UNAVAILABLE, run.stderr);
    assert.equal(run.stdout, '', 'nothing of B is printed');
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /WRONG_CLUSTER/);
    assert.ok(lines[0]!.includes(bNode.grpcAddress) && lines[0]!.includes(aClusterId), lines[0]);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  });

  test("both clusters' nodes with --cluster-id: answers come from the named cluster only", async () => {
    for (const endpoints of [`${bNode.grpcAddress},${a.node(1).grpcAddress}`, `${a.node(1).grpcAddress},${bNode.grpcAddress}`]) {
      const run = await kvctl(['--endpoints', endpoints, '--cluster-id', aClusterId, 'get', 'owner', '--serializable']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /cluster A/);
      assert.doesNotMatch(run.stdout, /cluster B/);
    }
  });
});
