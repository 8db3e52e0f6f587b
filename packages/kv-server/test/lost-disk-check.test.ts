// Goal: the startup check fences a node whose peers show that its data dir
// was lost or rolled back, releases its votes once a majority shows no such
// sign, and keeps asking (never voting) while too few peers answer.
// Method: LostDiskCheck against a fake node whose peers answer from a table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SurveyResponse } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import { createLogger } from '../src/logger.js';
import { LostDiskCheck, type LostDiskCheckNode } from '../src/lost-disk-check.js';

const CLEAN: SurveyResponse = { error: '', clusterStarted: false, termSeenFromYou: 0, matchIndex: 0 };

interface FakeNode extends LostDiskCheckNode {
  outcome: 'held' | 'fenced' | 'released';
  answers: Map<number, SurveyResponse | 'down'>;
  asked: number;
}

function fakeNode(voters: number[], raft: { term: number; lastIndex: number }, answers: Record<number, SurveyResponse | 'down'>): FakeNode {
  const node: FakeNode = {
    id: 1,
    outcome: 'held',
    answers: new Map(Object.entries(answers).map(([id, answer]) => [Number(id), answer])),
    asked: 0,
    voters: () => voters,
    raftState: () => ({ ...raft, votesHeld: node.outcome === 'held', recovering: node.outcome === 'fenced' }),
    survey: async (peer) => {
      node.asked += 1;
      const answer = node.answers.get(peer);
      if (answer === undefined || answer === 'down') throw new Error('UNAVAILABLE');
      return answer;
    },
    fence: () => {
      node.outcome = 'fenced';
    },
    releaseVotes: () => {
      node.outcome = 'released';
    },
  };
  return node;
}

const quiet = createLogger('error');

async function run(node: FakeNode, startedEmpty: boolean): Promise<LostDiskCheck> {
  const check = new LostDiskCheck(node, startedEmpty, quiet);
  check.start();
  await waitFor(() => node.outcome !== 'held', { deadlineMs: 5_000, what: 'the check to decide' });
  return check;
}

test('an empty data dir in a cluster that has run is fenced', async () => {
  const node = fakeNode([1, 2, 3], { term: 1, lastIndex: 3 }, { 2: { ...CLEAN, clusterStarted: true }, 3: 'down' });
  const check = await run(node, true);
  assert.equal(node.outcome, 'fenced');
  assert.equal(check.state(), 'recovering');
});

test('an empty data dir in a new cluster releases its votes once a majority answers', async () => {
  const node = fakeNode([1, 2, 3], { term: 1, lastIndex: 3 }, { 2: CLEAN, 3: 'down' });
  const check = await run(node, true);
  assert.equal(node.outcome, 'released');
  assert.equal(check.state(), 'ok');
});

test('a peer that saw a higher term from this node shows a rolled-back data dir', async () => {
  const node = fakeNode([1, 2, 3], { term: 4, lastIndex: 90 }, { 2: CLEAN, 3: { ...CLEAN, termSeenFromYou: 6 } });
  await run(node, false);
  assert.equal(node.outcome, 'fenced');
});

test('a leader that knows this node held more log shows a rolled-back data dir', async () => {
  const node = fakeNode([1, 2, 3], { term: 4, lastIndex: 90 }, { 2: { ...CLEAN, matchIndex: 120 }, 3: CLEAN });
  await run(node, false);
  assert.equal(node.outcome, 'fenced');
});

test('a restart with its disk intact is released (a peer\'s term or match at or below its own is no sign)', async () => {
  const node = fakeNode([1, 2, 3], { term: 4, lastIndex: 90 }, { 2: { ...CLEAN, termSeenFromYou: 4, matchIndex: 90, clusterStarted: true }, 3: CLEAN });
  await run(node, false);
  assert.equal(node.outcome, 'released');
});

test('refused answers do not count, and with too few answers the node keeps asking without voting', async () => {
  const node = fakeNode([1, 2, 3, 4, 5], { term: 2, lastIndex: 10 }, { 2: CLEAN, 3: { ...CLEAN, error: 'unknown peer 1' }, 4: 'down', 5: 'down' });
  const check = new LostDiskCheck(node, false, quiet);
  check.start();
  await waitFor(() => node.asked >= 12, { deadlineMs: 5_000, what: 'several rounds' });
  assert.equal(node.outcome, 'held', 'two of five (itself and node 2) is not a majority');
  assert.equal(check.state(), 'checking');
  node.answers.set(4, CLEAN);
  await waitFor(() => node.outcome !== 'held', { deadlineMs: 5_000, what: 'a release once a third answered' });
  assert.equal(node.outcome, 'released');
  check.stop();
});

test('stop() ends the rounds', async () => {
  const node = fakeNode([1, 2, 3], { term: 2, lastIndex: 10 }, { 2: 'down', 3: 'down' });
  const check = new LostDiskCheck(node, false, quiet);
  check.start();
  await waitFor(() => node.asked >= 2, { deadlineMs: 5_000, what: 'a first round' });
  check.stop();
  const asked = node.asked;
  // A clock for "several rounds later": an identical check left running.
  const witness = fakeNode([1, 2, 3], { term: 2, lastIndex: 10 }, { 2: 'down', 3: 'down' });
  const running = new LostDiskCheck(witness, false, quiet);
  running.start();
  await waitFor(() => witness.asked >= 8, { deadlineMs: 5_000, what: 'four rounds of the running check' });
  running.stop();
  // A round already in flight may still finish; no new one starts after it.
  assert.ok(node.asked <= asked + 2, `no rounds after stop (asked ${node.asked}, was ${asked})`);
  assert.equal(node.outcome, 'held');
});
