// Goal: the real `kvctl` executable works end to end as documented: output,
// exit codes and one-line errors for scripts, help from any directory, and
// `cluster up` stopping cleanly on SIGTERM. Method: spawn `node bin/kvctl.js`
// (stdout piped, so plain mode) against one real 3-node TestCluster shared by
// the tests of a describe; `cluster up` runs as its own child on free ports,
// and its process tree is read with `ps` before the stop and checked after.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestCluster, freePort, waitFor } from '@cairn/testkit';
import { KVCTL_BIN, REPO_ROOT, RUN_DEADLINE_MS, kvctl } from './kvctl-process.js';
import { EXIT_DEGRADED, EXIT_NOT_FOUND, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE } from '../src/exit-codes.js';

/** Rows of a plain status table: id, leader mark and the last column (health). */
function statusRows(stdout: string): { id: number; leader: boolean; health: string }[] {
  return stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const match = /^(★)?\s*(\d+)\s.*\s(\S+)$/.exec(line);
      assert.ok(match, `a status row: ${line}`);
      return { id: Number(match[2]), leader: match[1] !== undefined, health: match[3]! };
    });
}

describe('kvctl against a real 3-node cluster', () => {
  let cluster: TestCluster;
  let endpoints: string;

  before(async () => {
    cluster = await TestCluster.start({ size: 3 });
    await cluster.waitForLeader();
    endpoints = cluster.nodes.map((node) => node.grpcAddress).join(',');
  });

  after(async () => {
    await cluster.stop();
  });

  test('put (value from stdin), append and get round trip, with exit codes and plain output', async () => {
    const put = await kvctl(['--endpoints', endpoints, 'put', 'e2e/greeting', '-'], { stdin: 'hello' });
    assert.deepEqual([put.code, put.stdout, put.stderr], [EXIT_OK, 'OK (version 1)\n', '']);
    const append = await kvctl(['append', 'e2e/greeting', ', world', '--endpoints', endpoints]);
    assert.deepEqual([append.code, append.stdout], [EXIT_OK, 'OK\n']);
    const get = await kvctl(['--endpoints', endpoints, 'get', 'e2e/greeting']);
    assert.deepEqual([get.code, get.stdout, get.stderr], [EXIT_OK, 'hello, world\n', '']);
  });

  test('get of a missing key exits 1 with nothing on stdout', async () => {
    const get = await kvctl(['--endpoints', endpoints, 'get', 'e2e/no-such-key']);
    assert.deepEqual([get.code, get.stdout, get.stderr], [EXIT_NOT_FOUND, '', 'not found: e2e/no-such-key\n']);
  });

  test('member list shows the three voters, the leader marked', async () => {
    const list = await kvctl(['--endpoints', endpoints, 'member', 'list']);
    assert.equal(list.code, EXIT_OK, list.stderr);
    const rows = list.stdout.trim().split('\n').slice(1);
    assert.equal(rows.length, 3, list.stdout);
    assert.equal(rows.filter((row) => row.startsWith('★')).length, 1, list.stdout);
    for (const node of cluster.nodes)
      assert.match(list.stdout, new RegExp(`${node.id}\\s+${node.grpcAddress}\\s+${node.grpcAddress}\\s+voter`));
  });

  test('bench --json prints one JSON summary with operations and no errors', async () => {
    const bench = await kvctl(['--endpoints', endpoints, 'bench', '--duration', '2', '--concurrency', '4', '--json']);
    assert.equal(bench.code, EXIT_OK, bench.stderr);
    assert.equal(bench.stdout.trim().split('\n').length, 1, 'one JSON document');
    const summary = JSON.parse(bench.stdout) as { done: boolean; ops: number; reads: number; writes: number; errors: number };
    assert.equal(summary.done, true);
    assert.ok(summary.ops > 0, bench.stdout);
    assert.equal(summary.reads + summary.writes, summary.ops);
    assert.equal(summary.errors, 0, bench.stdout);
  });

  test('status: every member ok and exit 0; with a follower killed, it shows that member down and exits 7', async () => {
    const healthy = await kvctl(['--endpoints', endpoints, 'status']);
    assert.equal(healthy.code, EXIT_OK, healthy.stderr);
    const rows = statusRows(healthy.stdout);
    assert.deepEqual(
      rows.map((row) => [row.id, row.health]),
      [
        [1, 'ok'],
        [2, 'ok'],
        [3, 'ok'],
      ],
    );
    const leader = rows.find((row) => row.leader);
    assert.ok(leader, healthy.stdout);

    const victim = cluster.nodes.find((node) => node.id !== leader.id)!;
    await cluster.kill(victim);
    const degraded = await kvctl(['--endpoints', endpoints, 'status']);
    assert.equal(degraded.code, EXIT_DEGRADED, degraded.stderr);
    for (const row of statusRows(degraded.stdout)) {
      if (row.id === victim.id) assert.match(row.health, /^(UNAVAILABLE|TIMEOUT)$/, degraded.stdout);
      else assert.equal(row.health, 'ok', degraded.stdout);
    }
  });
});

describe('kvctl without a cluster', () => {
  test('bad usage exits 2 with one line on stderr', async () => {
    const run = await kvctl(['get']);
    assert.deepEqual([run.code, run.stdout, run.stderr], [EXIT_USAGE, '', "error: USAGE: missing required argument 'key'\n"]);
  });

  test('an unreachable endpoint exits 3 with one line `error: UNAVAILABLE: ...`, no stack trace', async () => {
    const nobody = `127.0.0.1:${await freePort()}`;
    const run = await kvctl(['--endpoints', nobody, '--timeout', '1000', 'get', 'k']);
    assert.equal(run.code, EXIT_UNAVAILABLE);
    assert.match(run.stderr, /^error: UNAVAILABLE: [^\n]+\n$/);
    assert.equal(run.stdout, '');
  });

  test("`npx kvctl --help` works from the repo root, and a subcommand's --help from any directory", async () => {
    const top = await kvctl(['--help'], { command: ['npx', '--no-install', 'kvctl'] });
    assert.equal(top.code, EXIT_OK, top.stderr);
    for (const name of ['get', 'put', 'append', 'delete', 'cas', 'range', 'status', 'member', 'leader', 'snapshot', 'bench', 'cluster']) {
      assert.match(top.stdout, new RegExp(`\\n  ${name}\\b`));
    }
    const elsewhere = mkdtempSync(join(tmpdir(), 'kvctl-cwd-'));
    try {
      const sub = await kvctl(['cluster', 'up', '--help'], { cwd: elsewhere });
      assert.equal(sub.code, EXIT_OK, sub.stderr);
      assert.match(sub.stdout, /Usage: kvctl cluster up/);
      assert.match(sub.stdout, /--base-port/);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('kvctl cluster up', () => {
  test('starts a node, prints its status, and on SIGTERM stops it, exits 0 and leaves no process behind', async () => {
    const basePort = await freeBasePort();
    const dataDir = mkdtempSync(join(tmpdir(), 'kvctl-up-'));
    const child = spawn(
      process.execPath,
      [KVCTL_BIN, 'cluster', 'up', '--nodes', '1', '--base-port', String(basePort), '--data-dir', dataDir, '--fresh'],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('close', (code, signal) => resolve([code, signal])),
    );
    try {
      const nodePid = await waitFor(() => /★1\s+127\.0\.0\.1:(\d+)\s+(\d+)\s+running\s+leader/.exec(stdout)?.[2], {
        deadlineMs: RUN_DEADLINE_MS,
        intervalMs: 200,
        what: `a status table with node 1 leading (stdout: ${stdout}, stderr: ${stderr})`,
      });
      assert.match(stdout, new RegExp(`127\\.0\\.0\\.1:${basePort}\\b`));
      const tree = descendantsOf(child.pid!);
      assert.ok(tree.includes(Number(nodePid)), `the node ${nodePid} is in kvctl's process tree ${tree.join(',')}`);

      child.kill('SIGTERM');
      assert.deepEqual(await exited, [EXIT_OK, null], stderr);
      assert.match(stdout, /all nodes stopped\n$/);
      await waitFor(() => tree.every((pid) => !isAlive(pid)), { deadlineMs: 10_000, what: `no process left of ${tree.join(',')}` });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** A port P with P and P+100 (node 1's gRPC and HTTP) both free. */
async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await freePort();
    if (port + 100 <= 65_535 && (await isPortFree(port + 100))) return port;
  }
  throw new Error('no free port pair P, P+100 found');
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Every process below `root` (children, grandchildren, ...), from `ps`. */
function descendantsOf(root: number): number[] {
  const table = execFileSync('ps', ['-A', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  const parentOf = new Map(
    table
      .trim()
      .split('\n')
      .map((line) => {
        const [pid, ppid] = line.trim().split(/\s+/).map(Number);
        return [pid!, ppid!] as const;
      }),
  );
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length > 0) {
    const children = [...parentOf].filter(([, ppid]) => frontier.includes(ppid)).map(([pid]) => pid);
    found.push(...children);
    frontier = children;
  }
  return found;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
