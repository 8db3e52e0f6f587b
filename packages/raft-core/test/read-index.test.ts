// Goal: ReadIndex (thesis §6.4) gives linearizable reads: answered with the
// commit index only after a heartbeat quorum, batched per heartbeat round,
// forwarded from followers, and held by a new leader until it commits in its term.
// Method: in-test network clusters with partitions; a hand-driven leader for
// the new-leader rule.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@cairn/proto';
import { drain, msg, newNode, ofType } from './helpers/manual.js';
import { Network } from './helpers/network.js';

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

describe('ReadIndex', () => {
  test('the leader answers with its commit index once a quorum acknowledges a heartbeat', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.propose(1, 'a');
    net.stabilize();
    net.get(1).node.readIndex(Buffer.from('r1'));
    net.stabilize();
    const states = net.get(1).readStates;
    assert.equal(states.length, 1);
    assert.equal(states[0]!.index, net.get(1).node.status().commitIndex);
    assert.equal(text(states[0]!.context), 'r1');
  });

  test('a leader cut off from its quorum does not answer reads', () => {
    const net = Network.create([1, 2, 3], { config: { checkQuorum: false } });
    net.elect(1);
    net.isolate(1);
    net.get(1).node.readIndex(Buffer.from('r1'));
    net.stabilize();
    net.tickAll(3);
    assert.equal(net.get(1).readStates.length, 0);
    net.heal();
    net.tickAll(1);
    assert.equal(net.get(1).readStates.length, 1, 'answered once the quorum is back');
  });

  test('reads that arrive while a round is in flight share the next heartbeat round', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    const leader = net.get(1);
    leader.node.readIndex(Buffer.from('a'));
    net.processReady(1);
    leader.node.readIndex(Buffer.from('b'));
    leader.node.readIndex(Buffer.from('c'));
    leader.node.readIndex(Buffer.from('d'));
    net.delivered = [];
    net.stabilize();
    assert.deepEqual(
      leader.readStates.map((s) => text(s.context)),
      ['a', 'b', 'c', 'd'],
    );
    const heartbeats = net.delivered.filter((m) => m.type === MessageType.HEARTBEAT && m.context.length > 0);
    assert.equal(heartbeats.length, 2 + 2, 'two rounds of two heartbeats served four reads');
  });

  test("a follower's read is forwarded to the leader and answered on the follower", () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.propose(1, 'a');
    net.stabilize();
    net.get(3).node.readIndex(Buffer.from('f'));
    net.stabilize();
    const states = net.get(3).readStates;
    assert.equal(states.length, 1);
    assert.equal(states[0]!.index, net.get(1).node.status().commitIndex);
    assert.equal(text(states[0]!.context), 'f');
  });

  test('a single-node cluster answers reads without a round trip', () => {
    const net = Network.create([1]);
    net.elect(1);
    net.get(1).node.readIndex(Buffer.from('x'));
    net.processReady(1);
    assert.equal(net.get(1).readStates.length, 1);
  });

  test('a new leader holds reads until it has committed an entry of its own term', () => {
    const leader = newNode(1, [1, 2, 3], {
      term: 1,
      log: [
        [1, 1],
        [2, 1],
      ],
      commit: 1,
      config: { preVote: false },
    });
    leader.node.campaign();
    drain(leader);
    leader.node.step(msg({ type: MessageType.VOTE_RESP, from: 2, to: 1, term: 2 }));
    drain(leader);
    assert.equal(leader.node.status().role, 'leader');
    leader.node.readIndex(Buffer.from('early'));
    const beforeCommit = drain(leader);
    assert.equal(ofType(beforeCommit, MessageType.HEARTBEAT).length, 0, 'no read round before committing in term 2');
    leader.node.step(msg({ type: MessageType.APP_RESP, from: 2, to: 1, term: 2, index: 3 }));
    const afterCommit = drain(leader);
    const heartbeats = ofType(afterCommit, MessageType.HEARTBEAT);
    assert.equal(heartbeats.length, 2);
    leader.node.step(msg({ type: MessageType.HEARTBEAT_RESP, from: 2, to: 1, term: 2, context: heartbeats[0]!.context }));
    drain(leader);
    assert.equal(leader.readStates.length, 1);
    assert.equal(leader.readStates[0]!.index, 3, 'the read index is the commit index after the term-2 entry');
  });
});
