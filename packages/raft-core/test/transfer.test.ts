// Goal: leader transfer (thesis §3.10) with TimeoutNow: the target is caught
// up first, then campaigns past the lease; proposals are refused meanwhile;
// a transfer that cannot finish is abandoned after an election timeout.
// Method: 3-node clusters on the in-test network.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@cairn/proto';
import type { NodeId } from '../src/index.js';
import { Network } from './helpers/network.js';

describe('leader transfer', () => {
  test('leadership moves to an up-to-date target', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    const term = net.get(1).node.status().term;
    net.get(1).node.transferLeader(2 as NodeId);
    net.stabilize();
    assert.equal(net.leader(), 2);
    assert.equal(net.get(2).node.status().term, term + 1);
    assert.ok(net.delivered.some((m) => m.type === MessageType.TIMEOUT_NOW && m.to === 2));
  });

  test('a lagging target is caught up before it is told to campaign', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    for (let i = 0; i < 5; i += 1) net.propose(1, `v${i}`);
    net.stabilize();
    net.heal();
    net.get(1).node.transferLeader(3 as NodeId);
    net.stabilize();
    assert.equal(net.leader(), 3);
    assert.equal(net.get(3).applied.length, 5);
  });

  test('a transfer requested on a follower is forwarded to the leader', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.get(2).node.transferLeader(3 as NodeId);
    net.stabilize();
    assert.equal(net.leader(), 3);
  });

  test('proposals are refused while a transfer is in progress', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    net.get(1).node.transferLeader(3 as NodeId);
    assert.deepEqual(net.propose(1, 'x'), { ok: false, reason: 'transfer-in-progress' });
    assert.equal(net.get(1).node.status().leadTransferee, 3);
  });

  test('a transfer to an unreachable target is abandoned after an election timeout', () => {
    const net = Network.create([1, 2, 3], { config: { electionTicks: 10 } });
    net.elect(1);
    net.isolate(3);
    net.get(1).node.transferLeader(3 as NodeId);
    net.tickAll(10);
    assert.equal(net.get(1).node.status().leadTransferee, 0);
    assert.equal(net.leader(), 1);
    assert.deepEqual(net.propose(1, 'x'), { ok: true });
  });

  test('a learner cannot be made leader', () => {
    const net = Network.create([1, 2, 3], { learners: [4] });
    net.elect(1);
    net.get(1).node.transferLeader(4 as NodeId);
    net.stabilize();
    assert.equal(net.leader(), 1);
    assert.equal(net.get(1).node.status().leadTransferee, 0);
  });
});
