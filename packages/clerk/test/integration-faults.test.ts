// Goal: the clerk keeps its promises against a real cluster under faults: a write either
// succeeds or fails with TimeoutError / UnavailableError / UnknownOutcomeError (never another
// class or a raw gRPC error); every acknowledged write is durable and applied exactly once;
// a partitioned node never serves a stale linearizable read and catches up once healed.
// Method: one real 3-node chaos cluster (cairn-server processes on 127.0.0.1, OS-assigned
// ports) shared by the tests. Several Clerks append unique tokens (`<clerk>:<n>;`) to a
// shared key (and read it back) while the leader is killed (kill -9), shut down (SIGTERM),
// partitioned (InjectFault PARTITION), or drops its outgoing messages (InjectFault DROP) with
// clerks on a short request timeout so they resend writes with the same (clientId, seq). The
// final value is then checked token by token against what each clerk saw, and the recorded
// history against the calls' outcomes. Synchronisation is waitFor with deadlines only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NodeProcess, TestCluster, waitFor } from '@cairn/testkit';
import { Clerk, ClerkError, type HistoryRecord, JsonLinesHistory, NoLeaderError, NotLeaderError, TimeoutError } from '../src/index.js';
import {
  addressesOf,
  classifyWriteFailure,
  clearFaults,
  ClerkWorker,
  describeError,
  exactlyOnceViolations,
  isolate,
  RecordingTransport,
  waitForNewLeader,
} from './integration-support.js';

describe('a clerk against a 3-node chaos cluster', () => {
  let cluster: TestCluster;
  let control: Clerk;

  before(async () => {
    cluster = await TestCluster.start({ size: 3, chaos: true });
    await cluster.waitForLeader();
    control = await Clerk.connect({ endpoints: addressesOf(cluster) });
  });

  /** Exit codes of nodes stopped with SIGTERM, awaited once the cluster is down. */
  const gracefulExits: Array<Promise<number | null>> = [];

  after(async () => {
    control?.close();
    await cluster?.stop();
    assert.deepEqual(
      await Promise.all(gracefulExits),
      gracefulExits.map(() => 0),
      'SIGTERM exit codes',
    );
  });

  /** Restarts a killed node and waits until it follows the current leader again. */
  async function relaunch(node: NodeProcess): Promise<void> {
    await cluster.launch(node, cluster.peerArgs());
    const leader = await cluster.waitForLeader();
    await waitFor(async () => (await cluster.status(node)).leaderId === leader.id, {
      deadlineMs: 20_000,
      what: `node ${node.id} to rejoin`,
    });
  }

  /** Every key under `prefix` with its value (linearizable, paged). */
  async function readAll(prefix: string): Promise<Map<string, string>> {
    const values = new Map<string, string>();
    let startAfter: string | undefined;
    for (;;) {
      const page = await control.range(prefix, { limit: 500, ...(startAfter === undefined ? {} : { startAfter }) });
      for (const kv of page.kvs) values.set(kv.key.toString(), kv.value.toString());
      if (!page.more) return values;
      startAfter = page.kvs.at(-1)!.key.toString();
    }
  }

  test('a partitioned follower: the majority keeps serving, its linearizable reads fail or redirect, never stale; it catches up after CLEAR', async () => {
    const leader = await cluster.waitForLeader();
    const isolated = cluster.nodes.find((node) => node.id !== leader.id)!;
    await control.put('part/k', 'before');
    await waitFor(
      async () =>
        (await control.get('part/k', { consistency: 'serializable', endpoint: isolated.grpcAddress }))?.value.toString() === 'before',
      {
        what: 'the follower to apply the first value',
      },
    );

    await isolate(control, cluster, isolated);
    const clerk = await Clerk.connect({ endpoints: addressesOf(cluster), requestTimeoutMs: 500, deadlineMs: 5_000 });
    // Connected through the isolated node only: reads there must redirect to the leader or fail.
    const viaIsolated = Clerk.lazy({ endpoints: [isolated.grpcAddress], membersRefreshMs: 0, requestTimeoutMs: 500, deadlineMs: 2_000 });
    try {
      for (let n = 1; n <= 5; n++) assert.equal((await clerk.put('part/k', `after-${n}`)).version, 1 + n);
      // The stale copy is really there: a serializable read on the isolated node, by a client that did not write, sees it.
      assert.equal(
        (await control.get('part/k', { consistency: 'serializable', endpoint: isolated.grpcAddress }))?.value.toString(),
        'before',
      );
      // The writer's own serializable read there never does (its read-your-writes token): it fails instead.
      const ownRead = await clerk.get('part/k', { consistency: 'serializable', endpoint: isolated.grpcAddress, deadlineMs: 2_000 }).then(
        (kv) => `returned ${kv?.value.toString()}`,
        (error: unknown) => error,
      );
      assert.ok(
        ownRead instanceof ClerkError && ['TIMEOUT', 'UNAVAILABLE'].includes(ownRead.code),
        `own serializable read: ${describeError(ownRead)}`,
      );
      const pinned = await clerk.get('part/k', { endpoint: isolated.grpcAddress, deadlineMs: 2_000 }).then(
        (kv) => `returned ${kv?.value.toString()}`,
        (error: unknown) => error,
      );
      assert.ok(
        pinned instanceof NotLeaderError || pinned instanceof TimeoutError || pinned instanceof NoLeaderError,
        `pinned read: ${describeError(pinned)}`,
      );
      const redirected = await viaIsolated.get('part/k').then(
        (kv) => kv?.value.toString(),
        (error: unknown) => error,
      );
      if (typeof redirected === 'string') assert.equal(redirected, 'after-5');
      else
        assert.ok(
          redirected instanceof ClerkError && ['TIMEOUT', 'UNAVAILABLE', 'NOT_LEADER'].includes(redirected.code),
          describeError(redirected),
        );

      await clearFaults(control, cluster);
      await waitFor(
        async () =>
          (await clerk.get('part/k', { consistency: 'serializable', endpoint: isolated.grpcAddress }))?.value.toString() === 'after-5',
        {
          deadlineMs: 15_000,
          what: 'the healed node to catch up',
        },
      );
      assert.equal((await viaIsolated.get('part/k'))?.value.toString(), 'after-5');
    } finally {
      clerk.close();
      viaIsolated.close();
    }
  });

  test('a clerk whose known leader is partitioned away moves to the new leader within one call', async () => {
    const former = await cluster.waitForLeader();
    const clerk = await Clerk.connect({ endpoints: addressesOf(cluster), requestTimeoutMs: 500, deadlineMs: 8_000 });
    try {
      assert.equal(clerk.knownLeader()?.address, former.grpcAddress);
      await isolate(control, cluster, former);
      const leader = await waitForNewLeader(cluster, former.id);
      // The isolated node no longer knows a leader; its answers must not hold the clerk there.
      const result = await clerk.put('isolated-leader/k', 'v').then(
        (put) => put.version,
        (error: unknown) => describeError(error),
      );
      assert.equal(result, 1);
      assert.equal(clerk.knownLeader()?.address, leader.grpcAddress);
    } finally {
      clerk.close();
      await clearFaults(control, cluster);
    }
    await waitFor(async () => (await cluster.status(former)).leaderId !== 0, { deadlineMs: 20_000, what: `node ${former.id} to rejoin` });
  });

  test('kill -9 of the leader under load from three clerks: typed failures only, a new leader serves, acknowledged puts survive', async () => {
    const clerks = await Promise.all(
      ['a', 'b', 'c'].map(() => Clerk.connect({ endpoints: addressesOf(cluster), requestTimeoutMs: 1_000, deadlineMs: 8_000 })),
    );
    const workers = clerks.map(
      (clerk, index) => new ClerkWorker(`k${index}`, clerk, { logKey: 'kill/log', putPrefix: 'kill/', readBack: true }),
    );
    try {
      workers.forEach((worker) => worker.start());
      await Promise.all(workers.map((worker) => worker.progress(5, 'appends before the kill')));
      const former = await cluster.waitForLeader();
      await cluster.kill(former);
      await waitForNewLeader(cluster, former.id);
      await Promise.all(workers.map((worker) => worker.progress(10, 'appends after the kill')));
      await Promise.all(workers.map((worker) => worker.stop()));

      assert.deepEqual(
        workers.flatMap((worker) => worker.unexpected),
        [],
      );
      assert.deepEqual(
        workers.flatMap((worker) => worker.staleReads),
        [],
      );
      assert.ok(workers.every((worker) => worker.reads > 0));
      const leader = await cluster.waitForLeader();
      assert.notEqual(leader.id, former.id);
      for (const clerk of clerks) assert.equal(clerk.knownLeader()?.address, leader.grpcAddress);
      const stored = await readAll('kill/k');
      for (const worker of workers) {
        for (const [key, { value, outcome }] of worker.puts) {
          if (outcome === 'ok') assert.equal(stored.get(key), value, `acknowledged put ${key}`);
          if (outcome === 'not-applied') assert.equal(stored.has(key), false, `put ${key} failed as not applied but is stored`);
        }
      }
      const log = (await control.get('kill/log'))?.value.toString() ?? '';
      assert.deepEqual(exactlyOnceViolations(log, workers), []);
      await relaunch(former);
    } finally {
      await Promise.all(workers.map((worker) => worker.abandon()));
    }
  });

  test('a write resent many times while every commit is slower than the request timeout is applied once', async () => {
    const leader = await cluster.waitForLeader();
    await control.put('slow/log', '<');
    const transport = new RecordingTransport();
    const clerk = await Clerk.connect({ endpoints: addressesOf(cluster), requestTimeoutMs: 250, deadlineMs: 2_500 }, { transport });
    try {
      // Every message from the leader is delayed past the clerk's request timeout.
      await control.injectFault({ kind: 'delay', delayMs: 400, durationMs: 5_000 }, { endpoint: leader.grpcAddress });
      const outcome = await clerk.append('slow/log', 'x').then(
        () => 'ok',
        (error: unknown) => classifyWriteFailure(error) ?? describeError(error),
      );
      await control.injectFault({ kind: 'clear' }, { endpoint: leader.grpcAddress });
      // The server proposes every resend again (it does not answer a retry from its session
      // table), so the log holds the append several times: deduplication must apply it once.
      assert.ok(transport.resentToSameNode().length > 0, 'the append was resent to the leader');
      assert.ok(outcome === 'ok' || outcome === 'unknown', `append: ${outcome}`);
      assert.equal((await control.get('slow/log'))?.value.toString(), '<x');
    } finally {
      clerk.close();
    }
  });

  // Last: it leaves its shut-down leader down (the cluster is stopped next).
  test('appends are applied exactly once while replies are lost and the leader is partitioned, killed and shut down', async (t) => {
    const historyDir = process.env.CAIRN_TEST_HISTORY ?? mkdtempSync(join(tmpdir(), 'cairn-clerk-history-'));
    const historyPath = join(historyDir, `exactly-once-${Date.now()}.jsonl`);
    const historyStream = createWriteStream(historyPath);
    const history = new JsonLinesHistory(historyStream);
    const transport = new RecordingTransport();
    // A short request timeout makes clerks give up on slow attempts and resend the same
    // (clientId, seq); the last clerk also has a short deadline, so some of its appends end
    // with an unknown outcome (which may appear at most once).
    const deadlines = [8_000, 8_000, 1_000];
    const clerks = await Promise.all(
      deadlines.map((deadlineMs) =>
        Clerk.connect({ endpoints: addressesOf(cluster), requestTimeoutMs: 200, deadlineMs, history }, { transport }),
      ),
    );
    const workers = clerks.map((clerk, index) => new ClerkWorker(`x${index}`, clerk, { logKey: 'once/log', readBack: true }));
    try {
      const startedAt = Date.now();
      const phase = (name: string): void => t.diagnostic(`${name} done at ${Date.now() - startedAt} ms`);
      workers.forEach((worker) => worker.start());
      await Promise.all(workers.map((worker) => worker.progress(3, 'appends before faults')));

      // Phase 1: bursts of total loss on the leader's outgoing messages, shorter than an
      // election timeout, so writes stall, clerks time out and resend to the same leader.
      await waitFor(
        async () => {
          const leader = await cluster.waitForLeader();
          await control.injectFault({ kind: 'drop', dropRate: 1, durationMs: 300 }, { endpoint: leader.grpcAddress });
          await workers[0]!.progress(1, 'an append after a drop burst');
          return transport.resentToSameNode().length >= 3;
        },
        { deadlineMs: 30_000, intervalMs: 0, what: 'writes resent to the same node with the same session' },
      );
      phase('drop bursts');

      // Phase 2: the leader is cut off; the majority elects another and the clerks follow.
      const partitioned = await cluster.waitForLeader();
      await isolate(control, cluster, partitioned);
      await waitForNewLeader(cluster, partitioned.id);
      await Promise.all(workers.map((worker) => worker.progress(3, 'appends during the partition')));
      await clearFaults(control, cluster);
      phase('partition');

      // Phase 3: kill -9 of the leader.
      const killed = await cluster.waitForLeader();
      await cluster.kill(killed);
      await waitForNewLeader(cluster, killed.id);
      await Promise.all(workers.map((worker) => worker.progress(3, 'appends after the kill')));
      await relaunch(killed);
      phase('kill');

      // Phase 4: graceful shutdown (SIGTERM) of the leader: writes in flight there end with
      // SHUTTING_DOWN or a dropped connection and are resent to the next leader. The node
      // stops serving at once, but with peers connected its exit takes seconds (the gRPC
      // server's graceful shutdown waits for the peers' inbound raft streams), so the exit
      // is awaited after the cluster stops.
      const terminated = await cluster.waitForLeader();
      gracefulExits.push(cluster.terminate(terminated));
      await waitForNewLeader(cluster, terminated.id);
      await Promise.all(workers.map((worker) => worker.progress(3, 'appends after the shutdown')));
      await Promise.all(workers.map((worker) => worker.stop()));
      phase('shutdown');

      assert.deepEqual(
        workers.flatMap((worker) => worker.unexpected),
        [],
      );
      assert.deepEqual(
        workers.flatMap((worker) => worker.staleReads),
        [],
      );
      const log = (await control.get('once/log'))?.value.toString() ?? '';
      assert.deepEqual(exactlyOnceViolations(log, workers), []);
      const outcomes = workers.map((worker) => [...worker.tokens.values()]).flat();
      t.diagnostic(
        `appends: ${outcomes.filter((o) => o === 'ok').length} ok, ${outcomes.filter((o) => o === 'unknown').length} unknown, ` +
          `${outcomes.filter((o) => o === 'not-applied').length} not applied; ${transport.resentToSameNode().length} sessions resent to the same node`,
      );
    } finally {
      await Promise.all(workers.map((worker) => worker.abandon()));
      await new Promise((resolve) => historyStream.end(resolve));
    }
    t.diagnostic(`history kept at ${historyPath}`);
    assert.deepEqual(historyViolations(readFileSync(historyPath, 'utf8'), workers), []);
  });
});

/** Checks the recorded history: invoke/return pairs, and append returns matching what the workers saw. */
function historyViolations(jsonl: string, workers: readonly ClerkWorker[]): string[] {
  const records = jsonl
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as HistoryRecord);
  const violations: string[] = [];
  const open = new Map<string, HistoryRecord>();
  const expectedType = { ok: 'ok', unknown: 'info', 'not-applied': 'fail' } as const;
  const outcomes = new Map(workers.flatMap((worker) => [...worker.tokens]));
  for (const record of records) {
    const id = `${record.process}#${record.id}`;
    if (record.type === 'invoke') {
      if (open.has(id)) violations.push(`${id} invoked twice`);
      open.set(id, record);
      continue;
    }
    const invoke = open.get(id);
    open.delete(id);
    if (invoke === undefined) violations.push(`${id} returned without an invoke`);
    else if (invoke.value !== record.value || invoke.op !== record.op) violations.push(`${id} return does not repeat its arguments`);
    if (record.time < (invoke?.time ?? 0)) violations.push(`${id} returned before it was invoked`);
    const outcome = record.op === 'append' && record.value !== undefined ? outcomes.get(record.value) : undefined;
    if (outcome !== undefined && expectedType[outcome] !== record.type)
      violations.push(`${id} ${record.value} recorded ${record.type}, worker saw ${outcome}`);
  }
  for (const id of open.keys()) violations.push(`${id} never returned`);
  if (records.length === 0) violations.push('empty history');
  return violations;
}
