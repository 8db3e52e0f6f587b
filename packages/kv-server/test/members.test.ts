// Goal: the member table keeps run-time knowledge (HTTP addresses learned from
// peers) when replicated records without it are applied, and follows raft's
// ConfState for who is a voter or learner. Method: direct calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Members } from '../src/loop/members.js';

const member = (id: number, httpAddress = '') => ({ id, peerAddress: `h:${id}`, clientAddress: `h:${id}`, httpAddress, learner: false });

test('a replicated record without an HTTP address keeps the learned one', () => {
  const members = Members.fromList([member(1, 'web:1')]);
  members.set(member(1));
  assert.equal(members.get(1)?.httpAddress, 'web:1');
  members.set(member(1, 'web:9'));
  assert.equal(members.get(1)?.httpAddress, 'web:9');
});

test('replacing from a snapshot keeps learned HTTP addresses of members still present', () => {
  const members = Members.fromList([member(1, 'web:1'), member(2, 'web:2')]);
  members.replaceWith(Members.fromList([member(1), member(3)]));
  assert.deepEqual(
    members.list().map((m) => [m.id, m.httpAddress]),
    [
      [1, 'web:1'],
      [3, ''],
    ],
  );
});

test('syncWith follows the ConfState', () => {
  const members = Members.fromList([member(1), member(2), member(3)]);
  members.syncWith({ voters: [1], learners: [2], votersOutgoing: [] });
  assert.deepEqual(
    members.list().map((m) => [m.id, m.learner]),
    [
      [1, false],
      [2, true],
    ],
  );
});
