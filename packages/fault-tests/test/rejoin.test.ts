/**
 * Issue 17 §1 and §3 of its reproductions: a follower cut off for seconds,
 * by the network (nftables drops both ways) or by a stopped process
 * (SIGSTOP), must rejoin once the fault ends. Method: 3 nodes with default
 * flags, two clerks writing throughout; after the heal, the follower's
 * applied index must reach what the leader had applied at the heal within
 * 2 election timeouts (plus scheduling slack), with a leader known to it.
 * Before the fix the follower often stayed `pre-candidate` for good.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor, type FaultCluster } from '@cairn/testkit';
import { checkLinearizable, HistoryLog, Workload } from '../src/index.js';
import { ELECTION_TIMEOUT_MS, SLACK_MS, holdFault, othersThan, withFaultCluster } from './support.js';

const FAULT_MS = 6_000;
const REJOIN_DEADLINE_MS = 2 * ELECTION_TIMEOUT_MS + SLACK_MS;

interface Fault {
  start(cluster: FaultCluster, follower: number): Promise<void>;
  heal(cluster: FaultCluster, follower: number): Promise<void>;
}

async function followerRejoinsAfter(cluster: FaultCluster, fault: Fault): Promise<void> {
  const leader = await cluster.waitForLeader();
  const follower = othersThan(cluster, leader)[0]!;
  const history = new HistoryLog();
  const workload = new Workload({
    endpoints: cluster.grpcEndpoints(),
    clerks: 2,
    history,
    mix: [
      ['put', 0.5],
      ['append', 0.8],
      ['get', 1],
    ],
  }).start();
  try {
    await waitFor(() => workload.totals.ok >= 20, { deadlineMs: 20_000, what: 'the clerks to be writing' });
    await fault.start(cluster, follower);
    await holdFault(FAULT_MS);
    const before = await cluster.status(leader);
    assert.ok(before !== undefined, 'the leader answers /status');
    await fault.heal(cluster, follower);
    const target = (await cluster.status(leader))?.appliedIndex ?? before.appliedIndex;
    let last: string | undefined;
    const caughtUp = await waitFor(
      async () => {
        const status = await cluster.status(follower);
        last = status === undefined ? 'no answer' : `${status.role}, leader ${status.leaderId}, applied ${status.appliedIndex}`;
        return status !== undefined && status.leaderId !== 0 && status.appliedIndex >= target;
      },
      { deadlineMs: REJOIN_DEADLINE_MS, intervalMs: 50, what: `follower ${follower} to reach applied index ${target}` },
    ).then(
      () => true,
      () => false,
    );
    const leaderNow = await cluster.status(leader);
    assert.ok(
      caughtUp,
      `follower ${follower} did not rejoin within ${REJOIN_DEADLINE_MS} ms of the heal: it is ${last}; ` +
        `the leader is at applied ${leaderNow?.appliedIndex}, its progress for ${follower}: ${JSON.stringify(leaderNow?.progress.find((p) => p.id === follower))}`,
    );
  } finally {
    await workload.stop();
  }
  assert.deepEqual(cluster.crashes(), [], 'no node may crash');
  const verdict = checkLinearizable(history.records);
  assert.equal(verdict.result.verdict, 'linearizable', verdict.report);
}

test('a follower isolated by the network for 6 s rejoins within 2 election timeouts of the heal', async (t) => {
  await withFaultCluster(t, { size: 3 }, (cluster) =>
    followerRejoinsAfter(cluster, {
      start: (c, follower) => c.isolate(follower),
      heal: (c) => c.heal(),
    }),
  );
});

test('a follower stopped (SIGSTOP) for 6 s rejoins within 2 election timeouts of SIGCONT', async (t) => {
  await withFaultCluster(t, { size: 3 }, (cluster) =>
    followerRejoinsAfter(cluster, {
      start: async (c, follower) => c.pause(follower),
      heal: async (c, follower) => c.resume(follower),
    }),
  );
});
