// Goal: the startup check fences a node whose peers show that its data dir
// was lost or rolled back, releases its votes once a majority shows no such
// sign, settles a fenced node's term once a majority of the other voters has
// answered, and keeps asking (never voting) while too few peers answer.
// Method: LostDiskCheck against a fake node whose peers answer from a table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SurveyResponse } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import { createLogger } from '../src/logger.js';
import { LostDiskCheck, type LostDiskCheckNode, type StartupState } from '../src/lost-disk-check.js';

/** An answer with no sign of loss from a voting peer (of the asker's configuration, unless it names another). */
const CLEAN: SurveyResponse = {
  error: '',
  clusterStarted: false,
  termSeenFromYou: 0,
  matchIndex: 0,
  matchIndexBeforeLoss: 0,
  term: 0,
  voting: true,
  voters: [],
};

interface FakeNode extends LostDiskCheckNode {
  held: boolean;
  fenced: boolean;
  settledAt: number | undefined;
  raft: { term: number; lastIndex: number };
  answers: Map<number, SurveyResponse | 'down'>;
  asked: number;
}

function fakeNode(
  voters: number[],
  raft: { term: number; lastIndex: number },
  answers: Record<number, SurveyResponse | 'down'>,
  state: { held?: boolean; fenced?: boolean } = {},
): FakeNode {
  const node: FakeNode = {
    id: 1,
    held: state.held ?? true,
    fenced: state.fenced ?? false,
    settledAt: undefined,
    raft: { ...raft },
    answers: new Map(Object.entries(answers).map(([id, answer]) => [Number(id), answer])),
    asked: 0,
    voters: () => voters,
    raftState: () => ({ ...node.raft, votesHeld: node.held, recovering: node.fenced, termSettled: node.settledAt !== undefined }),
    survey: async (peer) => {
      node.asked += 1;
      const answer = node.answers.get(peer);
      if (answer === undefined || answer === 'down') throw new Error('UNAVAILABLE');
      return { ...answer, voters: answer.voters.length > 0 ? answer.voters : voters };
    },
    fence: () => {
      node.fenced = true;
      node.held = false;
    },
    releaseVotes: () => {
      node.held = false;
    },
    settleTerm: (term) => {
      node.settledAt = term;
      node.raft.term = Math.max(node.raft.term, term);
    },
  };
  return node;
}

const quiet = createLogger('error');
const restarted = (term: number, lastIndex: number): StartupState => ({ term, lastIndex, atGenesis: false });
const GENESIS: StartupState = { term: 1, lastIndex: 3, atGenesis: true };

/** Runs the check until it has nothing left to learn. */
async function run(node: FakeNode, startup: StartupState): Promise<LostDiskCheck> {
  const check = new LostDiskCheck(node, startup, quiet);
  check.start();
  await waitFor(() => !node.held && (!node.fenced || node.settledAt !== undefined), { deadlineMs: 5_000, what: 'the check to finish' });
  return check;
}

test('a data dir at genesis in a cluster that has run is fenced, and its term settled at the highest every other voter reports', async () => {
  const node = fakeNode(
    [1, 2, 3],
    { term: 1, lastIndex: 3 },
    { 2: { ...CLEAN, clusterStarted: true, term: 5 }, 3: { ...CLEAN, clusterStarted: true, term: 6 } },
  );
  const check = await run(node, GENESIS);
  assert.equal(node.fenced, true);
  assert.equal(node.settledAt, 6);
  assert.equal(check.state(), 'recovering');
});

test('a fenced node with only one of two other voters answering is not settled (a deposed leader could be that one)', async () => {
  const node = fakeNode([1, 2, 3], { term: 1, lastIndex: 3 }, { 2: { ...CLEAN, clusterStarted: true, term: 5 }, 3: 'down' });
  const check = new LostDiskCheck(node, GENESIS, quiet);
  check.start();
  await waitFor(() => node.fenced && node.asked >= 6, { deadlineMs: 5_000, what: 'fenced, several rounds' });
  assert.equal(node.settledAt, undefined);
  node.answers.set(3, { ...CLEAN, clusterStarted: true, term: 7 });
  await waitFor(() => node.settledAt !== undefined, { deadlineMs: 5_000, what: 'settled once both answered' });
  assert.equal(node.settledAt, 7);
  check.stop();
});

test('the term is settled once every other voter answers and a majority of the voters may vote', async () => {
  const node = fakeNode(
    [1, 2, 3, 4, 5],
    { term: 1, lastIndex: 3 },
    {
      2: { ...CLEAN, clusterStarted: true, term: 1 },
      3: { ...CLEAN, term: 1 },
      4: { ...CLEAN, term: 9, voting: false },
      5: 'down',
    },
  );
  const check = new LostDiskCheck(node, GENESIS, quiet);
  check.start();
  await waitFor(() => node.fenced && node.asked >= 12, { deadlineMs: 5_000, what: 'fenced, several rounds' });
  assert.equal(node.settledAt, undefined, 'node 5 has not answered: it may be a candidate this node voted for');
  // Node 4 recovers from a loss too: it answers, but its term may be lost, so it is not taken.
  node.answers.set(5, { ...CLEAN, term: 2 });
  await waitFor(() => node.settledAt !== undefined, { deadlineMs: 5_000, what: 'settled once every other voter answered' });
  assert.equal(node.settledAt, 2, "the highest term of the voting peers (1, 1, 2), not the recovering one's");
  check.stop();
});

test('two voters recovering at once do not wait for each other', async () => {
  const node = fakeNode(
    [1, 2, 3, 4, 5],
    { term: 1, lastIndex: 3 },
    {
      2: { ...CLEAN, term: 0, voting: false },
      3: { ...CLEAN, term: 4 },
      4: { ...CLEAN, term: 4 },
      5: { ...CLEAN, term: 5 },
    },
    { held: false, fenced: true },
  );
  await run(node, restarted(1, 3));
  assert.equal(node.settledAt, 5);
});

test('with half the voters or more not voting, the term is not settled', async () => {
  const node = fakeNode(
    [1, 2, 3, 4],
    { term: 1, lastIndex: 3 },
    {
      2: { ...CLEAN, term: 0, voting: false },
      3: { ...CLEAN, term: 4 },
      4: { ...CLEAN, term: 4 },
    },
    { held: false, fenced: true },
  );
  const check = new LostDiskCheck(node, restarted(1, 3), quiet);
  check.start();
  await waitFor(() => node.asked >= 9, { deadlineMs: 5_000, what: 'several rounds' });
  assert.equal(node.settledAt, undefined, 'two voting of four is not a majority');
  check.stop();
});

test('answers from peers of another configuration decide nothing (a wiped node that does not know the cluster grew)', async () => {
  const grown = [1, 2, 3, 4, 5];
  const node = fakeNode(
    [1, 2, 3],
    { term: 1, lastIndex: 3 },
    { 2: { ...CLEAN, term: 4, voters: grown }, 3: { ...CLEAN, term: 4, voters: grown } },
  );
  const check = new LostDiskCheck(node, restarted(4, 20), quiet);
  check.start();
  await waitFor(() => node.asked >= 8, { deadlineMs: 5_000, what: 'several rounds' });
  assert.equal(node.held, true, 'not released on answers about another configuration');
  check.stop();
});

test('a data dir at genesis in a new cluster releases its votes once a majority answers', async () => {
  const node = fakeNode([1, 2, 3], { term: 1, lastIndex: 3 }, { 2: { ...CLEAN, term: 2 }, 3: 'down' });
  const check = await run(node, GENESIS);
  assert.equal(node.fenced, false);
  assert.equal(check.state(), 'ok');
});

test('a peer that saw a higher term from an earlier run shows a rolled-back data dir, even after the node moved on', async () => {
  // The node restarted at term 4; while it asked, a vote request moved it to term 6.
  const node = fakeNode([1, 2, 3], { term: 6, lastIndex: 90 }, { 2: { ...CLEAN, term: 6 }, 3: { ...CLEAN, termSeenFromYou: 6, term: 6 } });
  await run(node, restarted(4, 90));
  assert.equal(node.fenced, true);
  assert.equal(node.settledAt, 6);
});

test('a leader that knew this node held more log shows a rolled-back data dir, even after it caught the node up', async () => {
  const node = fakeNode(
    [1, 2, 3],
    { term: 4, lastIndex: 130 },
    { 2: { ...CLEAN, matchIndex: 130, matchIndexBeforeLoss: 120, term: 4 }, 3: { ...CLEAN, term: 4 } },
  );
  await run(node, restarted(4, 90));
  assert.equal(node.fenced, true);
});

test('a restart with its disk intact is released (terms and matches at or below its own are no sign)', async () => {
  const node = fakeNode(
    [1, 2, 3],
    { term: 4, lastIndex: 95 },
    { 2: { ...CLEAN, termSeenFromYou: 4, matchIndex: 95, clusterStarted: true, term: 4 }, 3: { ...CLEAN, term: 4 } },
  );
  await run(node, restarted(4, 90));
  assert.equal(node.fenced, false);
  assert.equal(node.held, false);
});

test('a node still recovering when it starts only settles its term', async () => {
  const node = fakeNode(
    [1, 2, 3],
    { term: 3, lastIndex: 10 },
    { 2: { ...CLEAN, term: 8 }, 3: { ...CLEAN, term: 9 } },
    { held: false, fenced: true },
  );
  await run(node, restarted(3, 10));
  assert.equal(node.settledAt, 9);
});

test('refused answers do not count, and with too few answers the node keeps asking without voting', async () => {
  const node = fakeNode(
    [1, 2, 3, 4, 5],
    { term: 2, lastIndex: 10 },
    { 2: CLEAN, 3: { ...CLEAN, error: 'unknown peer 1' }, 4: 'down', 5: 'down' },
  );
  const check = new LostDiskCheck(node, restarted(2, 10), quiet);
  check.start();
  await waitFor(() => node.asked >= 12, { deadlineMs: 5_000, what: 'several rounds' });
  assert.equal(node.held, true, 'two of five (itself and node 2) is not a majority');
  assert.equal(check.state(), 'checking');
  node.answers.set(4, CLEAN);
  await waitFor(() => !node.held, { deadlineMs: 5_000, what: 'a release once a third answered' });
  assert.equal(node.fenced, false);
  check.stop();
});

test('stop() ends the rounds', async () => {
  const node = fakeNode([1, 2, 3], { term: 2, lastIndex: 10 }, { 2: 'down', 3: 'down' });
  const check = new LostDiskCheck(node, restarted(2, 10), quiet);
  check.start();
  await waitFor(() => node.asked >= 2, { deadlineMs: 5_000, what: 'a first round' });
  check.stop();
  const asked = node.asked;
  // A clock for "several rounds later": an identical check left running.
  const witness = fakeNode([1, 2, 3], { term: 2, lastIndex: 10 }, { 2: 'down', 3: 'down' });
  const running = new LostDiskCheck(witness, restarted(2, 10), quiet);
  running.start();
  await waitFor(() => witness.asked >= 8, { deadlineMs: 5_000, what: 'four rounds of the running check' });
  running.stop();
  // A round already in flight may still finish; no new one starts after it.
  assert.ok(node.asked <= asked + 2, `no rounds after stop (asked ${node.asked}, was ${asked})`);
  assert.equal(node.held, true);
});
