// Goal: the RawNode public API works end to end for the basic cases other
// packages rely on (elect, replicate, commit, restart, input validation).
// Method: drive 1- and 3-node clusters by hand through test/helpers/network.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Message } from '@cairn/proto';
import { ConfigInvalidError, MemoryStorage, RawNode, createRng, type NodeId } from '../src/index.js';
import { Network, ids } from './helpers/network.js';

describe('RawNode', () => {
  test('a 3-node cluster elects a leader and commits proposals from leader and follower', () => {
    const net = Network.create([1, 2, 3]);
    assert.equal(net.elect(1), 1);
    assert.deepEqual(net.propose(1, 'a'), { ok: true });
    assert.deepEqual(net.propose(2, 'b'), { ok: true });
    net.stabilize();
    for (const id of [1, 2, 3]) assert.deepEqual(net.get(id).applied, ['a', 'b'], `node ${id}`);
    net.tickAll(50);
    assert.equal(net.leader(), 1);
    assert.equal(net.get(1).node.status().commitIndex, 3);
  });

  test('pipelined apply: advancePersisted hands out the next Ready without repeating committed entries; appliedTo reports the apply', () => {
    const net = Network.create([1]);
    net.tickAll(25);
    net.stabilize();
    const node = net.get(1).node;
    const appliedBefore = node.status().appliedIndex;
    assert.deepEqual(node.propose(Buffer.from('a')), { ok: true });
    const first = node.ready();
    assert.equal(first.entries.length, 1);
    net.get(1).storage.append(first.entries);
    node.advance(first);
    // The entry is committed now (single node); hand it out but do not apply it yet.
    const second = node.ready();
    assert.deepEqual(
      second.committedEntries.map((e) => Buffer.from(e.data).toString()),
      ['a'],
    );
    node.advancePersisted(second);
    assert.equal(node.status().appliedIndex, appliedBefore, 'not applied until appliedTo');
    // A new proposal is persisted and committed while 'a' is still being applied.
    assert.deepEqual(node.propose(Buffer.from('b')), { ok: true });
    const third = node.ready();
    net.get(1).storage.append(third.entries);
    assert.deepEqual(third.committedEntries, [], "'a' is not handed out twice");
    node.advancePersisted(third);
    const fourth = node.ready();
    assert.deepEqual(
      fourth.committedEntries.map((e) => Buffer.from(e.data).toString()),
      ['b'],
    );
    node.appliedTo(second.committedEntries.at(-1)!.index);
    assert.equal(node.status().appliedIndex, appliedBefore + 1);
    node.advance(fourth);
    assert.equal(node.status().appliedIndex, appliedBefore + 2);
    assert.throws(() => node.appliedTo(appliedBefore + 5), /beyond the entries handed out/);
  });

  test('a single node elects itself by ticking and commits', () => {
    const net = Network.create([1]);
    net.tickAll(25);
    assert.equal(net.leader(), 1);
    assert.deepEqual(net.propose(1, 'x'), { ok: true });
    net.stabilize();
    assert.deepEqual(net.get(1).applied, ['x']);
  });

  test('ticking alone elects exactly one leader in a 3-node cluster', () => {
    const net = Network.create([1, 2, 3], { seed: 7 });
    net.tickAll(40);
    const leaders = [...net.nodes.values()].filter((n) => n.node.status().role === 'leader');
    assert.equal(leaders.length, 1);
  });

  test('a follower without a leader rejects proposals with no-leader', () => {
    const net = Network.create([1, 2, 3]);
    assert.deepEqual(net.propose(2, 'x'), { ok: false, reason: 'no-leader' });
  });

  test('a restarted node recovers term, vote, commit and log from storage', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    net.propose(1, 'a');
    net.stabilize();
    const before = net.get(2).node.status();
    const restarted = net.restart(2).node.status();
    assert.equal(restarted.term, before.term);
    assert.equal(restarted.vote, before.vote);
    assert.equal(restarted.commitIndex, before.commitIndex);
    assert.equal(restarted.lastIndex, before.lastIndex);
    assert.equal(restarted.appliedIndex, before.appliedIndex);
    net.propose(1, 'b');
    net.stabilize();
    assert.deepEqual(net.get(2).applied, ['a', 'b']);
  });

  test('garbage and local-only messages from the network are dropped without throwing', () => {
    const net = Network.create([1, 2, 3]);
    net.elect(1);
    const node = net.get(2).node;
    const before = node.status();
    const garbage: unknown[] = [
      null,
      {},
      { type: 999 },
      Message.fromPartial({ type: MessageType.HUP, from: 3, to: 2 }),
      Message.fromPartial({ type: MessageType.APP, from: 3, to: 2, term: Number.NaN }),
      Message.fromPartial({ type: MessageType.APP, from: 1, to: 2, term: 1, index: 5, entries: [{ index: 9, term: 1 }] }),
      Message.fromPartial({ type: MessageType.SNAP, from: 1, to: 2, term: 1 }),
      Message.fromPartial({ type: MessageType.APP, from: 1, to: 3, term: 1 }),
      Message.fromPartial({ type: MessageType.APP_RESP, from: 9, to: 2, term: 1 }),
    ];
    for (const message of garbage) node.step(message as Message);
    assert.deepEqual(node.status(), before);
  });

  test('an invalid config is refused with ConfigInvalidError', () => {
    const storage = MemoryStorage.create(ids(1));
    assert.throws(
      () => RawNode.create({ id: 1 as NodeId, electionTicks: 1, heartbeatTicks: 1 }, storage, createRng(1)),
      ConfigInvalidError,
    );
    assert.throws(() => RawNode.create({ id: 0 as NodeId }, storage, createRng(1)), { code: 'CONFIG_INVALID' });
  });

  test('ready() numbers increase and hasReady() is false while a Ready is outstanding', () => {
    const storage = MemoryStorage.create(ids(1));
    const node = RawNode.create({ id: 1 as NodeId }, storage, createRng(1));
    node.campaign();
    assert.equal(node.hasReady(), true);
    const first = node.ready();
    assert.equal(node.hasReady(), false);
    node.advance(first);
    assert.equal(node.hasReady(), true);
    const second = node.ready();
    assert.equal(second.number, first.number + 1);
  });

  test('proposals beyond maxUncommittedEntriesBytes are refused until entries commit', () => {
    const net = Network.create([1, 2, 3], { config: { maxUncommittedEntriesBytes: 100 } });
    net.elect(1);
    net.isolate(2);
    net.isolate(3);
    const big = 'x'.repeat(60);
    assert.deepEqual(net.propose(1, big), { ok: true });
    assert.deepEqual(net.propose(1, big), { ok: false, reason: 'too-many-uncommitted' });
    net.stabilize();
    net.heal();
    net.tickAll(2);
    assert.deepEqual(net.get(2).applied, [big]);
    assert.deepEqual(net.propose(1, big), { ok: true }, 'committed entries free the budget');
  });

  test('proposeMany appends a batch together and sends it as one MsgApp per follower; a refused batch appends nothing', () => {
    const net = Network.create([1, 2, 3], { config: { maxUncommittedEntriesBytes: 100 } });
    net.elect(1);
    net.stabilize();
    const leader = net.get(1).node;
    const lastBefore = leader.lastIndexAndTerm().lastIndex;
    assert.deepEqual(leader.proposeMany(['a', 'b', 'c'].map((v) => Buffer.from(v))), { ok: true });
    const ready = leader.ready();
    assert.deepEqual(
      ready.entries.map((e) => [e.index, Buffer.from(e.data).toString()]),
      [
        [lastBefore + 1, 'a'],
        [lastBefore + 2, 'b'],
        [lastBefore + 3, 'c'],
      ],
    );
    const appends = ready.messages.filter((m) => m.type === MessageType.APP);
    assert.deepEqual(appends.map((m) => [m.to, m.entries.length]).sort(), [
      [2, 3],
      [3, 3],
    ]);
    net.get(1).storage.append(ready.entries);
    for (const m of ready.messages) net.get(m.to).node.step(m);
    leader.advance(ready);
    net.stabilize();
    for (const id of [1, 2, 3]) assert.deepEqual(net.get(id).applied.slice(-3), ['a', 'b', 'c'], `node ${id}`);
    // The budget is checked for the whole batch once other entries are uncommitted.
    net.isolate(2);
    net.isolate(3);
    assert.deepEqual(net.propose(1, 'x'.repeat(10)), { ok: true });
    const last = leader.lastIndexAndTerm().lastIndex;
    assert.deepEqual(leader.proposeMany(['y'.repeat(60), 'z'.repeat(60)].map((v) => Buffer.from(v))), {
      ok: false,
      reason: 'too-many-uncommitted',
    });
    assert.equal(leader.lastIndexAndTerm().lastIndex, last);
  });
});
