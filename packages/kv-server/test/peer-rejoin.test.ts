// Goal: a peer link comes back by itself after any outage (issue 17 §1): a
// path that swallows everything long enough to fill the unacked window and
// pass the silence timeout, a connection reset mid-stream, a peer that
// is gone. The link redials while it has something to send, reports itself
// down once and up once, and the receiver keeps one socket per peer.
// Method: real RaftTransports on listenSharedPort over loopback (port 0),
// the path between them through testkit's TcpProxy; every wait has a deadline.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { encodeMessageFrame, MessageBatch } from '@cairn/proto';
import { TcpProxy, waitFor } from '@cairn/testkit';
import { INFLIGHT_BATCHES_MAX } from '../src/limits.js';
import { PEER_LINK_MAGIC } from '../src/transport/peer-frames.js';
import { heartbeat, startTransportNode, type TransportNode } from './helpers/transport-node.js';

/** Generous bound for a healed link to carry messages again; the link's own worst case is a few seconds. */
const REJOIN_DEADLINE_MS = 10_000;

type Node = TransportNode;

const closers: Array<() => unknown> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

async function startNode(id: number): Promise<Node> {
  const node = await startTransportNode(id, 'peer-rejoin-test');
  closers.push(() => node.close());
  return node;
}

async function startProxy(target: string): Promise<TcpProxy> {
  const proxy = await TcpProxy.start({ target });
  closers.push(() => proxy.close());
  return proxy;
}

/** Sends a heartbeat carrying `commit` every interval until `to` received one with at least that commit. */
async function deliverAgain(from: Node, to: Node, peer: number, commit: number, deadlineMs = REJOIN_DEADLINE_MS): Promise<void> {
  await waitFor(
    () => {
      if (to.received.some((m) => m.commit >= commit)) return true;
      from.transport.send([heartbeat(from.transport.selfId, peer, commit)]);
      return false;
    },
    { intervalMs: 50, deadlineMs, what: `a message from ${from.transport.selfId} to get through again` },
  );
}

const count = (logs: string[], event: string): number => logs.filter((l) => (JSON.parse(l) as { event: string }).event === event).length;

describe('a peer link after an outage', () => {
  test('a blackhole that fills the unacked window and outlasts the silence timeout: the link comes back after heal', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    const proxy = await startProxy(b.address);
    a.transport.setPeer(2, proxy.address);
    await deliverAgain(a, b, 2, 1);
    // Its ack may still be on the way when the message has arrived.
    await waitFor(() => a.transport.linkStates().find((l) => l.peer === 2)?.up, {
      deadlineMs: REJOIN_DEADLINE_MS,
      what: 'the link to come up',
    });

    proxy.blackhole();
    // More batches than the window holds, each in its own turn (a turn's messages make one batch).
    for (let i = 0; i < INFLIGHT_BATCHES_MAX + 20; i++) {
      a.transport.send([heartbeat(1, 2, 10 + i)]);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // Heartbeats keep coming, as a leader's do, until the link gives up on the silent path.
    let commit = 1_000;
    await waitFor(
      () => {
        a.transport.send([heartbeat(1, 2, ++commit)]);
        return a.unreachable.length > 0;
      },
      { intervalMs: 50, deadlineMs: 20_000, what: 'the link to report the peer unreachable' },
    );
    const downAt = a.unreachable.length;
    // Redials during the outage meet the blackhole too (accepted, never answered).
    await waitFor(
      () => {
        a.transport.send([heartbeat(1, 2, ++commit)]);
        return a.unreachable.length > downAt;
      },
      { intervalMs: 50, deadlineMs: 20_000, what: 'a redial to fail on the blackhole as well' },
    );
    assert.equal(a.transport.linkStates().find((l) => l.peer === 2)?.up, false, 'the link shows as down');

    proxy.heal();
    await deliverAgain(a, b, 2, 100_000);
    await waitFor(() => a.transport.linkStates().find((l) => l.peer === 2)?.up, {
      deadlineMs: REJOIN_DEADLINE_MS,
      what: 'the link to show as up',
    });
    // Down once and up once, however many redials it took.
    assert.equal(count(a.logs, 'peer-link-down'), 1, a.logs.filter((l) => l.includes('peer-link')).join('\n'));
    assert.equal(count(a.logs, 'peer-link-up'), 2, 'up at the start and after the heal');
  });

  test('a reset mid-stream, then a peer that is gone for a while: the link redials and delivers', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    const proxy = await startProxy(b.address);
    a.transport.setPeer(2, proxy.address);
    await deliverAgain(a, b, 2, 1);
    proxy.cut();
    await deliverAgain(a, b, 2, 2);
    // Connections refused for a while: the proxy's target is a port nobody listens on... until it is the peer again.
    await proxy.close();
    let commit = 10;
    await waitFor(
      () => {
        a.transport.send([heartbeat(1, 2, ++commit)]);
        return a.unreachable.length >= 3;
      },
      { intervalMs: 50, deadlineMs: 20_000, what: 'several failed dials' },
    );
    const direct = await startProxy(b.address);
    // The peer's address changes, as after a restart elsewhere: the new link dials it.
    a.transport.setPeer(2, direct.address);
    await deliverAgain(a, b, 2, 100);
  });

  test('a link with nothing to send still redials and shows the peer as reachable', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    a.transport.setPeer(2, b.address);
    // No message is ever sent: a follower's link to another follower in a quiet cluster.
    await waitFor(() => a.transport.linkStates().find((l) => l.peer === 2)?.up, {
      deadlineMs: REJOIN_DEADLINE_MS,
      what: 'an idle link to come up',
    });
    assert.equal(b.received.length, 0, 'probes carry no raft messages');
  });

  test('a new connection from a peer replaces its old one (a half-open socket does not linger)', async () => {
    const b = await startNode(2);
    // An old link from node 1 whose sender is gone without a FIN reaching b (a cable pulled, a partition).
    const stale = net.connect({ host: '127.0.0.1', port: b.port.port });
    stale.on('error', () => undefined);
    const staleClosed = new Promise<void>((resolve) => stale.on('close', () => resolve()));
    stale.resume();
    stale.write(PEER_LINK_MAGIC);
    stale.write(
      encodeMessageFrame(MessageBatch, {
        clusterId: 'peer-rejoin-test',
        from: 1,
        to: 2,
        sequence: 1,
        messages: [heartbeat(1, 2, 1)],
        senderHttpAddress: '',
        senderPeerAddress: '',
        senderIncarnation: 0,
      }),
    );
    await waitFor(() => b.received.some((m) => m.commit === 1), { deadlineMs: 10_000, what: 'the stale link to deliver' });
    closers.push(() => stale.destroy());

    const a = await startNode(1);
    a.transport.setPeer(2, b.address);
    await deliverAgain(a, b, 2, 2);
    await staleClosed;
    assert.equal(b.transport.incomingPeerSocketCount(), 1);
  });
});
