// Goal: the claims of the Raft paper (Ongaro & Ousterhout, §5) and the thesis
// hold for RawNode, one describe per section, each test named by its claim.
// Method: drive single nodes with crafted messages (helpers/manual.ts) or small
// clusters through the in-test network (helpers/network.ts), then assert on
// messages, status and applied entries.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@cairn/proto';
import { drain, msg, newNode, ofType, type ManualNode } from './helpers/manual.js';
import { Network } from './helpers/network.js';

const NO_PREVOTE = { preVote: false, checkQuorum: false };

/** Makes `manual` leader of `term + 1` with votes from `voters`, without pre-vote. */
function electManually(manual: ManualNode, voter: number): void {
  manual.node.campaign();
  drain(manual);
  const term = manual.node.status().term;
  manual.node.step(msg({ type: MessageType.VOTE_RESP, from: voter, to: manual.id, term }));
  drain(manual);
  assert.equal(manual.node.status().role, 'leader');
}

describe('§5.1 terms', () => {
  test('a node that sees a higher term adopts it and becomes a follower', () => {
    const n = newNode(1, [1, 2, 3], { term: 2, config: NO_PREVOTE });
    electManually(n, 2);
    n.node.step(msg({ type: MessageType.APP, from: 2, to: 1, term: 9, index: 0, logTerm: 0 }));
    assert.equal(n.node.status().term, 9);
    assert.equal(n.node.status().role, 'follower');
    assert.equal(n.node.status().leaderId, 2);
  });

  test('follower rejects AppendEntries with stale term and tells the sender its term', () => {
    const n = newNode(2, [1, 2, 3], { term: 5, log: [[1, 1]] });
    n.node.step(msg({ type: MessageType.APP, from: 1, to: 2, term: 3, index: 1, logTerm: 1, entries: [{ index: 2, term: 3 }] }));
    const responses = ofType(drain(n), MessageType.APP_RESP);
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.term, 5);
    assert.equal(n.node.status().lastIndex, 1, 'stale entries are not appended');
  });

  test('the term and vote are persisted before vote responses are released', () => {
    const n = newNode(2, [1, 2, 3], { term: 1, config: NO_PREVOTE });
    n.node.step(msg({ type: MessageType.VOTE, from: 1, to: 2, term: 2, index: 0, logTerm: 0 }));
    const ready = n.node.ready();
    assert.deepEqual(ready.hardState, { term: 2, vote: 1, commit: 0 });
    assert.equal(ready.mustSync, true);
    assert.equal(ready.messages.length, 0);
    assert.equal(ofType(ready.persistedMessages, MessageType.VOTE_RESP).length, 1);
  });
});

describe('§5.2 leader election', () => {
  test('a follower campaigns after a randomized timeout in [electionTicks, 2*electionTicks)', () => {
    const timeouts = new Set<number>();
    for (let seed = 1; seed <= 20; seed += 1) {
      const n = newNode(1, [1, 2, 3], { seed, config: { electionTicks: 10, ...NO_PREVOTE } });
      let ticks = 0;
      while (n.node.status().role === 'follower' && ticks < 100) {
        n.node.tick();
        ticks += 1;
      }
      assert.ok(ticks >= 10 && ticks < 20, `campaigned after ${ticks} ticks`);
      timeouts.add(ticks);
    }
    assert.ok(timeouts.size > 1, 'timeouts are randomized');
  });

  test('a candidate votes for itself and requests votes from every other voter', () => {
    const n = newNode(1, [1, 2, 3], { term: 1, config: NO_PREVOTE });
    n.node.campaign();
    const sent = drain(n);
    const requests = ofType(sent, MessageType.VOTE);
    assert.deepEqual(requests.map((m) => m.to).sort(), [2, 3]);
    assert.ok(requests.every((m) => m.term === 2));
    assert.equal(n.node.status().vote, 1);
    assert.equal(n.node.status().role, 'candidate');
  });

  test('a candidate with votes from a majority becomes leader', () => {
    const n = newNode(1, [1, 2, 3, 4, 5], { config: NO_PREVOTE });
    n.node.campaign();
    drain(n);
    n.node.step(msg({ type: MessageType.VOTE_RESP, from: 2, to: 1, term: 1 }));
    assert.equal(n.node.status().role, 'candidate', 'two of five is not a majority');
    n.node.step(msg({ type: MessageType.VOTE_RESP, from: 3, to: 1, term: 1 }));
    assert.equal(n.node.status().role, 'leader');
  });

  test('a candidate rejected by a majority returns to follower', () => {
    const n = newNode(1, [1, 2, 3], { config: NO_PREVOTE });
    n.node.campaign();
    drain(n);
    n.node.step(msg({ type: MessageType.VOTE_RESP, from: 2, to: 1, term: 1, reject: true }));
    n.node.step(msg({ type: MessageType.VOTE_RESP, from: 3, to: 1, term: 1, reject: true }));
    assert.equal(n.node.status().role, 'follower');
  });

  test('a node grants at most one vote per term', () => {
    const n = newNode(3, [1, 2, 3], { config: NO_PREVOTE });
    n.node.step(msg({ type: MessageType.VOTE, from: 1, to: 3, term: 1 }));
    n.node.step(msg({ type: MessageType.VOTE, from: 2, to: 3, term: 1 }));
    const responses = ofType(drain(n), MessageType.VOTE_RESP);
    assert.deepEqual(
      responses.map((m) => [m.to, m.reject]),
      [
        [1, false],
        [2, true],
      ],
    );
  });

  test('a candidate steps down when it hears AppendEntries from a leader of its term', () => {
    const n = newNode(1, [1, 2, 3], { config: NO_PREVOTE });
    n.node.campaign();
    drain(n);
    n.node.step(msg({ type: MessageType.APP, from: 2, to: 1, term: 1, index: 0, logTerm: 0 }));
    assert.equal(n.node.status().role, 'follower');
    assert.equal(n.node.status().leaderId, 2);
  });

  test('a cluster elects exactly one leader per term under repeated elections', () => {
    const net = Network.create([1, 2, 3, 4, 5], { seed: 3 });
    const leadersByTerm = new Map<number, Set<number>>();
    for (let round = 0; round < 300; round += 1) {
      net.tickAll(1);
      for (const t of net.nodes.values()) {
        const status = t.node.status();
        if (status.role !== 'leader') continue;
        const set = leadersByTerm.get(status.term) ?? new Set<number>();
        set.add(t.id);
        leadersByTerm.set(status.term, set);
      }
      if (round % 50 === 49) net.isolate(net.leader());
      if (round % 50 === 10) net.heal();
    }
    assert.ok(leadersByTerm.size >= 2, 'several terms had a leader');
    for (const [term, leaders] of leadersByTerm) assert.equal(leaders.size, 1, `term ${term} had leaders ${[...leaders]}`);
  });
});

describe('§5.3 log replication', () => {
  test('a leader commits an entry once a majority stores it, and followers then apply it', () => {
    const net = Network.create([1, 2, 3, 4, 5]);
    net.elect(1);
    net.isolate(4);
    net.isolate(5);
    net.propose(1, 'x');
    net.stabilize();
    for (const id of [1, 2, 3]) assert.deepEqual(net.get(id).applied, ['x']);
    assert.deepEqual(net.get(4).applied, []);
  });

  test('a leader does not commit an entry stored by a minority', () => {
    const net = Network.create([1, 2, 3, 4, 5]);
    net.elect(1);
    const commitBefore = net.get(1).node.status().commitIndex;
    for (const id of [3, 4, 5]) net.isolate(id);
    net.propose(1, 'x');
    net.stabilize();
    assert.equal(net.get(1).node.status().commitIndex, commitBefore);
    assert.deepEqual(net.get(1).applied, []);
  });

  test('the consistency check rejects AppendEntries whose previous entry does not match', () => {
    const n = newNode(2, [1, 2, 3], {
      term: 3,
      log: [
        [1, 1],
        [2, 2],
      ],
    });
    n.node.step(msg({ type: MessageType.APP, from: 1, to: 2, term: 3, index: 2, logTerm: 3, entries: [{ index: 3, term: 3 }] }));
    const [response] = ofType(drain(n), MessageType.APP_RESP);
    assert.equal(response!.reject, true);
    assert.equal(n.node.status().lastIndex, 2);
  });

  test("a follower's conflicting uncommitted entries are replaced by the leader's", () => {
    const n = newNode(2, [1, 2, 3], {
      term: 3,
      log: [
        [1, 1],
        [2, 2],
        [3, 2],
      ],
      commit: 1,
    });
    n.node.step(
      msg({
        type: MessageType.APP,
        from: 1,
        to: 2,
        term: 3,
        index: 1,
        logTerm: 1,
        commit: 1,
        entries: [{ index: 2, term: 3, data: Buffer.from('new') }],
      }),
    );
    drain(n);
    assert.equal(n.node.status().lastIndex, 2);
    assert.equal(n.storage.term(2), 3);
    assert.equal(n.storage.lastIndex(), 2, 'the stale suffix is truncated in storage too');
  });

  test('a lagging follower with a divergent log is repaired in few round trips (fast backtracking)', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    for (let i = 0; i < 200; i += 1) net.propose(1, `v${i}`);
    net.stabilize();
    net.heal();
    net.delivered = [];
    net.tickAll(2);
    assert.equal(net.get(3).applied.length, 200);
    const rejections = net.delivered.filter((m) => m.type === MessageType.APP_RESP && m.reject && m.from === 3);
    assert.ok(rejections.length <= 2, `took ${rejections.length} rejections`);
  });

  test('the leader pipelines many entries per MsgApp (batching)', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.isolate(2);
    for (let i = 0; i < 100; i += 1) net.propose(1, `v${i}`);
    net.stabilize();
    net.heal();
    net.delivered = [];
    net.tickAll(1);
    const apps = net.delivered.filter((m) => m.type === MessageType.APP && m.to === 2 && m.entries.length > 0);
    assert.ok(
      apps.some((m) => m.entries.length >= 100),
      'one MsgApp carried the whole backlog',
    );
  });
});

describe('§5.4 safety', () => {
  test('a voter denies its vote to a candidate whose log is less up to date (§5.4.1)', () => {
    const n = newNode(3, [1, 2, 3], {
      term: 2,
      log: [
        [1, 1],
        [2, 2],
      ],
      config: NO_PREVOTE,
    });
    n.node.step(msg({ type: MessageType.VOTE, from: 1, to: 3, term: 3, index: 5, logTerm: 1 }));
    n.node.step(msg({ type: MessageType.VOTE, from: 2, to: 3, term: 3, index: 1, logTerm: 2 }));
    const responses = ofType(drain(n), MessageType.VOTE_RESP);
    assert.deepEqual(
      responses.map((m) => m.reject),
      [true, true],
    );
    assert.equal(n.node.status().vote, 0);
  });

  test('a leader never commits an entry of an earlier term by counting replicas (figure 8)', () => {
    // Node 1 holds 2/t2 (never committed) and becomes leader of term 4.
    const leader = newNode(1, [1, 2, 3], {
      term: 3,
      log: [
        [1, 1],
        [2, 2],
      ],
      commit: 1,
      config: NO_PREVOTE,
    });
    electManually(leader, 2);
    const status = leader.node.status();
    assert.equal(status.term, 4);
    assert.equal(status.lastIndex, 3, 'the new leader appended an empty entry of its term');
    // Follower 2 acknowledges 2/t2 only: a majority holds index 2, but it is from term 2.
    leader.node.step(msg({ type: MessageType.APP_RESP, from: 2, to: 1, term: 4, index: 2 }));
    drain(leader);
    assert.equal(leader.node.status().commitIndex, 1);
    // Once an entry of term 4 is on a majority, everything before it commits too.
    leader.node.step(msg({ type: MessageType.APP_RESP, from: 2, to: 1, term: 4, index: 3 }));
    drain(leader);
    assert.equal(leader.node.status().commitIndex, 3);
  });

  test('committed entries survive any sequence of leader changes (leader completeness)', () => {
    const net = Network.create([1, 2, 3, 4, 5], { seed: 11 });
    net.elect(1);
    const committed: string[] = [];
    for (let round = 0; round < 6; round += 1) {
      const leader = net.leader();
      net.propose(leader, `r${round}`);
      net.stabilize();
      committed.push(`r${round}`);
      net.isolate(leader);
      net.tickAll(30);
      net.heal();
      net.tickAll(5);
    }
    net.tickAll(30);
    for (const t of net.nodes.values()) {
      for (const value of committed) assert.ok(t.applied.includes(value), `node ${t.id} applied ${value}`);
    }
  });

  test('nodes apply the same commands in the same order (state machine safety)', () => {
    const net = Network.create([1, 2, 3], { seed: 5 });
    net.elect(1);
    for (let i = 0; i < 20; i += 1) {
      net.propose(1 + (i % 3), `c${i}`);
      if (i === 10) {
        net.isolate(1);
        net.tickAll(30);
        net.heal();
      }
      net.stabilize();
    }
    net.tickAll(20);
    const reference = net.get(net.leader()).applied;
    for (const t of net.nodes.values()) assert.deepEqual(t.applied, reference);
  });
});

describe('§8 client interaction', () => {
  test('a new leader appends an empty entry of its term and commits it', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(2);
    const leader = net.get(2);
    const [first] = leader.appliedEntries;
    assert.equal(first!.data.length, 0);
    assert.equal(first!.term, leader.node.status().term);
  });
});

describe('thesis §10.2.1 leader writes its log in parallel', () => {
  test("the leader's MsgApp goes out before its own append is durable, and commit waits for advance()", () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    const leader = net.get(1);
    net.propose(1, 'p');
    const ready = leader.node.ready();
    assert.equal(ready.entries.length, 1);
    const apps = ofType(ready.messages, MessageType.APP);
    assert.equal(apps.length, 2, 'MsgApp may be sent immediately');
    // Both followers acknowledge before the leader has persisted: a majority
    // of followers commits it even without the leader (2 of 3).
    net.send(ready.messages);
    net.deliverQueued();
    net.processReady(2);
    net.processReady(3);
    net.deliverQueued();
    assert.equal(leader.node.status().commitIndex, 2);
    // committedEntries only include entries durable locally: not until advance.
    leader.storage.append(ready.entries);
    leader.node.advance(ready);
    const next = leader.node.ready();
    assert.deepEqual(
      next.committedEntries.map((e) => e.index),
      [2],
    );
    leader.node.advance(next);
  });

  test('a leader alone does not count its unpersisted entry toward the quorum', () => {
    const net = Network.create([1]);
    net.elect(1);
    net.propose(1, 'p');
    const ready = net.get(1).node.ready();
    assert.equal(net.get(1).node.status().commitIndex, 1, 'not committed before advance');
    net.get(1).storage.append(ready.entries);
    net.get(1).node.advance(ready);
    assert.equal(net.get(1).node.status().commitIndex, 2);
  });
});
