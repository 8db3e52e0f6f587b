// Goal: PreVote (thesis §9.6) and CheckQuorum/leader lease (§6.2, §4.2.3)
// behave as in etcd: partitioned nodes cannot disrupt a healthy cluster, an
// isolated leader steps down, and leader transfer bypasses the lease.
// Method: 3-node clusters on the in-test network with partitions, plus single
// nodes fed crafted vote requests.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@cairn/proto';
import { CAMPAIGN_TRANSFER_CONTEXT } from '../src/raft.js';
import { drain, msg, newNode, ofType } from './helpers/manual.js';
import { Network } from './helpers/network.js';

describe('PreVote', () => {
  test('a partitioned follower does not raise its term, so rejoining does not depose the leader', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    const term = net.get(1).node.status().term;
    net.isolate(3);
    net.tickAll(100);
    assert.equal(net.get(3).node.status().term, term, 'pre-votes failed, so the term stayed');
    net.heal();
    net.tickAll(5);
    assert.equal(net.leader(), 1);
    assert.equal(net.get(1).node.status().term, term);
  });

  test('without PreVote a partitioned follower raises its term on every timeout', () => {
    const net = Network.create([1, 2, 3], { config: { preVote: false } });
    net.elect(1);
    const term = net.get(1).node.status().term;
    net.isolate(3);
    net.tickAll(100);
    assert.ok(net.get(3).node.status().term > term + 1);
  });

  test('granting a pre-vote changes neither the term nor the vote', () => {
    const n = newNode(2, [1, 2, 3], { term: 1, config: { checkQuorum: false } });
    n.node.step(msg({ type: MessageType.PRE_VOTE, from: 1, to: 2, term: 2, index: 0, logTerm: 0 }));
    const [response] = ofType(drain(n), MessageType.PRE_VOTE_RESP);
    assert.equal(response!.reject, false);
    assert.equal(response!.term, 2);
    assert.equal(n.node.status().term, 1);
    assert.equal(n.node.status().vote, 0);
  });

  test('a pre-candidate that wins the pre-vote starts a real election in the next term', () => {
    const n = newNode(1, [1, 2, 3], { term: 4 });
    n.node.campaign();
    const preVotes = ofType(drain(n), MessageType.PRE_VOTE);
    assert.equal(preVotes.length, 2);
    assert.equal(n.node.status().role, 'pre-candidate');
    assert.equal(n.node.status().term, 4);
    n.node.step(msg({ type: MessageType.PRE_VOTE_RESP, from: 2, to: 1, term: 5 }));
    const votes = ofType(drain(n), MessageType.VOTE);
    assert.equal(votes.length, 2);
    assert.equal(n.node.status().role, 'candidate');
    assert.equal(n.node.status().term, 5);
  });
});

describe('CheckQuorum', () => {
  test('a leader that cannot hear from a quorum steps down within two election timeouts', () => {
    const net = Network.create([1, 2, 3], { config: { electionTicks: 10 } });
    net.elect(1);
    net.isolate(1);
    for (let i = 0; i < 20; i += 1) net.tick(1);
    net.stabilize();
    assert.equal(net.get(1).node.status().role, 'follower');
  });

  test('a leader with a live quorum keeps leading', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    net.tickAll(100);
    assert.equal(net.leader(), 1);
    assert.equal(net.get(1).node.status().role, 'leader');
  });

  test('a follower that recently heard from its leader ignores a higher-term vote request (lease)', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    const follower = net.get(2);
    const term = follower.node.status().term;
    follower.node.step(msg({ type: MessageType.VOTE, from: 3, to: 2, term: term + 1, index: 100, logTerm: term }));
    assert.equal(follower.node.status().term, term);
    net.processReady(2);
    assert.equal(net.queue.filter((m) => m.type === MessageType.VOTE_RESP).length, 0);
  });

  test('a vote request from a leader-transfer campaign bypasses the lease', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    const follower = net.get(2);
    const term = follower.node.status().term;
    follower.node.step(
      msg({
        type: MessageType.VOTE,
        from: 3,
        to: 2,
        term: term + 1,
        index: 100,
        logTerm: term,
        context: CAMPAIGN_TRANSFER_CONTEXT,
      }),
    );
    assert.equal(follower.node.status().term, term + 1);
    assert.equal(follower.node.status().vote, 3);
  });

  test('a stale leader steps down when followers answer its heartbeat with their newer term', () => {
    const net = Network.create([1, 2, 3], { config: { checkQuorum: false } });
    net.elect(1);
    net.isolate(1);
    net.get(2).node.campaign();
    net.stabilize();
    assert.equal(net.get(2).node.status().role, 'leader');
    assert.equal(net.get(1).node.status().role, 'leader', 'the old leader does not know yet');
    net.heal();
    net.tick(1, 2);
    net.stabilize();
    assert.equal(net.get(1).node.status().role, 'follower');
    net.tick(2, 1);
    net.stabilize();
    assert.equal(net.get(1).node.status().leaderId, 2, 'it then follows the new leader');
  });
});
