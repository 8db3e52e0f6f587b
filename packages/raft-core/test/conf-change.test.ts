// Goal: single-server membership changes (thesis §4.1, etcd style) are safe:
// learners replicate without voting, changes take effect when applied, only
// one change is pending at a time, a new leader must commit in its term before
// changing membership (Ongaro, raft-dev 2015), and a removed leader appends
// nothing after its removal (so the rest can still win its vote) and steps down.
// Method: in-test network clusters; joining nodes start with the cluster's
// configuration plus themselves as learner; a hand-driven leader for the
// commit-in-term rule.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfChangeType, EntryType, MessageType } from '@cairn/proto';
import { MemoryStorage, encodeConfChange, type NodeId } from '../src/index.js';
import { drain, msg, newNode } from './helpers/manual.js';
import { Network, ids } from './helpers/network.js';

const change = (type: ConfChangeType, nodeId: number) => ({ type, nodeId, context: Buffer.alloc(0) });

function clusterWithLearner4(): Network {
  const net = Network.create([1, 2, 3]);
  net.elect(1);
  net.propose(1, 'a');
  net.stabilize();
  net.add(4, MemoryStorage.create(ids(1, 2, 3), ids(4)));
  assert.deepEqual(net.get(1).node.proposeConfChange(change(ConfChangeType.ADD_LEARNER_NODE, 4)), { ok: true });
  net.stabilize();
  return net;
}

describe('membership changes', () => {
  test('a new learner catches up on the log', () => {
    const net = clusterWithLearner4();
    assert.deepEqual(net.get(1).node.status().learners, [4]);
    assert.deepEqual(net.get(4).applied, ['a']);
    net.propose(1, 'b');
    net.stabilize();
    assert.deepEqual(net.get(4).applied, ['a', 'b']);
  });

  test('a learner does not count toward the commit quorum', () => {
    const net = clusterWithLearner4();
    net.isolate(2);
    net.isolate(3);
    const commit = net.get(1).node.status().commitIndex;
    net.propose(1, 'b');
    net.stabilize();
    assert.equal(net.get(4).node.status().lastIndex, commit + 1, 'the learner has the entry');
    assert.equal(net.get(1).node.status().commitIndex, commit, 'but it is not committed');
  });

  test('a learner never campaigns', () => {
    const net = clusterWithLearner4();
    net.isolate(4);
    const term = net.get(4).node.status().term;
    net.tickAll(100);
    assert.equal(net.get(4).node.status().role, 'follower');
    assert.equal(net.get(4).node.status().term, term);
  });

  test('a promoted learner becomes a voter on every node', () => {
    const net = clusterWithLearner4();
    assert.deepEqual(net.get(1).node.proposeConfChange(change(ConfChangeType.ADD_NODE, 4)), { ok: true });
    net.stabilize();
    for (const id of [1, 2, 3, 4]) {
      assert.deepEqual(net.get(id).node.status().voters, [1, 2, 3, 4], `node ${id}`);
      assert.deepEqual(net.get(id).node.status().learners, []);
    }
    net.get(1).node.transferLeader(4 as NodeId);
    net.stabilize();
    assert.equal(net.leader(), 4, 'the promoted node can lead');
  });

  test('after removing a follower the remaining two commit alone', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    assert.deepEqual(net.get(1).node.proposeConfChange(change(ConfChangeType.REMOVE_NODE, 3)), { ok: true });
    net.stabilize();
    assert.deepEqual(net.get(1).node.status().voters, [1, 2]);
    net.isolate(3);
    net.propose(1, 'x');
    net.stabilize();
    assert.deepEqual(net.get(2).applied, ['x']);
  });

  test('a removed leader steps down and the rest elect a new leader', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.get(1).node.proposeConfChange(change(ConfChangeType.REMOVE_NODE, 1));
    net.stabilize();
    assert.equal(net.get(1).node.status().role, 'follower');
    net.tickAll(40);
    const leader = net.leader();
    assert.ok(leader === 2 || leader === 3, `leader is ${leader}`);
    assert.deepEqual(net.propose(leader, 'after'), { ok: true });
    net.stabilize();
    assert.deepEqual(net.get(leader === 2 ? 3 : 2).applied, ['after']);
  });

  test('a leader refuses proposals once it has appended its own removal', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    assert.deepEqual(net.get(1).node.proposeConfChange(change(ConfChangeType.REMOVE_NODE, 1)), { ok: true });
    assert.deepEqual(net.propose(1, 'late'), { ok: false, reason: 'transfer-in-progress' });
  });

  test('a leader elected with its own removal still unapplied in its log refuses proposals', () => {
    const removal = { term: 1, index: 2, type: EntryType.CONF_CHANGE, data: encodeConfChange(change(ConfChangeType.REMOVE_NODE, 1)) };
    const leader = newNode(1, [1, 2, 3], {
      term: 1,
      log: [[1, 1]],
      extraEntries: [removal],
      commit: 1,
      config: { preVote: false },
    });
    leader.node.campaign();
    drain(leader);
    leader.node.step(msg({ type: MessageType.VOTE_RESP, from: 2, to: 1, term: 2 }));
    drain(leader);
    assert.equal(leader.node.status().role, 'leader');
    assert.deepEqual(leader.node.propose(Buffer.from('late')), { ok: false, reason: 'transfer-in-progress' });
  });

  /**
   * Seeds 0x5eed2525, 0x5eed25f2, 0x5eed3225: voters {1, 2}, leader 1 removes
   * itself. Node 2 acks the removal but never hears it committed, so it still
   * needs node 1's vote, which node 1 only grants if its own log is no longer.
   */
  function twoVotersLeaderRemovesItself(): Network {
    const net = Network.create([1, 2]);
    net.elect(1);
    net.get(1).node.proposeConfChange(change(ConfChangeType.REMOVE_NODE, 1));
    net.processReady(1);
    net.deliverQueued(); // node 2 gets the removal entry
    net.processReady(2); // and acks it
    net.propose(1, 'after-removal'); // must not lengthen node 1's log past node 2's
    net.cutLink(1, 2); // node 2 never learns that the removal committed
    net.stabilize();
    assert.deepEqual(net.get(1).node.status().voters, [2], 'node 1 applied its removal');
    assert.equal(net.get(2).node.status().voters.length, 2, 'node 2 has not');
    return net;
  }

  function assertNode2TakesOver(net: Network): void {
    net.heal();
    for (let i = 0; i < 100 && net.leader() !== 2; i += 1) net.tickAll();
    assert.equal(net.leader(), 2, 'node 2 leads');
    assert.deepEqual(net.propose(2, 'x'), { ok: true });
    net.stabilize();
    assert.deepEqual(net.get(2).node.status().voters, [2]);
    assert.ok(net.get(2).applied.includes('x'), 'node 2 commits alone');
  }

  test('the last voter wins an election after the removed leader steps down', () => {
    assertNode2TakesOver(twoVotersLeaderRemovesItself());
  });

  test('the last voter wins an election even when the removed leader restarts', () => {
    const net = twoVotersLeaderRemovesItself();
    net.restart(1);
    assertNode2TakesOver(net);
  });

  test('only one conf change may be pending at a time', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    const leader = net.get(1).node;
    assert.deepEqual(leader.proposeConfChange(change(ConfChangeType.ADD_LEARNER_NODE, 4)), { ok: true });
    assert.deepEqual(leader.proposeConfChange(change(ConfChangeType.ADD_LEARNER_NODE, 5)), { ok: false, reason: 'conf-change-pending' });
    net.stabilize();
    assert.deepEqual(leader.proposeConfChange(change(ConfChangeType.ADD_LEARNER_NODE, 5)), { ok: true });
  });

  test('a new leader refuses conf changes until it commits an entry of its term', () => {
    const leader = newNode(1, [1, 2, 3], { term: 1, log: [[1, 1]], commit: 1, config: { preVote: false } });
    leader.node.campaign();
    drain(leader);
    leader.node.step(msg({ type: MessageType.VOTE_RESP, from: 2, to: 1, term: 2 }));
    drain(leader);
    assert.equal(leader.node.status().role, 'leader');
    assert.deepEqual(leader.node.proposeConfChange(change(ConfChangeType.REMOVE_NODE, 3)), { ok: false, reason: 'conf-change-pending' });
    leader.node.step(msg({ type: MessageType.APP_RESP, from: 2, to: 1, term: 2, index: 2 }));
    drain(leader);
    assert.deepEqual(leader.node.proposeConfChange(change(ConfChangeType.REMOVE_NODE, 3)), { ok: true });
  });

  test('malformed changes and removing the last voter are refused', () => {
    const net = Network.create([1]);
    net.elect(1);
    const node = net.get(1).node;
    assert.deepEqual(node.proposeConfChange(change(ConfChangeType.REMOVE_NODE, 1)), { ok: false, reason: 'invalid-conf-change' });
    assert.deepEqual(node.proposeConfChange(change(ConfChangeType.ADD_NODE, 0)), { ok: false, reason: 'invalid-conf-change' });
  });

  test('a restarted node recovers its configuration from storage', () => {
    const net = clusterWithLearner4();
    const restarted = net.restart(2);
    assert.deepEqual(restarted.node.status().learners, [4]);
    assert.deepEqual(restarted.node.status().voters, [1, 2, 3]);
  });
});
