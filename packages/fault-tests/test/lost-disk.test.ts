/**
 * Issue 17 §2: a node whose data dir was wiped must not help elect a leader
 * that lacks acknowledged writes. Method (the issue's reproduction): 3
 * nodes; follower F2 is partitioned from leader L and follower F1; 50 keys
 * are written and acknowledged (by L and F1 alone); L and F1 are killed
 * (SIGKILL); F1's data dir is deleted and F1 restarted with the same flags
 * (it may instead refuse to start, etcd's rule); the partition heals while
 * L stays down (and cut off: its kernel must not deliver what its killed
 * process had queued, as a dead machine would not). Then no read of the 50 keys may say not-found (a value or
 * an error is fine: F2 alone cannot know them); once L is back, all 50 are
 * present; and no node crashes at any point.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Clerk } from '@cairn/clerk';
import { FaultHarnessError, waitFor } from '@cairn/testkit';
import { ELECTION_TIMEOUT_MS, SLACK_MS, othersThan, readKeys, summarizeReads, wrongReads, withFaultCluster } from './support.js';

const KEYS = 50;
/** Long enough for several elections among the survivors, had they one to win. */
const SURVIVORS_ELECTION_WINDOW_MS = 5 * ELECTION_TIMEOUT_MS;
const READ_DEADLINE_MS = 3_000;

const keyOf = (i: number): string => `lost-disk/k${i}`;
const valueOf = (i: number): string => `v${i}`;

const KEY_NAMES = Array.from({ length: KEYS }, (_, i) => keyOf(i));
const VALUES = Array.from({ length: KEYS }, (_, i) => valueOf(i));

test('a wiped data dir never loses acknowledged writes, and no node crashes', async (t) => {
  await withFaultCluster(t, { size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const [f1, f2] = othersThan(cluster, leader) as [number, number];
    t.diagnostic(`L = node ${leader}, F1 = node ${f1}, F2 = node ${f2}`);
    await cluster.isolate(f2);

    const writer = Clerk.lazy({ endpoints: [cluster.node(leader).grpcAddress, cluster.node(f1).grpcAddress], deadlineMs: 10_000 });
    try {
      for (let i = 0; i < KEYS; i++) await writer.put(keyOf(i), valueOf(i));
    } finally {
      writer.close();
    }
    const leaderStatus = await cluster.status(leader);
    const f2Status = await cluster.status(f2);
    assert.ok(leaderStatus !== undefined && f2Status !== undefined);
    assert.ok(
      f2Status.lastIndex < leaderStatus.commitIndex,
      `setup: the partitioned F2 (last index ${f2Status.lastIndex}) must lack the writes (committed to ${leaderStatus.commitIndex})`,
    );

    await cluster.kill(leader);
    await cluster.kill(f1);
    cluster.wipe(f1);
    let f1Refused: string | undefined;
    try {
      await cluster.restart(f1);
    } catch (error) {
      // Refusing to start on an empty data dir of an existing cluster is an allowed design; the error must be clean.
      if (!(error instanceof FaultHarnessError) || error.code !== 'NODE_START_FAILED') throw error;
      f1Refused = error.message;
      t.diagnostic(`F1 refused to start with a wiped data dir: ${error.message}`);
    }
    // L's kernel may still hold appends for F2 in its sockets; a dead machine would not send them.
    await cluster.heal({ keepIsolated: [leader] });

    const problems: string[] = [];
    // Give the survivors time to elect a leader if they (wrongly) can; no leader is the right outcome.
    const survivorLeader = await waitFor(
      async () => {
        const statuses = await Promise.all([f1, f2].map((id) => cluster.status(id)));
        return statuses.find((s) => s?.role === 'leader')?.id;
      },
      { deadlineMs: SURVIVORS_ELECTION_WINDOW_MS, intervalMs: 100 },
    ).catch(() => undefined);
    if (survivorLeader !== undefined) t.diagnostic(`with L down, node ${survivorLeader} became leader`);
    const survivorReads = await readKeys([cluster.node(f1).grpcAddress, cluster.node(f2).grpcAddress], KEY_NAMES, READ_DEADLINE_MS);
    t.diagnostic(`reads with L down: ${summarizeReads(survivorReads)}`);
    const lostWhileDown = wrongReads(KEY_NAMES, VALUES, survivorReads);
    if (lostWhileDown.length > 0)
      problems.push(
        `with L down, ${lostWhileDown.length} of ${KEYS} acknowledged keys read wrong (first: ${lostWhileDown.slice(0, 3).join(', ')})`,
      );

    await cluster.heal();
    await cluster.restart(leader);
    await cluster
      .waitForLeader(ELECTION_TIMEOUT_MS * 10 + SLACK_MS * 5)
      .catch((error: Error) => problems.push(`after L restarted: ${error.message}`));
    const finalReads = await readKeys(cluster.grpcEndpoints(), KEY_NAMES, 15_000);
    const wrongAtEnd = finalReads.flatMap((read, i) => (read === VALUES[i] ? [] : [`${KEY_NAMES[i]}: ${read}`]));
    if (wrongAtEnd.length > 0)
      problems.push(
        `after L returned, ${wrongAtEnd.length} of ${KEYS} keys are not their acknowledged value (first: ${wrongAtEnd.slice(0, 3).join(', ')})`,
      );

    const crashes = cluster
      .crashes()
      .map((c) => `node ${c.id} exited with ${c.code ?? c.signal}: ${c.outputTail.trim().split('\n').slice(-2).join(' | ')}`);
    problems.push(...crashes);
    if (f1Refused !== undefined && /INTERNAL|AssertionError/.test(f1Refused))
      problems.push(`F1's refusal to start is not a clean error: ${f1Refused}`);
    assert.deepEqual(problems, []);
  });
});
