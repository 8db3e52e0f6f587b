// Goal: a follower cut off for longer than the peer link's window and
// silence timeout rejoins a real 3-node cluster by itself once the fault
// ends (issue 17 §1), within two election timeouts plus slack; meanwhile the
// leader's /status and /metrics show its link down, and the leader logs that
// once. Faults come from outside the processes: SIGSTOP/SIGCONT, and the
// follower's peer traffic blackholed in TcpProxies between the nodes.
// Method: cairn-server child processes (TestCluster), clients writing
// throughout, every wait bounded by a deadline. The election timeout is the
// default 1 s, but in 10 ms ticks with a heartbeat every tick: the leader
// then sends the cut-off follower more batches than the link's window (256)
// before its silence timeout passes, however fast the disk is. That is the
// case that cut a follower off for good; at 100 ms heartbeats it needs a
// fast enough write rate and happened only in some runs.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type NodeProcess, TcpProxy, TestCluster, waitFor } from '@cairn/testkit';
import { TestClient } from './helpers/kv-client.js';

const TICK_MS = 10;
const ELECTION_TICKS = 100;
/** Raft randomizes the election timeout in [ELECTION_TICKS, 2 × ELECTION_TICKS) ticks: the longest one. */
const ELECTION_TIMEOUT_MAX_MS = 2 * ELECTION_TICKS * TICK_MS;
/** Two election timeouts, plus slack for a loaded 2-core machine running three nodes and the test. */
const REJOIN_DEADLINE_MS = 2 * ELECTION_TIMEOUT_MAX_MS + 3_000;
/** Longer than the link's silence timeout, and long enough to fill its unacked window. */
const OUTAGE_MS = 6_000;
/** Writes during the outage: each is a batch to the follower, so the window (256) fills. */
const OUTAGE_WRITES_MIN = 300;
const NODE_ARGS = ['--tick-ms', String(TICK_MS), '--election-ticks', String(ELECTION_TICKS), '--heartbeat-ticks', '1'];

interface PeerLinkJson {
  peer: number;
  up: boolean;
  since: string;
  reason?: string;
}

async function peerLinks(node: NodeProcess): Promise<PeerLinkJson[]> {
  const response = await fetch(`http://${node.httpAddress}/status`, { signal: AbortSignal.timeout(2_000) });
  return ((await response.json()) as { peerLinks: PeerLinkJson[] }).peerLinks;
}

async function metrics(node: NodeProcess): Promise<string> {
  const response = await fetch(`http://${node.httpAddress}/metrics`, { signal: AbortSignal.timeout(2_000) });
  return response.text();
}

async function appliedIndex(cluster: TestCluster, node: NodeProcess): Promise<number> {
  return (await cluster.status(node)).appliedIndex;
}

/** Sequential writes from WRITER_CLIENTS clients until stopped; counts what was acknowledged. */
const WRITER_CLIENTS = 4;
const writers: Array<{ stop(): Promise<void> }> = [];

function startWriter(cluster: TestCluster): { readonly acknowledged: number; stop(): Promise<void> } {
  let stopped = false;
  let acknowledged = 0;
  const done = Promise.all(
    Array.from({ length: WRITER_CLIENTS }, async (_, c) => {
      const client = new TestClient(cluster);
      for (let i = 0; !stopped; i++) {
        await client.put(`rejoin/${c}/${i % 100}`, `v${i}`, 20_000);
        acknowledged += 1;
      }
    }),
  );
  const writer = {
    get acknowledged() {
      return acknowledged;
    },
    async stop() {
      stopped = true;
      await done;
    },
  };
  writers.push(writer);
  return writer;
}

/** Keeps the writer going through the outage: at least OUTAGE_MS and OUTAGE_WRITES_MIN writes. */
async function outage(writer: { readonly acknowledged: number }): Promise<void> {
  const startedAt = Date.now();
  const writesBefore = writer.acknowledged;
  await waitFor(() => Date.now() - startedAt >= OUTAGE_MS && writer.acknowledged - writesBefore >= OUTAGE_WRITES_MIN, {
    deadlineMs: 60_000,
    intervalMs: 100,
    what: `${OUTAGE_MS} ms and ${OUTAGE_WRITES_MIN} writes while the follower is cut off`,
  });
}

/** The leader shows the follower's link down in /status and /metrics. */
async function leaderShowsLinkDown(leader: NodeProcess, follower: NodeProcess): Promise<void> {
  const link = await waitFor(async () => (await peerLinks(leader)).find((l) => l.peer === follower.id && !l.up), {
    deadlineMs: 20_000,
    what: `the leader's /status to show the link to ${follower.id} down`,
  });
  assert.ok(link.reason !== undefined && link.reason.length > 0, 'a down link says why');
  assert.match(await metrics(leader), new RegExp(`cairn_peer_link_up\\{peer="${follower.id}"\\} 0`));
}

/** Waits for the follower to apply what the leader had applied at the heal; returns how long that took (ms). */
async function caughtUp(cluster: TestCluster, leader: NodeProcess, follower: NodeProcess): Promise<number> {
  const healedAt = Date.now();
  const target = await appliedIndex(cluster, leader);
  await waitFor(async () => (await appliedIndex(cluster, follower)) >= target, {
    deadlineMs: REJOIN_DEADLINE_MS,
    intervalMs: 50,
    what: `follower ${follower.id} to apply index ${target}, the leader's at the heal`,
  });
  return Date.now() - healedAt;
}

function linkLogCount(node: NodeProcess, event: string, peer: number): number {
  return node.stderr.split('\n').filter((line) => line.includes(`"event":"${event}"`) && line.includes(`"peer":${peer},`)).length;
}

describe('a follower cut off for longer than the peer link can wait', () => {
  let cluster: TestCluster | undefined;
  const proxies: TcpProxy[] = [];
  after(async () => {
    await Promise.allSettled(writers.map((w) => w.stop()));
    await cluster?.stop();
    for (const proxy of proxies) await proxy.close();
  });

  test('paused with SIGSTOP while a client writes, it catches up after SIGCONT', async (t) => {
    cluster = await TestCluster.start({ size: 3, extraArgs: NODE_ARGS });
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n.id !== leader.id)!;
    const writer = startWriter(cluster);
    await waitFor(() => writer.acknowledged >= 20, { what: 'the first writes' });
    await waitFor(async () => (await peerLinks(leader)).find((l) => l.peer === follower.id)?.up, {
      what: 'the link to the follower to be up',
    });

    follower.process!.kill('SIGSTOP');
    try {
      await outage(writer);
      await leaderShowsLinkDown(leader, follower);
    } finally {
      follower.process!.kill('SIGCONT');
    }
    t.diagnostic(`caught up ${await caughtUp(cluster, leader, follower)} ms after the heal`);
    await writer.stop();

    await waitFor(async () => (await peerLinks(leader)).find((l) => l.peer === follower.id)?.up, { what: 'the link to show as up again' });
    assert.equal(linkLogCount(leader, 'peer-link-down', follower.id), 1, 'peer-link-down is logged once, not per redial');
    assert.ok(linkLogCount(leader, 'peer-link-up', follower.id) >= 2, 'peer-link-up at the start and after the heal');
    await cluster.stop();
    cluster = undefined;
  });

  test('its peer traffic blackholed both ways (TcpProxy), it catches up after the heal', async (t) => {
    // One proxy per directed link; node `from` dials `to` through proxy `from>to`.
    const targets = new Map<number, string>();
    const links = new Map<string, TcpProxy>();
    for (const from of [1, 2, 3]) {
      for (const to of [1, 2, 3]) {
        if (from === to) continue;
        const proxy = await TcpProxy.start({ target: () => targets.get(to)! });
        proxies.push(proxy);
        links.set(`${from}>${to}`, proxy);
      }
    }
    cluster = await TestCluster.start({
      size: 3,
      extraArgs: NODE_ARGS,
      peerAddress: (from, to) => {
        targets.set(to.id, to.grpcAddress);
        return links.get(`${from}>${to.id}`)!.address;
      },
    });
    const leader = await cluster.waitForLeader();
    const follower = cluster.nodes.find((n) => n.id !== leader.id)!;
    const isolating = [...links].filter(([name]) => name.split('>').includes(String(follower.id))).map(([, proxy]) => proxy);
    assert.equal(isolating.length, 4);
    const writer = startWriter(cluster);
    await waitFor(() => writer.acknowledged >= 20, { what: 'the first writes' });

    for (const proxy of isolating) proxy.blackhole();
    try {
      await outage(writer);
      await leaderShowsLinkDown(leader, follower);
    } finally {
      for (const proxy of isolating) proxy.heal();
    }
    t.diagnostic(`caught up ${await caughtUp(cluster, leader, follower)} ms after the heal`);
    await writer.stop();
    assert.equal(linkLogCount(leader, 'peer-link-down', follower.id), 1, 'peer-link-down is logged once, not per redial');
  });
});
