// Goal: execute() performs each command against the clerk and returns the right
// Result; exit codes map from results and error codes as documented. Method: a
// map-backed fake clerk and scripted failures; no network.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from '../src/commands.js';
import { describeError } from '../src/errors.js';
import { EXIT_DEGRADED, EXIT_OK, exitCodeForErrorCode } from '../src/exit-codes.js';
import { MEMBER_STATUS_DEADLINE_MS, execute, exitCodeForResult, type ExecutableCommand } from '../src/run.js';
import { FakeClerk, FakeClerkError, statusOf } from './fake-clerk.js';

const literal = (text: string) => ({ from: 'literal', text }) as const;

async function run(clerk: FakeClerk, command: Command, stdin = Buffer.alloc(0)) {
  return execute(command as ExecutableCommand, clerk, { readStdin: async () => stdin });
}

describe('key-value commands', () => {
  test('put then get returns the value; a missing key is exit 1', async () => {
    const clerk = new FakeClerk();
    const put = await run(clerk, { kind: 'put', key: 'k', value: literal('v1') });
    assert.deepEqual(put, { kind: 'put', key: 'k', version: 1 });
    assert.equal(exitCodeForResult(put), 0);
    const got = await run(clerk, { kind: 'get', key: 'k', consistency: 'serializable' });
    assert.equal(got.kind, 'get');
    if (got.kind === 'get') assert.equal(got.kv?.value.toString(), 'v1');
    assert.deepEqual(clerk.calls.at(-1), { method: 'get', args: ['k', { consistency: 'serializable' }] });
    const missing = await run(clerk, { kind: 'get', key: 'nope', consistency: 'linearizable' });
    assert.equal(exitCodeForResult(missing), 1);
  });

  test('a value of - is read from stdin, bytes intact', async () => {
    const clerk = new FakeClerk();
    const bytes = Buffer.from([0, 255, 10, 13]);
    await run(clerk, { kind: 'put', key: 'bin', value: { from: 'stdin' } }, bytes);
    assert.deepEqual(clerk.store.get('bin')?.value, bytes);
  });

  test('append and delete; deleting a missing key is exit 1', async () => {
    const clerk = new FakeClerk();
    await run(clerk, { kind: 'put', key: 'k', value: literal('a') });
    await run(clerk, { kind: 'append', key: 'k', value: literal('b') });
    assert.equal(clerk.store.get('k')?.value.toString(), 'ab');
    const deleted = await run(clerk, { kind: 'delete', key: 'k' });
    assert.deepEqual(deleted, { kind: 'delete', key: 'k', deleted: true });
    assert.equal(exitCodeForResult(deleted), 0);
    assert.equal(exitCodeForResult(await run(clerk, { kind: 'delete', key: 'k' })), 1);
  });

  test('cas succeeds on a match (exit 0) and fails otherwise (exit 5)', async () => {
    const clerk = new FakeClerk();
    const create = await run(clerk, { kind: 'cas', key: 'k', newValue: literal('v1'), expected: { expectedVersion: 0 } });
    assert.equal(exitCodeForResult(create), 0);
    const stale = await run(clerk, { kind: 'cas', key: 'k', newValue: literal('v2'), expected: { expectedValue: 'wrong' } });
    assert.equal(stale.kind === 'cas' && stale.succeeded, false);
    assert.equal(exitCodeForResult(stale), 5);
    const swap = await run(clerk, { kind: 'cas', key: 'k', newValue: literal('v2'), expected: { expectedValue: 'v1' } });
    assert.equal(exitCodeForResult(swap), 0);
    assert.deepEqual(clerk.calls.find((call) => call.method === 'cas' && call.args[2]!.toString() === 'v2')?.args[1], {
      expectedValue: Buffer.from('wrong'),
    });
  });

  test('range passes options and reports more', async () => {
    const clerk = new FakeClerk();
    for (const key of ['p/1', 'p/2', 'p/3', 'q/1']) await run(clerk, { kind: 'put', key, value: literal(key) });
    const page = await run(clerk, { kind: 'range', prefix: 'p/', limit: 2, startAfter: undefined, keysOnly: true });
    assert.equal(page.kind, 'range');
    if (page.kind === 'range') {
      assert.deepEqual(
        page.kvs.map((kv) => kv.key.toString()),
        ['p/1', 'p/2'],
      );
      assert.equal(page.more, true);
      assert.equal(page.keysOnly, true);
    }
    assert.deepEqual(clerk.calls.at(-1)?.args, ['p/', { limit: 2, startAfter: undefined, keysOnly: true }]);
  });
});

describe('cluster commands', () => {
  test('status asks every member and computes leader, lag and health', async () => {
    const clerk = new FakeClerk();
    const members = [1, 2, 3].map((id) => ({ id, peerAddress: `p:${id}`, clientAddress: `c:${id}`, httpAddress: '', learner: id === 3 }));
    clerk.statusReply = statusOf({ id: 1, role: 'follower', term: 5, leaderId: 2, commitIndex: 90, appliedIndex: 88, members });
    const asked: string[] = [];
    const result = await execute({ kind: 'status' }, clerk, {
      memberStatus: async (address) => {
        asked.push(address);
        if (address === 'c:3') throw new FakeClerkError('UNAVAILABLE', 'connection refused');
        return statusOf({ id: 2, role: 'leader', term: 5, leaderId: 2, commitIndex: 100, appliedIndex: 100 });
      },
    });
    assert.deepEqual(asked.sort(), ['c:2', 'c:3']);
    assert.equal(result.kind, 'status');
    if (result.kind !== 'status') return;
    assert.deepEqual(
      result.rows.map((row) => [row.id, row.isLeader, row.health, row.lag]),
      [
        [1, false, 'ok', 12],
        [2, true, 'ok', 0],
        [3, false, 'UNAVAILABLE', undefined],
      ],
    );
    assert.equal(result.rows[2]!.learner, true);
  });

  test('by default status asks each member through clerk.status({ endpoint })', async () => {
    const clerk = new FakeClerk();
    const members = [1, 2].map((id) => ({ id, peerAddress: `p:${id}`, clientAddress: `c:${id}`, httpAddress: '', learner: false }));
    clerk.statusReply = statusOf({ id: 1, role: 'leader', term: 2, leaderId: 1, commitIndex: 10, appliedIndex: 10, members });
    clerk.statusByEndpoint.set('c:2', statusOf({ id: 2, role: 'follower', term: 2, leaderId: 1, commitIndex: 10, appliedIndex: 7 }));
    const result = await execute({ kind: 'status' }, clerk);
    assert.deepEqual(
      clerk.calls.map((call) => [call.method, ...call.args]),
      [['status'], ['status', 'c:2']],
    );
    // A dead member must cost a short wait, not the clerk's whole retry deadline.
    assert.deepEqual(clerk.statusDeadlines, [MEMBER_STATUS_DEADLINE_MS]);
    assert.equal(result.kind === 'status' && result.rows[1]!.lag, 3);
    assert.equal(exitCodeForResult(result), EXIT_OK);
  });

  test('a --timeout below the member deadline caps it', async () => {
    const clerk = new FakeClerk();
    const members = [1, 2].map((id) => ({ id, peerAddress: `p:${id}`, clientAddress: `c:${id}`, httpAddress: '', learner: false }));
    clerk.statusReply = statusOf({ id: 1, role: 'leader', term: 2, leaderId: 1, members });
    await execute({ kind: 'status' }, clerk, { timeoutMs: 300 });
    await execute({ kind: 'status' }, clerk, { timeoutMs: 60_000 });
    assert.deepEqual(clerk.statusDeadlines, [300, MEMBER_STATUS_DEADLINE_MS]);
  });

  test('status with a member down, or with no leader, exits 7 (degraded) and still lists every member', async () => {
    const clerk = new FakeClerk();
    const members = [1, 2].map((id) => ({ id, peerAddress: `p:${id}`, clientAddress: `c:${id}`, httpAddress: '', learner: false }));
    clerk.statusReply = statusOf({ id: 1, role: 'leader', term: 2, leaderId: 1, commitIndex: 10, appliedIndex: 10, members });
    const memberDown = await execute({ kind: 'status' }, clerk);
    assert.deepEqual(memberDown.kind === 'status' && memberDown.rows.map((row) => row.health), ['ok', 'UNAVAILABLE']);
    assert.equal(exitCodeForResult(memberDown), EXIT_DEGRADED);
    clerk.statusReply = statusOf({ id: 1, role: 'candidate', term: 3, leaderId: 0, members });
    clerk.statusByEndpoint.set('c:2', statusOf({ id: 2, role: 'follower', term: 3, leaderId: 0 }));
    const leaderless = await execute({ kind: 'status' }, clerk);
    assert.equal(exitCodeForResult(leaderless), EXIT_DEGRADED);
  });

  test('membership changes show the resulting membership', async () => {
    const clerk = new FakeClerk();
    clerk.membersReply = { members: [{ id: 1, peerAddress: 'p:1', clientAddress: 'c:1', httpAddress: '', learner: false }], leaderId: 1 };
    const added = await execute({ kind: 'member-add', id: 4, peerAddress: 'p:4', clientAddress: 'c:4' }, clerk);
    assert.deepEqual(
      clerk.calls.map((call) => call.method),
      ['addLearner', 'members'],
    );
    assert.deepEqual(clerk.calls[0]!.args, [{ id: 4, peerAddress: 'p:4', clientAddress: 'c:4' }]);
    assert.equal(added.kind === 'members' && added.action, 'add');
    await execute({ kind: 'member-promote', id: 4 }, clerk);
    const removed = await execute({ kind: 'member-remove', id: 4 }, clerk);
    // removeMember answers with the membership itself, so no extra members() call.
    assert.deepEqual(
      clerk.calls.map((call) => call.method),
      ['addLearner', 'members', 'promote', 'members', 'removeMember'],
    );
    assert.equal(removed.kind === 'members' && removed.leaderId, 1);
  });

  test('leader transfer and snapshot', async () => {
    const clerk = new FakeClerk();
    assert.deepEqual(await execute({ kind: 'leader-transfer', id: 3 }, clerk), { kind: 'leader-transfer', targetId: 3, leaderId: 3 });
    assert.deepEqual(await execute({ kind: 'snapshot' }, clerk), { kind: 'snapshot', index: 42, term: 3, sizeBytes: 1024 });
  });

  test('check uses the injected checker; without one the built-in checker reads the file (missing: USAGE)', async () => {
    const clerk = new FakeClerk();
    const bad = await execute({ kind: 'check', historyPath: 'h.jsonl' }, clerk, {
      checker: { check: async (path) => ({ linearizable: false, operations: 7, detail: `in ${path}` }) },
    });
    assert.equal(exitCodeForResult(bad), 1);
    await assert.rejects(execute({ kind: 'check', historyPath: 'no-such-history.jsonl' }, clerk), (error: unknown) => {
      assert.equal(describeError(error).code, 'USAGE');
      assert.equal(describeError(error).exitCode, 2);
      return true;
    });
    assert.equal(clerk.calls.length, 0);
  });
});

describe('errors and exit codes', () => {
  test('clerk errors propagate with their code', async () => {
    const clerk = new FakeClerk();
    clerk.failWith = new FakeClerkError('NO_LEADER', 'no leader\nsecond line');
    await assert.rejects(execute({ kind: 'get', key: 'k', consistency: 'linearizable' }, clerk), (error: unknown) => {
      assert.deepEqual(describeError(error), { code: 'NO_LEADER', message: 'no leader', exitCode: 3 });
      return true;
    });
  });

  test('the documented exit-code table', () => {
    const table: [string, number][] = [
      ['NOT_FOUND', 1],
      ['USAGE', 2],
      ['UNAVAILABLE', 3],
      ['NO_LEADER', 3],
      ['TIMEOUT', 3],
      ['NOT_LEADER', 3],
      ['INVALID_ARGUMENT', 4],
      ['KEY_TOO_LARGE', 4],
      ['VALUE_TOO_LARGE', 4],
      ['CAS_FAILED', 5],
      ['UNKNOWN_OUTCOME', 6],
      ['INTERNAL', 10],
      ['SOMETHING_NEW', 10],
    ];
    for (const [code, exitCode] of table) assert.equal(exitCodeForErrorCode(code), exitCode, code);
  });

  test('non-clerk errors become INTERNAL or IO, never a stack', () => {
    assert.deepEqual(describeError(new TypeError('x is undefined')), { code: 'INTERNAL', message: 'x is undefined', exitCode: 10 });
    const io = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open' });
    assert.equal(describeError(io).code, 'IO');
    assert.equal(describeError('plain string').code, 'INTERNAL');
  });

  test('a benchmark where every operation failed exits with that error', async () => {
    const clerk = new FakeClerk();
    clerk.failWith = new FakeClerkError('TIMEOUT', 'timed out');
    const result = await execute(
      { kind: 'bench', concurrency: 2, durationMs: undefined, count: 4, keys: 3, valueBytes: 1, readRatio: 0.5, json: false },
      clerk,
    );
    assert.equal(result.kind === 'bench' && result.summary.errorsByCode['TIMEOUT'], 4);
    assert.equal(exitCodeForResult(result), 3);
  });
});
