/**
 * Issue 20, txn linearizability. Method: on a 3-node cluster, four clerks run
 * at once: two increment one counter with `if mod(n) = seen then put n+1`
 * (after reading n), one moves units between three accounts with
 * `if mod(a) = ma && mod(b) = mb then put a-1, put b+1`, one writes and reads
 * plain keys. Every call is recorded with its revision and results; the
 * leader is SIGKILLed a third of the way in and restarted. Required: the
 * history is linearizable under the checker's kv model (each change exactly
 * the next revision, compares and branches consistent, reads of every txn
 * whole), and every account snapshot read sums to the initial total.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Clerk } from '@cairn/clerk';
import type { HistoryTxn } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import { HistoryLog, checkLinearizable } from '../src/index.js';
import { RecordingClient } from '../src/txn-recorder.js';
import { withFaultCluster } from './support.js';

const OPS_PER_CLIENT = 40;
const DEADLINE_MS = 20_000;
const COUNTER = 'txn/n';
const ACCOUNTS = ['txn/acct/a', 'txn/acct/b', 'txn/acct/c'];
const BALANCE = 100;

test('txns and plain ops through a leader kill: the history is linearizable with revisions', async (t) => {
  await withFaultCluster(t, { size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const history = new HistoryLog();
    const clients = ['counter-1', 'counter-2', 'transfer', 'plain'].map(
      (name) =>
        new RecordingClient(
          Clerk.lazy({ endpoints: cluster.grpcEndpoints(), clientId: `txn-${name}`, deadlineMs: DEADLINE_MS }),
          `txn-${name}`,
          history,
        ),
    );
    const sums: number[] = [];
    let done = 0;
    const loop = async (body: (n: number) => Promise<void>): Promise<void> => {
      for (let n = 0; n < OPS_PER_CLIENT; n++) {
        try {
          await body(n);
        } catch {
          // Recorded as fail or info; the checker decides.
        }
        done++;
      }
    };
    await clients[0]!.txn({
      compare: [],
      success: [{ op: 'put', key: COUNTER, value: '0' }, ...ACCOUNTS.map((key) => ({ op: 'put' as const, key, value: String(BALANCE) }))],
      failure: [],
    });
    const running = [
      loop(() => increment(clients[0]!)),
      loop(() => increment(clients[1]!)),
      loop((n) => transfer(clients[2]!, n, sums)),
      loop((n) => plain(clients[3]!, n)),
    ];
    try {
      await waitFor(() => done >= OPS_PER_CLIENT, { deadlineMs: 60_000, what: 'a third of the operations' });
      await cluster.kill(leader);
      await cluster.restart(leader);
      await Promise.all(running);
    } finally {
      await Promise.allSettled(running);
      for (const client of clients) client.clerk.close();
    }
    const verdict = checkLinearizable(history.records);
    const counts = history.counts();
    t.diagnostic(`${counts.ok} ok, ${counts.fail} fail, ${counts.unknown} unknown; ${verdict.report.split('\n')[0]}`);
    assert.equal(verdict.result.model, 'kv');
    assert.equal(verdict.result.verdict, 'linearizable', verdict.report);
    // The check has teeth: the same history with one txn's revision off by one is rejected.
    const last = history.records.findLastIndex((record) => record.type === 'ok' && record.op === 'txn' && record.revision !== undefined);
    const tampered = history.records.map((record, index) => (index === last ? { ...record, revision: record.revision! + 1 } : record));
    assert.equal(checkLinearizable(tampered).result.verdict, 'not-linearizable');
    assert.ok(sums.length > 0, 'some account snapshot was read');
    assert.deepEqual(
      sums.filter((sum) => sum !== BALANCE * ACCOUNTS.length),
      [],
      'every snapshot sums to the total',
    );
    assert.deepEqual(cluster.crashes(), []);
  });
});

/** Reads the counter, then adds one if nobody changed it since. */
async function increment(client: RecordingClient): Promise<void> {
  const seen = await client.get(COUNTER);
  const value = Number(seen?.value.toString() ?? '0');
  const txn: HistoryTxn = {
    compare: [{ key: COUNTER, target: 'mod', op: '=', operand: seen?.modRevision ?? 0 }],
    success: [{ op: 'put', key: COUNTER, value: String(value + 1) }],
    failure: [{ op: 'get', key: COUNTER }],
  };
  await client.txn(txn);
}

/** Reads every account in one txn, then moves one unit between two of them if neither changed since. */
async function transfer(client: RecordingClient, n: number, sums: number[]): Promise<void> {
  const snapshot = await client.txn({ compare: [], success: [{ op: 'range', key: 'txn/acct/' }], failure: [] });
  const first = snapshot.responses[0];
  if (first?.type !== 'range') throw new Error('a range result was expected');
  sums.push(first.kvs.reduce((sum, kv) => sum + Number(kv.value.toString()), 0));
  const [from, to] = [first.kvs[n % 3]!, first.kvs[(n + 1) % 3]!];
  await client.txn({
    compare: [
      { key: from.key.toString(), target: 'mod', op: '=', operand: from.modRevision },
      { key: to.key.toString(), target: 'mod', op: '=', operand: to.modRevision },
    ],
    success: [
      { op: 'put', key: from.key.toString(), value: String(Number(from.value.toString()) - 1) },
      { op: 'put', key: to.key.toString(), value: String(Number(to.value.toString()) + 1) },
    ],
    failure: [{ op: 'range', key: 'txn/acct/' }],
  });
}

/** Unique puts and reads on a few plain keys. */
async function plain(client: RecordingClient, n: number): Promise<void> {
  const key = `txn/p/k${n % 3}`;
  if (n % 2 === 0) await client.put(key, `v${n}`);
  else await client.get(`txn/p/k${(n + 1) % 3}`);
}
