// Goal: log compaction and InstallSnapshot: a follower that needs compacted
// entries gets the leader's snapshot (returned in Ready.snapshot), progress
// stays in snapshot state until reportSnapshot or an ack, stale snapshots are
// ignored, and a node restarts from a snapshot in storage.
// Method: in-test network with the app compacting the leader's MemoryStorage;
// a hand-driven follower for stale snapshots.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@cairn/proto';
import { MemoryStorage, type NodeId } from '../src/index.js';
import { drain, msg, newNode, ofType } from './helpers/manual.js';
import { Network } from './helpers/network.js';

function laggingFollowerAfterCompaction(): Network {
  const net = Network.create([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 10; i += 1) net.propose(1, `v${i}`);
  net.stabilize();
  const leader = net.get(1);
  const applied = leader.node.status().appliedIndex;
  const confState = { voters: [1, 2, 3], learners: [], votersOutgoing: [] };
  leader.storage.createSnapshot(applied, confState, Buffer.from('state-at-' + applied));
  leader.storage.compact(applied);
  return net;
}

describe('snapshots', () => {
  test('a follower that needs compacted entries is sent the snapshot and then the rest of the log', () => {
    const net = laggingFollowerAfterCompaction();
    const snapshotIndex = net.get(1).storage.snapshot().metadata!.index;
    net.heal();
    net.tickAll(3);
    const follower = net.get(3);
    const withSnapshot = follower.readies.filter((ready) => ready.snapshot !== undefined);
    assert.equal(withSnapshot.length, 1);
    assert.equal(Buffer.from(withSnapshot[0]!.snapshot!.data).toString(), `state-at-${snapshotIndex}`);
    assert.equal(follower.node.status().appliedIndex, snapshotIndex);
    net.propose(1, 'after');
    net.stabilize();
    assert.deepEqual(follower.applied, ['after']);
    assert.equal(follower.node.status().commitIndex, net.get(1).node.status().commitIndex);
  });

  test('progress stays in snapshot state until the transport reports the snapshot', () => {
    const net = laggingFollowerAfterCompaction();
    net.heal();
    net.filter = (message) => message.type !== MessageType.SNAP;
    net.tickAll(2);
    const progress = () =>
      net
        .get(1)
        .node.status()
        .progress!.get(3 as NodeId)!;
    assert.equal(progress().state, 'snapshot');
    net.tickAll(2);
    assert.equal(progress().state, 'snapshot', 'no MsgApp is sent while a snapshot is in flight');
    net.get(1).node.reportSnapshot(3 as NodeId, false);
    assert.equal(progress().state, 'probe');
    net.filter = () => true;
    net.tickAll(3);
    assert.equal(progress().state, 'replicate');
    assert.equal(progress().matchIndex, net.get(1).node.status().lastIndex);
  });

  test('a follower ignores a snapshot that is not ahead of its commit index', () => {
    const follower = newNode(2, [1, 2, 3], {
      term: 2,
      log: [
        [1, 1],
        [2, 2],
        [3, 2],
      ],
      commit: 3,
    });
    follower.node.step(
      msg({
        type: MessageType.SNAP,
        from: 1,
        to: 2,
        term: 2,
        snapshot: { data: Buffer.from('old'), metadata: { index: 2, term: 2, confState: { voters: [1, 2, 3] } } },
      }),
    );
    const ready = follower.node.ready();
    assert.equal(ready.snapshot, undefined);
    const [response] = ofType(ready.persistedMessages, MessageType.APP_RESP);
    assert.equal(response!.index, 3, 'the response reports our commit index');
    follower.node.advance(ready);
  });

  test('a snapshot whose configuration excludes the receiver is ignored', () => {
    const follower = newNode(2, [1, 2, 3], { term: 2 });
    follower.node.step(
      msg({
        type: MessageType.SNAP,
        from: 1,
        to: 2,
        term: 2,
        snapshot: { data: Buffer.from('x'), metadata: { index: 5, term: 2, confState: { voters: [1, 3] } } },
      }),
    );
    drain(follower);
    assert.equal(follower.node.status().commitIndex, 0);
    assert.equal(follower.storage.snapshot().metadata!.index, 0);
  });

  test('a node restarts from a snapshot in its storage', () => {
    const net = laggingFollowerAfterCompaction();
    net.heal();
    net.tickAll(3);
    const snapshotIndex = net.get(1).storage.snapshot().metadata!.index;
    const restarted = net.restart(3).node.status();
    assert.equal(restarted.firstIndex, snapshotIndex + 1);
    assert.ok(restarted.commitIndex >= snapshotIndex);
    const leaderRestarted = net.restart(1).node.status();
    assert.equal(leaderRestarted.firstIndex, snapshotIndex + 1);
  });
});

describe('a follower that lost its log', () => {
  // Its data dir was wiped: it restarts empty (same id, same voters) while the
  // leader still remembers a high matchIndex for it. etcd ignores its
  // rejections as stale; Cairn resets the follower's progress and sends the
  // snapshot, even when the leader is idle (the heartbeat reveals the loss).
  function wipedFollower(): { net: Network; snapshotIndex: number } {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    for (let i = 0; i < 10; i += 1) net.propose(1, `v${i}`);
    net.stabilize();
    const leader = net.get(1);
    const applied = leader.node.status().appliedIndex;
    leader.storage.createSnapshot(applied, { voters: [1, 2, 3], learners: [], votersOutgoing: [] }, Buffer.from('state-at-' + applied));
    leader.storage.compact(applied);
    net.nodes.delete(3 as NodeId);
    net.add(3, MemoryStorage.create([1, 2, 3] as NodeId[]));
    return { net, snapshotIndex: applied };
  }

  test('an idle leader sends it the snapshot after the next heartbeat', () => {
    const { net, snapshotIndex } = wipedFollower();
    net.tickAll(3);
    net.stabilize();
    const follower = net.get(3);
    assert.equal(follower.readies.filter((r) => r.snapshot !== undefined).length, 1);
    assert.equal(follower.node.status().appliedIndex, snapshotIndex);
    const progress = net
      .get(1)
      .node.status()
      .progress!.get(3 as NodeId)!;
    assert.equal(progress.matchIndex, net.get(1).node.status().lastIndex);
  });

  test('it gets the snapshot when the leader was probing it', () => {
    const { net, snapshotIndex } = wipedFollower();
    net.get(1).node.reportUnreachable(3 as NodeId);
    assert.equal(
      net
        .get(1)
        .node.status()
        .progress!.get(3 as NodeId)!.state,
      'probe',
    );
    net.tickAll(3);
    net.stabilize();
    assert.equal(net.get(3).node.status().appliedIndex, snapshotIndex);
  });

  test('it catches up after the leader writes again', () => {
    const { net } = wipedFollower();
    net.propose(1, 'after');
    net.stabilize();
    net.tickAll(3);
    net.stabilize();
    assert.ok(net.get(3).applied.includes('after'));
    assert.equal(net.get(3).node.status().commitIndex, net.get(1).node.status().commitIndex);
  });
});
