// Found in review (issue 17 §2): a node restarted on a rolled-back disk is only
// *held* (config.holdVotes) while the server's survey runs, not fenced. Its
// leader still believes the old match index, so a heartbeat's
// commit = min(match, committed) makes the held node commit (and apply) the
// stale, never-committed suffix its old copy holds. Its later "index < commit"
// shortcut ack then gives the leader a false match, and append/reject loops forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, RawNode, createRng, type NodeId } from '../src/index.js';
import { Network, ids } from './helpers/network.js';

/** A copy of `storage` as it is now: what a VM image or backup would hold. */
function copyOf(storage: MemoryStorage): MemoryStorage {
  const copy = MemoryStorage.create(ids(1, 2, 3));
  const { hardState } = storage.initialState();
  copy.append(storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER));
  copy.setHardState({ ...hardState });
  return copy;
}

/** Returns the network with node 3 just restarted on its old copy, votes held, and the leader's id. */
function restartOnRolledBackCopy(): { net: Network; node: RawNode; leaderId: number } {
  const net = Network.create([1, 2, 3]);
  net.elect(3);
  net.propose(3, 'base');
  net.stabilize();
  // Leader 3 appends an entry that only it holds, never committed; its disk is copied now.
  net.isolate(3);
  net.propose(3, 'stale');
  net.stabilize();
  const backup = copyOf(net.get(3).storage);
  // 3 goes away; 1 is elected and commits other entries, then 3 catches up (the stale entry replaced).
  net.heal();
  net.isolate(3);
  for (let i = 0; i < 100 && ![1, 2].includes(net.leader()); i += 1) {
    net.tick(1);
    net.tick(2);
    net.stabilize();
  }
  const newLeader = net.leader();
  assert.ok(newLeader === 1 || newLeader === 2);
  for (const v of ['good-1', 'good-2']) net.propose(newLeader, v);
  net.stabilize();
  net.heal();
  net.stabilize();
  net.tickAll(2);
  assert.deepEqual(net.get(3).applied, ['base', 'good-1', 'good-2']);
  const leader = net.get(newLeader).node;
  assert.equal(leader.status().progress!.get(3 as NodeId)!.matchIndex, leader.status().lastIndex);

  // 3 restarts on the old copy, votes held while its server asks its peers (as kv-server does).
  const appliedIndex = backup.initialState().hardState.commit;
  const node = RawNode.create({ id: 3 as NodeId, appliedIndex, holdVotes: true }, backup, createRng(3003));
  net.nodes.set(3 as NodeId, { id: 3 as NodeId, node, storage: backup, applied: [], appliedEntries: [], readStates: [], readies: [] });
  assert.equal(node.status().votesHeld, true);
  return { net, node, leaderId: newLeader };
}

test('a held (not yet fenced) node on a rolled-back disk never commits a stale entry from a heartbeat', () => {
  const { net } = restartOnRolledBackCopy();
  // The leader's next heartbeat arrives before the survey's answers.
  let threw: unknown;
  try {
    for (let i = 0; i < 3; i += 1) net.tickAll(1);
  } catch (error) {
    threw = error;
  }
  assert.ok(
    !net.get(3).applied.includes('stale'),
    `the held node applied an entry that was never committed: ${JSON.stringify(net.get(3).applied)}`,
  );
  // Today: the leader sets match = the follower's last index (resetAfterLogLoss(rejectHint)), an unverified
  // match whose entry conflicts; maybeDecrTo never goes below match + 1, so append/reject loops forever.
  assert.equal(threw, undefined, `raft-core did not converge: ${String(threw)}`);
});

test('a rolled-back node that took a heartbeat commit while held, then is fenced by the survey, is repaired (no livelock)', () => {
  const { net, node } = restartOnRolledBackCopy();
  // Only the heartbeat gets through before the survey answers (the reply that reports the gap is delayed).
  net.filter = (m) => !(m.from === 3 && m.reject);
  net.tickAll(3);
  net.filter = () => true;
  // The survey's answer (the leader's match is above this node's log): fenced.
  node.fence();
  assert.doesNotThrow(() => {
    for (let i = 0; i < 5; i += 1) net.tickAll(1);
  });
  assert.ok(!net.get(3).applied.includes('stale'), `applied a never-committed entry: ${JSON.stringify(net.get(3).applied)}`);
});

test('a catch-up by a leader does not end a hold: only the startup check does (releaseVotes or fence)', () => {
  const net = Network.create([1, 2, 3]);
  net.elect(1);
  net.propose(1, 'x');
  net.stabilize();
  // 3 restarts (disk intact), votes held while its survey runs.
  const old = net.get(3);
  const node = RawNode.create(
    { id: 3 as NodeId, appliedIndex: old.node.status().appliedIndex, holdVotes: true },
    old.storage,
    createRng(3004),
  );
  net.nodes.set(3 as NodeId, { ...old, node });
  net.propose(1, 'y');
  net.stabilize();
  net.tickAll(5);
  assert.equal(node.status().commitIndex, net.get(1).node.status().commitIndex, 'caught up through appends');
  // A rolled-back disk may have voted in a later term than any leader it hears from: only its peers can tell.
  assert.equal(node.status().votesHeld, true);
  node.releaseVotes();
  assert.equal(node.status().votesHeld, false);
});
