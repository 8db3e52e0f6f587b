/**
 * Issue 17 §2, the rollback half: a follower F whose data dir is restored
 * from an older copy (a VM image, a backup) forgot entries it acknowledged.
 * It must not vote until a leader has caught it up, or it could elect a
 * leader that lacks acknowledged writes (docs/disk-loss.md).
 *
 * Method: 3 real nodes with default flags. F's data dir is copied while F
 * is stopped, F restarts and 50 keys are written and acknowledged, then F
 * is SIGKILLed, the copy restored and F restarted with the same flags.
 *
 * 1. With its leader L alive: F must find the rollback (/status storage
 *    "recovering", one `data-dir-lost` log line; L's own connections to F
 *    are held meanwhile so the fence can be seen before L repairs it), a
 *    leader must then catch it up ("ok"), and once L is killed F and the
 *    third node G must elect a leader, which needs F's vote, that serves every
 *    acknowledged key.
 * 2. With L dead before F is caught up: the rollback matters only if L is
 *    down and the acknowledgements that made a quorum were L's and F's, so G
 *    is cut off while the keys are written. L is then killed with F, F rolled
 *    back and restarted, and the network healed with L kept silent. Plain
 *    Raft lets F (rolled back) vote for G (which never had the keys) and the
 *    keys read as not-found. L, which knew F's match index, is dead, so
 *    only G can tell F its disk went back: G must have seen a term from F
 *    above the copy's, so the test makes G lead a term after the copy was
 *    taken (a leader transfer to G and back, as any election would). Reads
 *    through F and G may fail, but none may say not-found or another value;
 *    once L is back every key reads its value and F is caught up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Clerk } from '@cairn/clerk';
import type { StatusResponse } from '@cairn/proto';
import { type FaultCluster, waitFor } from '@cairn/testkit';
import { ELECTION_TIMEOUT_MS, SLACK_MS, othersThan, readKeys, summarizeReads, withFaultCluster, wrongReads } from './support.js';

const KEYS = 50;
const KEY_NAMES = Array.from({ length: KEYS }, (_, i) => `rolled-back/k${i}`);
const VALUES = Array.from({ length: KEYS }, (_, i) => `v${i}`);
/** A restart runs the node from TypeScript sources, then it asks its peers (a peer that does not answer costs a 1 s survey timeout). */
const STORAGE_STATE_MS = 10 * ELECTION_TIMEOUT_MS + SLACK_MS;
/** Long enough for several elections among the survivors, had they one to win. */
const SURVIVORS_ELECTION_WINDOW_MS = 5 * ELECTION_TIMEOUT_MS;
const DATA_DIR_LOST = 'data-dir-lost';

async function writeKeys(endpoints: string[]): Promise<void> {
  const writer = Clerk.lazy({ endpoints, deadlineMs: 10_000 });
  try {
    for (let i = 0; i < KEYS; i++) await writer.put(KEY_NAMES[i]!, VALUES[i]!);
  } finally {
    writer.close();
  }
}

/** Waits until node `id`'s /status shows `storage` (ok | checking | recovering); returns that status. */
function waitForStorage(
  cluster: FaultCluster,
  id: number,
  storage: string,
  extra: (s: StatusResponse) => boolean = () => true,
): Promise<StatusResponse> {
  return waitFor(
    async () => {
      const status = await cluster.status(id);
      // A node without the field (one from before the startup check) is one that never fences.
      return status !== undefined && (status.storage ?? 'ok') === storage && extra(status) ? status : undefined;
    },
    { deadlineMs: STORAGE_STATE_MS, intervalMs: 50, what: `node ${id}'s /status storage to be "${storage}"` },
  );
}

/** Waits until `id` leads, asking the leader to hand over again if a transfer lapses. */
async function transferLeadership(cluster: FaultCluster, id: number): Promise<void> {
  const admin = Clerk.lazy({ endpoints: cluster.grpcEndpoints(), deadlineMs: 5_000 });
  try {
    await waitFor(
      async () => {
        if ((await cluster.status(id))?.role === 'leader') return true;
        await admin.transferLeader(id).catch(() => undefined);
        return waitFor(async () => (await cluster.status(id))?.role === 'leader', {
          deadlineMs: 2 * ELECTION_TIMEOUT_MS,
          intervalMs: 50,
        }).catch(() => false);
      },
      { deadlineMs: 30_000, intervalMs: 50, what: `node ${id} to lead` },
    );
  } finally {
    admin.close();
  }
}

/** Stops F, copies its data dir, starts it again on the intact dir and waits until it holds everything the leader committed. */
async function copyFollowerDataDir(cluster: FaultCluster, leader: number, f: number): Promise<string> {
  await cluster.kill(f);
  const copy = cluster.saveDataDir(f);
  await cluster.restart(f);
  const target = (await cluster.status(leader))?.commitIndex ?? 0;
  // Its own disk is intact: the startup check must not take it for a loss.
  await waitForStorage(cluster, f, 'ok', (s) => s.appliedIndex >= target);
  return copy;
}

function crashLines(cluster: FaultCluster): string[] {
  return cluster
    .crashes()
    .map((c) => `node ${c.id} exited with ${c.code ?? c.signal}: ${c.outputTail.trim().split('\n').slice(-2).join(' | ')}`);
}

test('a rolled-back follower is fenced until its leader catches it up, then helps elect a leader that has every acknowledged write', async (t) => {
  await withFaultCluster(t, { size: 3, proxy: true }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const [f, g] = othersThan(cluster, leader) as [number, number];
    t.diagnostic(`L = node ${leader}, F = node ${f}, G = node ${g}`);
    const copy = await copyFollowerDataDir(cluster, leader, f);
    await writeKeys(cluster.grpcEndpoints());
    const committed = (await cluster.status(leader))?.commitIndex ?? 0;

    await cluster.kill(f);
    cluster.rollBack(f, copy);
    // Hold the connections L opens to F (F's own to L still work): F can ask L about
    // its disk, but L cannot repair it yet, so the fence stays long enough to be seen.
    cluster.linkProxy(leader, f).blackhole();
    await cluster.restart(f);
    const fenced = await waitForStorage(cluster, f, 'recovering');
    assert.ok(
      fenced.lastIndex < committed,
      `setup: the rollback must take F's log (now ending at ${fenced.lastIndex}) back before the writes (committed to ${committed})`,
    );
    await waitFor(() => cluster.logEvents(f, DATA_DIR_LOST).length > 0, { deadlineMs: 5_000, what: `F to log ${DATA_DIR_LOST}` });

    await cluster.heal();
    await waitForStorage(cluster, f, 'ok', (s) => s.appliedIndex >= committed);

    // G cannot win without F's vote: a new leader means F votes again, holding every write.
    await cluster.kill(leader);
    const newLeader = await cluster.waitForLeader(10 * ELECTION_TIMEOUT_MS + SLACK_MS);
    t.diagnostic(`with L down, node ${newLeader} leads`);
    const reads = await readKeys([cluster.node(f).grpcAddress, cluster.node(g).grpcAddress], KEY_NAMES, 10_000);
    const wrong = reads.flatMap((read, i) => (read === VALUES[i] ? [] : [`${KEY_NAMES[i]}: ${read}`]));

    const problems: string[] = [];
    if (wrong.length > 0)
      problems.push(
        `with L down, ${wrong.length} of ${KEYS} acknowledged keys did not read their value (first: ${wrong.slice(0, 3).join(', ')})`,
      );
    const lostLines = cluster.logEvents(f, DATA_DIR_LOST).length;
    if (lostLines !== 1) problems.push(`F logged ${DATA_DIR_LOST} ${lostLines} times over its three starts, not once`);
    problems.push(...crashLines(cluster));
    assert.deepEqual(problems, []);
  });
});

test('a rolled-back follower whose leader dies before it is caught up never loses an acknowledged write', async (t) => {
  await withFaultCluster(t, { size: 3 }, async (cluster) => {
    const leader = await cluster.waitForLeader();
    const [f, g] = othersThan(cluster, leader) as [number, number];
    t.diagnostic(`L = node ${leader}, F = node ${f}, G = node ${g}`);
    const copy = await copyFollowerDataDir(cluster, leader, f);
    const copyTerm = (await cluster.status(f))?.term ?? 0;
    // A term led by G after the copy: G hears F's votes and acks at a term the copy never reached.
    await transferLeadership(cluster, g);
    // Only what G heard from F shows the rollback: wait until F has acked G in G's term
    // (a transfer may otherwise pass F by, F jumping terms without a word to G).
    await waitFor(async () => ((await cluster.status(g))?.progress.find((p) => p.id === f)?.matchIndex ?? 0) > 0, {
      deadlineMs: 10_000,
      intervalMs: 20,
      what: `F (node ${f}) to ack leader G (node ${g})`,
    });
    await transferLeadership(cluster, leader);

    await cluster.isolate(g);
    await writeKeys([cluster.node(leader).grpcAddress, cluster.node(f).grpcAddress]);
    const leaderStatus = await cluster.status(leader);
    const gStatus = await cluster.status(g);
    assert.ok(leaderStatus !== undefined && gStatus !== undefined);
    assert.ok(
      gStatus.lastIndex < leaderStatus.commitIndex,
      `setup: the isolated G (last index ${gStatus.lastIndex}) must lack the writes (committed to ${leaderStatus.commitIndex})`,
    );
    assert.ok(gStatus.term > copyTerm, `setup: G must have seen a term (${gStatus.term}) past the copy's (${copyTerm})`);

    await cluster.kill(f);
    cluster.rollBack(f, copy);
    await cluster.kill(leader);
    await cluster.restart(f);
    // L's kernel may still hold appends for F and G in its sockets; a dead machine would not send them.
    await cluster.heal({ keepIsolated: [leader] });

    const problems: string[] = [];
    // Recorded, not thrown: what the survivors then serve is the point of this test.
    const fenced = await waitForStorage(cluster, f, 'recovering').catch((error: Error) => {
      problems.push(`F did not fence itself: ${error.message}`);
      return undefined;
    });
    if (fenced !== undefined)
      assert.ok(
        fenced.lastIndex < leaderStatus.commitIndex,
        `setup: the rollback must take F's log (now ending at ${fenced.lastIndex}) back before the writes`,
      );
    // Give F and G time to elect a leader if they (wrongly) can; no leader is the right outcome.
    const survivorLeader = await waitFor(
      async () => {
        const statuses = await Promise.all([f, g].map((id) => cluster.status(id)));
        return statuses.find((s) => s?.role === 'leader')?.id;
      },
      { deadlineMs: SURVIVORS_ELECTION_WINDOW_MS, intervalMs: 100 },
    ).catch(() => undefined);
    if (survivorLeader !== undefined) t.diagnostic(`with L down, node ${survivorLeader} became leader`);
    const survivorReads = await readKeys([cluster.node(f).grpcAddress, cluster.node(g).grpcAddress], KEY_NAMES, 3_000);
    t.diagnostic(`reads with L down: ${summarizeReads(survivorReads)}`);
    const lostWhileDown = wrongReads(KEY_NAMES, VALUES, survivorReads);
    if (lostWhileDown.length > 0)
      problems.push(
        `with L down, ${lostWhileDown.length} of ${KEYS} acknowledged keys read wrong (first: ${lostWhileDown.slice(0, 3).join(', ')})`,
      );

    await cluster.heal();
    await cluster.restart(leader);
    await cluster
      .waitForLeader(10 * ELECTION_TIMEOUT_MS + SLACK_MS)
      .catch((error: Error) => problems.push(`after L restarted: ${error.message}`));
    const finalReads = await readKeys(cluster.grpcEndpoints(), KEY_NAMES, 15_000);
    const wrongAtEnd = finalReads.flatMap((read, i) => (read === VALUES[i] ? [] : [`${KEY_NAMES[i]}: ${read}`]));
    if (wrongAtEnd.length > 0)
      problems.push(
        `after L returned, ${wrongAtEnd.length} of ${KEYS} keys are not their acknowledged value (first: ${wrongAtEnd.slice(0, 3).join(', ')})`,
      );
    await waitForStorage(cluster, f, 'ok', (s) => s.appliedIndex >= leaderStatus.commitIndex).catch((error: Error) =>
      problems.push(`F was not caught up: ${error.message}`),
    );
    const lostLines = cluster.logEvents(f, DATA_DIR_LOST).length;
    if (lostLines !== 1) problems.push(`F logged ${DATA_DIR_LOST} ${lostLines} times over its three starts, not once`);
    problems.push(...crashLines(cluster));
    assert.deepEqual(problems, []);
  });
});
