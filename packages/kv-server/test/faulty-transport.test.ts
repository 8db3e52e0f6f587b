// Goal: fault injection lives in FaultyTransport only, and does what chaos
// relies on: a partition on one node cuts both directions (its messages to
// the peer are not sent; the peer's batches still reach it and are acked, so
// the link stays up, but their messages are not taken in, and a snapshot is
// refused); a delayed message arrives, a dropped one never; clearing the fault restores delivery.
// Method: real transports on listenSharedPort over loopback (port 0); node 1
// is a FaultyTransport, node 2 a plain RaftTransport.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Message, MessageType } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import { FaultInjector } from '../src/transport/faults.js';
import { RaftTransport } from '../src/transport/raft-transport.js';
import { heartbeat, startTransportNode, type TransportNode } from './helpers/transport-node.js';

const nodes: TransportNode[] = [];
after(async () => {
  for (const node of nodes) await node.close();
});

/** Counts the incoming checks, to know that a peer's batch has reached the gate. */
class CountingInjector extends FaultInjector {
  incomingChecks = 0;

  override incoming(peer: number): boolean {
    this.incomingChecks += 1;
    return super.incoming(peer);
  }
}

async function pair(): Promise<{ a: TransportNode; b: TransportNode; faults: CountingInjector }> {
  const faults = new CountingInjector();
  const a = await startTransportNode(1, 'faults-test', faults);
  const b = await startTransportNode(2, 'faults-test');
  nodes.push(a, b);
  a.transport.setPeer(2, b.address);
  b.transport.setPeer(1, a.address);
  return { a, b, faults };
}

describe('FaultyTransport', () => {
  test('the plain transport has no fault methods', () => {
    assert.equal('faults' in RaftTransport.prototype, false);
    assert.equal(
      Object.getOwnPropertyNames(RaftTransport.prototype).some((name) => /fault/i.test(name)),
      false,
    );
  });

  test('a partition cuts both directions and keeps the link up; clearing it restores delivery', async () => {
    const { a, b, faults } = await pair();
    a.transport.send([heartbeat(1, 2, 1)]);
    b.transport.send([heartbeat(2, 1, 1)]);
    // b's link counts as up once b has the ack of its first batch, which can come after a took the message in.
    await waitFor(() => a.received.length === 1 && b.received.length === 1 && b.transport.linkStates()[0]?.up === true, {
      what: 'delivery before the fault, and b seeing its link up',
    });

    faults.add({ kind: 'partition', peers: [2], dropRate: 0, delayMs: 0, untilMs: undefined });
    // b's batches reach a and are acked (b's link stays up), but their messages are not taken in.
    const upSince = b.transport.linkStates()[0]!.sinceMs;
    const checks = faults.incomingChecks;
    for (let commit = 2; commit <= 5; commit++) b.transport.send([heartbeat(2, 1, commit)]);
    a.transport.send([heartbeat(1, 2, 2)]);
    const snapshot = {
      ...heartbeat(2, 1, 0),
      type: MessageType.SNAP,
      snapshot: { data: Buffer.from('state'), metadata: { index: 5, term: 1, confState: undefined } },
    } as Message;
    b.transport.send([snapshot]);
    await waitFor(() => b.snapshots.length === 1 && faults.incomingChecks >= checks + 2, {
      what: 'the batch and the snapshot at the gate',
    });
    assert.deepEqual(b.snapshots, [{ peer: 1, ok: false }], 'a snapshot from a partitioned peer is refused');
    assert.deepEqual(
      a.received.map((m) => m.commit),
      [1],
      'nothing from the partitioned peer was taken in',
    );
    assert.deepEqual(
      b.received.map((m) => m.commit),
      [1],
      'nothing was sent to the partitioned peer',
    );
    assert.equal(b.transport.linkStates()[0]!.up, true, 'the partitioned link stays up');
    assert.equal(b.transport.linkStates()[0]!.sinceMs, upSince, 'and did not go down meanwhile');

    faults.clear();
    a.transport.send([heartbeat(1, 2, 6)]);
    b.transport.send([heartbeat(2, 1, 6)]);
    await waitFor(() => a.received.some((m) => m.commit === 6) && b.received.some((m) => m.commit === 6), {
      what: 'delivery after the fault is cleared',
    });
  });

  test('a delayed message still arrives; a drop rate of 1 drops them all', async () => {
    const { a, b, faults } = await pair();
    faults.add({ kind: 'drop', peers: [], dropRate: 1, delayMs: 0, untilMs: undefined });
    a.transport.send([heartbeat(1, 2, 1)]);
    faults.clear();
    faults.add({ kind: 'delay', peers: [2], dropRate: 0, delayMs: 300, untilMs: undefined });
    a.transport.send([heartbeat(1, 2, 2)]);
    await waitFor(() => b.received.length > 0, { what: 'the delayed message' });
    assert.deepEqual(
      b.received.map((m) => m.commit),
      [2],
      'the dropped message never arrived',
    );
  });
});
