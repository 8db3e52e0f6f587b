// Goal: `cluster up` plans ports and data dirs (each node is started by
// kv-server's launcher, tested there), wipes only its own data on --fresh, renders status rows, and stops
// children with SIGTERM then SIGKILL. Method: pure function checks, a fake
// status source, and two tiny real `node -e` children (one ignores SIGTERM).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessGroup, planCluster, pollClusterStatus, repoRootFrom, wipeNodeData } from '../src/cluster-up.js';
import { clusterTable } from '../src/ui/cluster-view.js';
import { FakeClerk, statusOf } from './fake-clerk.js';

describe('planning', () => {
  test('node N gets gRPC port base+N-1 (7001.. = the default endpoints), HTTP 100 above, its own data dir and log', () => {
    assert.deepEqual(planCluster(2, '/data'), [
      { id: 1, address: '127.0.0.1:7001', httpAddress: '127.0.0.1:7101', dataDir: '/data/node-1', logPath: '/data/node-1.log' },
      { id: 2, address: '127.0.0.1:7002', httpAddress: '127.0.0.1:7102', dataDir: '/data/node-2', logPath: '/data/node-2.log' },
    ]);
    assert.deepEqual(
      planCluster(3, '/d', 9100).map((plan) => [plan.address, plan.httpAddress]),
      [
        ['127.0.0.1:9100', '127.0.0.1:9200'],
        ['127.0.0.1:9101', '127.0.0.1:9201'],
        ['127.0.0.1:9102', '127.0.0.1:9202'],
      ],
    );
  });

  test('the repository root is found from the module (the live demo runs from it)', () => {
    const root = repoRootFrom(new URL('../src/cluster-up.ts', import.meta.url).href);
    assert.ok(existsSync(join(root, 'packages', 'kvctl', 'package.json')), root);
  });

  test("--fresh removes only the planned nodes' data dirs and logs", () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kvctl-fresh-'));
    try {
      const plans = planCluster(2, dataDir);
      for (const plan of plans) {
        mkdirSync(plan.dataDir);
        writeFileSync(join(plan.dataDir, 'raft.db'), 'x');
        writeFileSync(plan.logPath, 'log');
      }
      writeFileSync(join(dataDir, 'notes.txt'), 'keep me');
      wipeNodeData(plans);
      assert.deepEqual(readdirSync(dataDir), ['notes.txt']);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('status', () => {
  test('each node is asked directly; a silent node shows its error code', async () => {
    const clerk = new FakeClerk();
    const plans = planCluster(2, '/data');
    clerk.statusByEndpoint.set(
      '127.0.0.1:7001',
      statusOf({ id: 1, role: 'leader', term: 3, leaderId: 1, commitIndex: 9, appliedIndex: 9 }),
    );
    const rows = await pollClusterStatus(clerk, plans);
    assert.deepEqual(
      rows.map((row) => [row.id, row.isLeader, row.health]),
      [
        [1, true, 'ok'],
        [2, false, 'UNAVAILABLE'],
      ],
    );
    const table = clusterTable(
      [
        { id: 1, pid: 11, state: 'running' },
        { id: 2, pid: 12, state: 'exited (1)' },
      ],
      rows,
    );
    assert.deepEqual(table.rows[0], ['★1', '127.0.0.1:7001', '11', 'running', 'leader', '3', '9', '9', '0', 'ok']);
    assert.deepEqual(table.rows[1]!.slice(3), ['exited (1)', '-', '-', '-', '-', '-', 'UNAVAILABLE']);
    assert.equal(clusterTable([{ id: 1, pid: 11, state: 'running' }], undefined).rows[0]!.at(-1), 'starting');
  });
});

describe('ProcessGroup', () => {
  test('stop() SIGTERMs children and SIGKILLs the one that ignores SIGTERM after the grace period', async () => {
    const logDir = mkdtempSync(join(tmpdir(), 'kvctl-group-'));
    try {
      let changes = 0;
      const group = new ProcessGroup(() => (changes += 1));
      // Both children print once their handlers are installed, so SIGTERM is never sent too early.
      const polite = "process.on('SIGTERM', () => process.exit(0)); console.log('ready'); setInterval(() => {}, 1000);";
      const stubborn = "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000);";
      const child = (script: string) => () =>
        spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      group.start([
        { id: 1, spawn: child(polite), logPath: join(logDir, 'node-1.log') },
        { id: 2, spawn: child(stubborn), logPath: join(logDir, 'node-2.log') },
      ]);
      assert.deepEqual(
        group.processStates().map((state) => state.state),
        ['running', 'running'],
      );
      await waitFor(() => ['node-1.log', 'node-2.log'].every((name) => readText(join(logDir, name)).includes('ready')), 10_000);
      await group.stop(300);
      assert.deepEqual(
        group.processStates().map((state) => state.state),
        ['exited (0)', 'exited (SIGKILL)'],
      );
      assert.equal(changes, 2);
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});

function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

async function waitFor(condition: () => boolean, deadlineMs: number): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('cluster up --demo runs the repository demo with the chosen base port', async () => {
  const { demoCommandLine } = await import('../src/cluster-up.js');
  const args = demoCommandLine('/repo', 'file:///repo/node_modules/tsx/dist/loader.mjs', { nodes: 3, basePort: 9001 });
  assert.deepEqual(args.slice(3), ['/repo/tools/demo/main.ts', '--nodes', '5', '--base-port', '9001']);
  assert.deepEqual(args.slice(0, 3), ['--conditions=@cairn/source', '--import', 'file:///repo/node_modules/tsx/dist/loader.mjs']);
});
