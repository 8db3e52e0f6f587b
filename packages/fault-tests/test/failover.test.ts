/**
 * Issue 17 §4: clerks ride out an ordinary leader failover. Method: 5
 * clerks, each with a 20 s deadline, append unique tokens to one key
 * (50 each) while the leader is killed (SIGKILL) a third of the way in,
 * restarted, and the next leader killed two thirds of the way in (the
 * give-up depends on timing; two failovers make it show far more often).
 * Required: no call fails (an election takes about a second, far inside the
 * deadline), the recorded history is linearizable per the checker, and
 * the final value holds every acknowledged token exactly once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Clerk, ClerkError } from '@cairn/clerk';
import { waitFor } from '@cairn/testkit';
import { HistoryLog, checkLinearizable } from '../src/index.js';
import { withFaultCluster } from './support.js';

const CLERKS = 5;
const APPENDS_PER_CLERK = 50;
const DEADLINE_MS = 20_000;
const KEY = 'failover/log';

test('5 clerks appending through leader kills: no call fails, the history is linearizable', async (t) => {
  await withFaultCluster(t, { size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const history = new HistoryLog();
    const clerks = Array.from({ length: CLERKS }, (_, i) =>
      Clerk.lazy({ endpoints: cluster.grpcEndpoints(), clientId: `failover-c${i + 1}`, history, deadlineMs: DEADLINE_MS }),
    );
    const failures: string[] = [];
    const acknowledged: string[] = [];
    let done = 0;
    const appending = clerks.map(async (clerk, c) => {
      for (let n = 0; n < APPENDS_PER_CLERK; n++) {
        const token = `<c${c + 1}.${n}>`;
        const started = performance.now();
        try {
          await clerk.append(KEY, token);
          acknowledged.push(token);
        } catch (error) {
          const code = error instanceof ClerkError ? error.code : String(error);
          failures.push(`${token} ${code} after ${Math.round(performance.now() - started)} ms: ${(error as Error).message}`);
        }
        done++;
      }
    });
    try {
      await waitFor(() => done >= (CLERKS * APPENDS_PER_CLERK) / 3, { deadlineMs: 60_000, what: 'a third of the appends' });
      await cluster.kill(leader);
      await cluster.restart(leader);
      const second = await cluster.waitForLeader();
      await waitFor(() => done >= (2 * CLERKS * APPENDS_PER_CLERK) / 3, { deadlineMs: 60_000, what: 'two thirds of the appends' });
      await cluster.kill(second);
      await Promise.all(appending);
      const reader = clerks[0]!;
      const final = (await reader.get(KEY))?.value.toString() ?? '';
      const counts = new Map<string, number>();
      for (const token of final.match(/<[^>]+>/g) ?? []) counts.set(token, (counts.get(token) ?? 0) + 1);
      const notOnce = acknowledged.filter((token) => counts.get(token) !== 1);
      assert.deepEqual(notOnce, [], 'every acknowledged token appears exactly once');
    } finally {
      await Promise.allSettled(appending);
      for (const clerk of clerks) clerk.close();
    }
    const verdict = checkLinearizable(history.records);
    t.diagnostic(`${history.counts().ok} ok, ${failures.length} failed; ${verdict.report.split('\n')[0]}`);
    assert.equal(verdict.result.verdict, 'linearizable', verdict.report);
    assert.deepEqual(failures, [], `no call may fail within its ${DEADLINE_MS} ms deadline during a failover`);
    assert.deepEqual(cluster.crashes(), []);
  });
});
