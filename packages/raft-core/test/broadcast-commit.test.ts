// Goal: broadcastCommit decides whether a leader tells followers about a new
// commit index at once (an AppendEntries of no entries, etcd's behaviour) or
// leaves it to the next append or heartbeat.
// Method: drive a leader by hand, acknowledge an entry from one follower and
// look at what the leader sends next; then tick once and look again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '@cairn/proto';
import { drain, msg, newNode, ofType } from './helpers/manual.js';

/** A leader of term 1 over [1, 2, 3], both followers at entry 1, whose entry 2 follower 2 has just acknowledged; returns what it sent then. */
function commitOneEntry(broadcastCommit: boolean) {
  const n = newNode(1, [1, 2, 3], { config: { preVote: false, checkQuorum: false, broadcastCommit } });
  n.node.campaign();
  drain(n);
  n.node.step(msg({ type: MessageType.VOTE_RESP, from: 2, to: 1, term: 1 }));
  drain(n);
  n.node.step(msg({ type: MessageType.APP_RESP, from: 2, to: 1, term: 1, index: 1 }));
  n.node.step(msg({ type: MessageType.APP_RESP, from: 3, to: 1, term: 1, index: 1 }));
  drain(n);
  n.node.propose(Buffer.from('x'));
  drain(n);
  n.node.step(msg({ type: MessageType.APP_RESP, from: 2, to: 1, term: 1, index: 2 }));
  const sent = drain(n);
  assert.equal(n.node.status().commitIndex, 2);
  return { n, sent };
}

test('by default a new commit index goes to every follower at once', () => {
  const { sent } = commitOneEntry(true);
  const appends = ofType(sent, MessageType.APP).filter((m) => m.commit === 2);
  assert.deepEqual(appends.map((m) => m.to).sort(), [2, 3]);
  assert.ok(appends.every((m) => m.entries.length === 0));
});

test('with broadcastCommit off it waits for the next heartbeat', () => {
  const { n, sent } = commitOneEntry(false);
  assert.deepEqual(ofType(sent, MessageType.APP), []);
  n.node.tick();
  const heartbeats = ofType(drain(n), MessageType.HEARTBEAT);
  assert.deepEqual(
    heartbeats.map((m) => [m.to, m.commit]).sort(),
    [
      [2, 2],
      [3, 1],
    ],
    'each follower hears the commit it can hold',
  );
});
