// Goal: schedules found in review where an earlier disk-loss fence let two
// different entries commit at one index, or a node vote twice in one term,
// with only a minority of the voters losing disks; the fence of
// docs/disk-loss.md must hold in each.
// Method: the in-test network, hand-routed messages; the server's startup
// check is modelled as lost-disk-check.ts does it: the node settles its term
// at the highest term the voting peers report once every other voter of its
// configuration has answered and a majority of the voters may vote.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfChangeType, MessageType, type Entry } from '@cairn/proto';
import { MemoryStorage } from '../src/index.js';
import { ids, Network } from './helpers/network.js';

const change = (type: ConfChangeType, nodeId: number) => ({ type, nodeId, context: Buffer.alloc(0) });

/** Node `id` restarts on an empty data dir whose genesis names `genesisVoters`; `fenced` as the startup check's fence. */
function wipe(net: Network, id: number, genesisVoters: number[], state: 'fenced' | 'held'): void {
  const storage = MemoryStorage.create(ids(...genesisVoters));
  if (state === 'fenced') storage.setHardState({ term: 0, vote: 0, commit: 0, recovering: true });
  net.nodes.delete(id as never);
  net.add(id, storage);
  if (state === 'held') net.get(id).node.holdVotes();
}

/**
 * lost-disk-check.ts's settle step, with `answering` the peers that can be
 * reached: it settles only if every other voter of its configuration answered
 * and a majority of the voters may vote. Returns whether it settled.
 */
function settleAsServer(net: Network, id: number, answering: number[]): boolean {
  const node = net.get(id).node;
  const voters = node.status().voters;
  const others = voters.filter((v) => v !== id);
  const answered = others.filter((v) => {
    const peer = net.nodes.get(v as never)?.node.status();
    return answering.includes(v) && peer !== undefined && peer.voters.join(',') === voters.join(',');
  });
  const voting = answered.filter((v) => !net.get(v).node.status().recovering && !net.get(v).node.status().votesHeld);
  if (answered.length < others.length || voting.length * 2 <= voters.length) return false;
  node.settleTerm(Math.max(node.status().term, ...voting.map((v) => net.get(v).node.status().term)));
  return true;
}

function cutBetween(net: Network, a: number[], b: number[]): void {
  for (const x of a)
    for (const y of b) {
      net.cutLink(x, y);
      net.cutLink(y, x);
    }
}

/** Committed, non-empty entries of two nodes never differ at one index (State Machine Safety). */
function assertNoDivergence(a: Entry[], b: Entry[], what: string): void {
  const byIndex = new Map(a.map((e) => [e.index, e]));
  for (const e of b) {
    const other = byIndex.get(e.index);
    if (other === undefined) continue;
    assert.ok(
      other.term === e.term && Buffer.from(other.data).equals(Buffer.from(e.data)),
      `${what}: index ${e.index} committed as (term ${other.term}, "${Buffer.from(other.data).toString()}") and (term ${e.term}, "${Buffer.from(e.data).toString()}")`,
    );
  }
}

/** Deposed leader `id` goes on leading its old term for a while and proposes `value`. */
function deposedLeaderWrites(net: Network, id: number, value: string): void {
  for (let i = 0; i < 10; i += 1) {
    net.tick(id);
    net.stabilize();
  }
  net.propose(id, value);
  net.stabilize();
  net.tick(id);
  net.stabilize();
}

const config = { checkQuorum: false, preVote: false };

describe('disk-loss fence: review schedules', () => {
  test('two wiped nodes of five do not settle each other, so a deposed leader commits nothing over a committed entry', () => {
    const net = Network.create([1, 2, 3, 4, 5], { config });
    net.elect(2); // term 1
    net.propose(2, 'base');
    net.stabilize();
    cutBetween(net, [2, 3], [1, 4, 5]);
    assert.equal(net.elect(1), 1); // term 2, votes of 4 and 5
    net.propose(1, 'E');
    net.stabilize();
    assert.ok(net.get(1).applied.includes('E'), 'E committed by 1, 4, 5');
    assert.equal(net.get(2).node.status().role, 'leader', '2 still believes it leads term 1');
    // 1 goes down for good; 4 and 5 (two of five: a minority) lose their disks.
    net.isolate(1);
    wipe(net, 4, [1, 2, 3, 4, 5], 'fenced');
    wipe(net, 5, [1, 2, 3, 4, 5], 'fenced');
    net.heal();
    net.isolate(1);
    // Each asks the other up voters: 2 and 3 say term 1, the other wiped node may not vote, 1 is down.
    assert.equal(settleAsServer(net, 4, [2, 3, 5]), false);
    assert.equal(settleAsServer(net, 5, [2, 3, 4]), false);
    deposedLeaderWrites(net, 2, 'F');
    assertNoDivergence(net.get(1).appliedEntries, net.get(2).appliedEntries, 'nodes 1 and 2');
  });

  test('a node wiped after the cluster grew does not settle against its genesis voters', () => {
    const net = Network.create([1, 2, 3], { config });
    net.elect(2); // term 1
    net.propose(2, 'base');
    net.stabilize();
    for (const id of [4, 5]) {
      // Added with kvctl member add: the original members' flags still name 1, 2, 3.
      net.add(id, MemoryStorage.create(ids(1, 2, 3), ids(id)));
      assert.deepEqual(net.get(2).node.proposeConfChange(change(ConfChangeType.ADD_LEARNER_NODE, id)), { ok: true });
      net.stabilize();
      assert.deepEqual(net.get(2).node.proposeConfChange(change(ConfChangeType.ADD_NODE, id)), { ok: true });
      net.stabilize();
    }
    assert.deepEqual(net.get(2).node.status().voters, [1, 2, 3, 4, 5]);
    cutBetween(net, [2, 3], [1, 4, 5]);
    assert.equal(net.elect(4), 4); // term 2, votes of 1 and 5
    net.propose(4, 'E');
    net.stabilize();
    assert.ok(net.get(4).applied.includes('E'), 'E committed by 1, 4, 5');
    // Only node 1 loses its disk; it restarts with its flags' genesis {1, 2, 3} and can reach 2 and 3.
    wipe(net, 1, [1, 2, 3], 'fenced');
    net.heal();
    cutBetween(net, [1, 2, 3], [4, 5]);
    assert.equal(settleAsServer(net, 1, [2, 3]), false, '2 and 3 know the cluster has five voters: node 1 waits to learn it from the log');
    deposedLeaderWrites(net, 2, 'F');
    assertNoDivergence(net.get(4).appliedEntries, net.get(2).appliedEntries, 'nodes 4 and 2');
  });

  test('a node that voted before its loss does not vote again in that term', () => {
    const net = Network.create([1, 2, 3, 4, 5], { config });
    net.elect(3); // term 1
    net.propose(3, 'base');
    net.stabilize();
    // 1 campaigns in term 2: its request reaches 5 at once, the one to 2 is delayed, those to 3 and 4 are lost.
    net.get(1).node.campaign();
    net.processReady(1);
    const delayed = net.queue.filter((m) => m.to === 2 && m.type === MessageType.VOTE);
    net.queue = net.queue.filter((m) => m.to === 5);
    net.cutLink(5, 3);
    net.stabilize();
    assert.equal(net.get(5).node.status().vote, 1, '5 voted for 1 in term 2 (durably)');
    // 5 loses its disk; 1 is unreachable while 5 asks; 2, 3 and 4 answer with term 1.
    wipe(net, 5, [1, 2, 3, 4, 5], 'fenced');
    net.heal();
    net.isolate(1);
    assert.equal(settleAsServer(net, 5, [2, 3, 4]), false, 'node 1, the candidate it voted for, has not answered');
    for (let i = 0; i < 10; i += 1) {
      net.tick(3);
      net.stabilize();
    }
    assert.equal(net.get(5).node.status().recovering, true, 'not recovered: its term is not settled');
    // The delayed request reaches 2: 1 wins term 2 with 1, 2 and 5's pre-loss vote.
    net.heal();
    cutBetween(net, [1], [3, 4, 5]);
    net.queue.push(...delayed);
    net.stabilize();
    // 4 campaigns in term 2 as well: 3 and the recovered 5 vote for it.
    net.get(4).node.campaign();
    net.stabilize();
    const leadersOfTerm2 = [1, 2, 3, 4, 5].filter((id) => {
      const status = net.get(id).node.status();
      return status.role === 'leader' && status.term === 2;
    });
    assert.ok(leadersOfTerm2.length <= 1, `at most one leader per term (Election Safety); leaders of term 2: ${leadersOfTerm2}`);
  });

  test('a wiped node whose check has not decided counts for no deposed leader (3 nodes)', () => {
    const net = Network.create([1, 2, 3], { config });
    net.elect(1); // term 1
    net.propose(1, 'base');
    net.stabilize();
    net.isolate(1);
    assert.equal(net.elect(3), 3); // term 2
    net.propose(3, 'E');
    net.stabilize();
    assert.ok(net.get(2).applied.includes('E'));
    // 3 restarts on an empty disk, its votes held while it asks 1 and 2. 2 is down; 1's
    // Survey answer (cluster_started) is slower than 1's raft traffic (or times out).
    wipe(net, 3, [1, 2, 3], 'held');
    net.heal();
    net.isolate(2);
    for (let i = 0; i < 5; i += 1) {
      net.tick(1);
      net.stabilize();
    }
    net.propose(1, 'F');
    net.stabilize();
    net.tick(1);
    net.stabilize();
    assertNoDivergence(net.get(2).appliedEntries, net.get(1).appliedEntries, 'nodes 2 and 1');
  });
});

describe('disk-loss fence: review liveness', () => {
  test(
    'a membership change that leaves the recovering voters at half the configuration is refused, or the cluster still elects',
    {
      todo: 'open (docs/disk-loss.md, limits): the leader cannot know that unreachable voters are recovering; a change made while they are away can leave half the voters fenced and no way to elect',
    },
    () => {
      // Default config (preVote, checkQuorum), as kv-server runs raft. Found by the
      // simulator: size 5, seed 0x9100ef2 with diskLossProbability 0.4 (review run).
      const net = Network.create([1, 2, 3, 4, 5]);
      net.elect(1);
      net.propose(1, 'base');
      net.stabilize();
      // 4 and 5 (a minority) restart on wiped disks; their catch-up is slow (a large snapshot, say).
      wipe(net, 4, [1, 2, 3, 4, 5], 'fenced');
      wipe(net, 5, [1, 2, 3, 4, 5], 'fenced');
      settleAsServer(net, 4, [1, 2, 3]);
      settleAsServer(net, 5, [1, 2, 3]);
      cutBetween(net, [1, 2, 3], [4, 5]);
      // The operator removes node 1 (it is being decommissioned): 1, 2 and 3 commit it.
      const result = net.get(1).node.proposeConfChange(change(ConfChangeType.REMOVE_NODE, 1));
      net.stabilize();
      net.tickAll(3);
      net.heal();
      net.isolate(1);
      if (result.ok) {
        for (let i = 0; i < 300 && ![2, 3, 4, 5].includes(net.leader()); i += 1) net.tickAll(1);
        assert.ok(
          [2, 3, 4, 5].includes(net.leader()),
          `a leader among the remaining voters ${net.get(2).node.status().voters} (recovering: ${[4, 5].filter((id) => net.get(id).node.status().recovering)})`,
        );
      }
    },
  );
});
