// Goal: every bad start-up input ends with a one-line error naming the
// problem and a non-zero exit, never a stack trace; bad requests get typed
// errors and change nothing. Method: spawn cairn-server with bad flags, a
// busy port, a data dir of another cluster or node, corrupted data; send
// oversized/empty keys and values to a running single node.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Consistency } from '@cairn/proto';
import { type CallError, freePort, TestCluster, unaryCall, waitFor } from '@cairn/testkit';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'main.ts');

function runServer(args: string[]): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, ['--conditions=@cairn/source', '--import', 'tsx', MAIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

function assertOneLineError(result: { status: number | null; stderr: string }, code: string, pattern: RegExp): void {
  assert.notEqual(result.status, 0);
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('cairn-server: error:'));
  assert.equal(lines.length, 1, `one error line, got: ${result.stderr}`);
  assert.match(lines[0]!, new RegExp(`cairn-server: error: ${code}: `));
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

describe('start-up refusals', () => {
  test('bad flags exit 2 with a usage error', () => {
    const result = runServer(['--id', 'x', '--addr', '127.0.0.1:0', '--data-dir', '/tmp/none']);
    assert.equal(result.status, 2);
    assertOneLineError(result, 'CONFIG_INVALID', /--id: expected a positive integer/);
  });

  test('a port in use is reported as such', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'cairn-start-'));
    try {
      assertOneLineError(runServer(['--id', '1', '--addr', `127.0.0.1:${port}`, '--data-dir', dir]), 'ADDRESS_IN_USE', /already in use/);
      const grpcPort = await freePort();
      assertOneLineError(
        runServer(['--id', '1', '--addr', `127.0.0.1:${grpcPort}`, '--client-addr', `127.0.0.1:${port}`, '--data-dir', dir]),
        'ADDRESS_IN_USE',
        /--client-addr/,
      );
    } finally {
      busy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a data dir of another cluster or another node is refused; corruption is detected', async () => {
    const cluster = await TestCluster.start({ size: 1, clusterId: 'alpha' });
    const node = cluster.node(1);
    try {
      await cluster.waitForLeader();
      await unaryCall((cb) => node.kv.put({ key: Buffer.from('k'), value: Buffer.from('precious'), prevKv: false }, cb));
      await cluster.terminate(node);
      const port = await freePort();
      assertOneLineError(
        runServer(['--id', '1', '--addr', `127.0.0.1:${port}`, '--data-dir', node.dataDir, '--cluster-id', 'beta']),
        'CLUSTER_MISMATCH',
        /alpha/,
      );
      assertOneLineError(
        runServer(['--id', '2', '--addr', `127.0.0.1:${port}`, '--data-dir', node.dataDir, '--cluster-id', 'alpha']),
        'NODE_ID_MISMATCH',
        /node/,
      );
      // Flip a byte inside the stored value of the log record holding 'precious'.
      const flipped = corruptFirstMatch(node.dataDir, Buffer.from('precious'));
      assert.ok(flipped, 'found the record on disk');
      assertOneLineError(
        runServer(['--id', '1', '--addr', `127.0.0.1:${port}`, '--data-dir', node.dataDir, '--cluster-id', 'alpha']),
        'CORRUPTION',
        /checksum|corrupt/i,
      );
    } finally {
      await cluster.stop();
    }
  });
});

/** Overwrites one byte of the first occurrence of `needle` in the data dir's LevelDB files. */
function corruptFirstMatch(dir: string, needle: Buffer): boolean {
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    if (!statSync(path).isFile() || !/\.(log|ldb|sst)$/.test(name)) continue;
    const bytes = readFileSync(path);
    const at = bytes.indexOf(needle);
    if (at >= 0) {
      bytes[at + 2] = bytes[at + 2]! ^ 0xff;
      writeFileSync(path, bytes);
      return true;
    }
  }
  return false;
}

describe('bad requests', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ size: 1, extraArgs: ['--key-bytes-max', '16', '--value-bytes-max', '64'] });
    await cluster.waitForLeader();
  });
  after(async () => {
    await cluster?.stop();
  });

  const code = (promise: Promise<unknown>): Promise<string | undefined> =>
    promise.then(
      () => 'OK',
      (e: CallError) => e.detail?.code,
    );

  test('empty, oversized keys and oversized values get typed errors and store nothing', async () => {
    const { kv } = cluster.node(1);
    assert.equal(
      await code(unaryCall((cb) => kv.put({ key: Buffer.alloc(0), value: Buffer.from('v'), prevKv: false }, cb))),
      'INVALID_ARGUMENT',
    );
    assert.equal(
      await code(unaryCall((cb) => kv.put({ key: Buffer.alloc(17, 97), value: Buffer.from('v'), prevKv: false }, cb))),
      'KEY_TOO_LARGE',
    );
    assert.equal(
      await code(unaryCall((cb) => kv.put({ key: Buffer.from('k'), value: Buffer.alloc(65), prevKv: false }, cb))),
      'VALUE_TOO_LARGE',
    );
    assert.equal(
      await code(
        unaryCall((cb) => kv.put({ key: Buffer.from('k'), value: Buffer.from('v'), prevKv: false, session: { clientId: '', seq: 3 } }, cb)),
      ),
      'INVALID_ARGUMENT',
    );
    assert.equal(await code(unaryCall((cb) => kv.cas({ key: Buffer.from('k'), value: Buffer.from('v') }, cb))), 'INVALID_ARGUMENT');
    const got = await unaryCall<{ kv?: unknown }>((cb) => kv.get({ key: Buffer.from('k'), consistency: Consistency.LINEARIZABLE }, cb));
    assert.equal(got.kv, undefined);
    const { httpAddress } = cluster.node(1);
    assert.equal((await fetch(`http://${httpAddress}/kv/k`, { method: 'PUT', body: 'x'.repeat(65) })).status, 413);
    assert.equal((await fetch(`http://${httpAddress}/kv/%E0%A4%A`)).status, 400);
    assert.equal((await fetch(`http://${httpAddress}/kv/k`, { method: 'POST' })).status, 405);
  });

  test('invalid UTF-8 keys are stored byte-exact', async () => {
    const { kv } = cluster.node(1);
    const key = Buffer.from([0xff, 0xfe, 0x41]);
    await unaryCall((cb) => kv.put({ key, value: Buffer.from('bytes'), prevKv: false }, cb));
    const got = await unaryCall<{ kv?: { key: Buffer; value: Buffer } }>((cb) =>
      kv.get({ key, consistency: Consistency.LINEARIZABLE }, cb),
    );
    assert.deepEqual(got.kv?.key, key);
  });

  test('a node of another cluster cannot talk to this one', async () => {
    const stranger = await TestCluster.start({ size: 1, clusterId: 'stranger', extraArgs: ['--peer', `2=${cluster.node(1).grpcAddress}`] });
    try {
      // The stranger (id 1 of 'stranger') campaigns and messages our node as its peer 2.
      await waitFor(() => cluster.node(1).stderr.includes('peer-batch-refused'), { what: 'the refusal to be logged', deadlineMs: 30_000 });
      assert.match(cluster.node(1).stderr, /cluster id mismatch|message for node/);
    } finally {
      await stranger.stop();
    }
  });
});
