// Goal: the clerk's leader discovery and retry loop behave as specified: follow NOT_LEADER hints
// (each node at most once per round), rotate endpoints on unreachable nodes, back off, honour deadlines and
// abort signals, reuse one (clientId, seq) across the retries of a write, and report
// UnknownOutcomeError exactly when an attempt may have been applied.
// Method: a ScriptedTransport replays canned replies and logs every call; a FakeClock makes
// sleeps instant and records them; assertions are on the call sequence and the final error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AbortedError,
  Clerk,
  type ClerkOptions,
  type ClerkStatus,
  ClosedError,
  InvalidArgumentError,
  NotLeaderError,
  TimeoutError,
  UnavailableError,
  UnknownOutcomeError,
  ValueTooLargeError,
} from '../src/index.js';
import { FakeClock, reply, ScriptedTransport, type ScriptedReply, type ScriptStep, seededRandom } from '../src/testing.js';

const A = '10.0.0.1:7001';
const B = '10.0.0.2:7001';
const C = '10.0.0.3:7001';

function header(leaderId: number): object {
  return { header: { memberId: leaderId, term: 1, appliedIndex: 1, leaderId } };
}

function setup(steps: ScriptStep[], options: Partial<ClerkOptions> = {}) {
  const clock = new FakeClock();
  const transport = new ScriptedTransport({ steps, clock });
  const clerk = Clerk.lazy(
    { endpoints: [A, B, C], membersRefreshMs: 0, clientId: 'client-1', deadlineMs: 5_000, requestTimeoutMs: 1_000, ...options },
    { transport, clock, random: seededRandom(7) },
  );
  return { clock, transport, clerk };
}

describe('leader discovery', () => {
  test('a NOT_LEADER hint sends the next attempt to the hinted node at once', async () => {
    const { clerk, transport, clock } = setup([{ reply: reply.notLeader(C, 3) }, { reply: reply.ok({ ...header(3), version: 1 }) }]);
    const result = await clerk.put('k', 'v');
    assert.equal(result.version, 1);
    assert.deepEqual(
      transport.callsOf().map((call) => call.address),
      [A, C],
    );
    assert.deepEqual(clock.sleeps, [], 'a redirect does not back off');
    assert.deepEqual(clerk.knownLeader(), { address: C, leaderId: 3 });
  });

  test('the known leader is used first by the next call', async () => {
    const { clerk, transport } = setup([
      { reply: reply.notLeader(B, 2) },
      { reply: reply.ok({ ...header(2), version: 1 }) },
      { reply: reply.ok({ ...header(2), kv: undefined }) },
    ]);
    await clerk.put('k', 'v');
    await clerk.get('k');
    assert.deepEqual(
      transport.callsOf().map((call) => call.address),
      [A, B, B],
    );
  });

  test('a hint naming a node already asked in the round is not followed: the round ends in a backoff', async () => {
    const { clerk, transport, clock } = setup(
      [
        { reply: reply.notLeader(B, 2) },
        { reply: reply.notLeader(A, 1) },
        { reply: reply.notLeader(A, 1) },
        { reply: reply.ok({ ...header(2), kv: undefined }) },
      ],
      { retry: { initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0 } },
    );
    await clerk.get('k');
    // A names B, B names A (asked already: not followed), so C is asked; then the next round.
    assert.deepEqual(
      transport.callsOf().map((call) => call.address),
      [A, B, C, A],
    );
    assert.deepEqual(clock.sleeps, [100]);
  });

  test('a write that only met NOT_LEADER answers fails at its deadline with TimeoutError, not an unknown outcome', async () => {
    const steps = Array.from({ length: 200 }, () => ({ reply: reply.notLeader() }));
    const { clerk, clock } = setup(steps, { deadlineMs: 3_000 });
    await assert.rejects(clerk.put('k', 'v'), (error: unknown) => {
      assert.ok(error instanceof TimeoutError);
      assert.ok(error.cause instanceof NotLeaderError);
      return true;
    });
    assert.equal(clock.now(), 3_000);
  });

  test('an unreachable node makes the clerk rotate to the next endpoint without sleeping', async () => {
    const { clerk, transport, clock } = setup([
      { reply: reply.unreachable() },
      { reply: reply.unreachable() },
      { reply: reply.ok({ ...header(3), kv: undefined }) },
    ]);
    assert.equal(await clerk.get('k'), undefined);
    assert.deepEqual(
      transport.callsOf().map((call) => call.address),
      [A, B, C],
    );
    assert.deepEqual(clock.sleeps, []);
  });

  test('after a full round of unreachable nodes the clerk backs off and starts over', async () => {
    const { clerk, transport, clock } = setup([
      { reply: reply.unreachable() },
      { reply: reply.unreachable() },
      { reply: reply.unreachable() },
      { reply: reply.ok({ ...header(1), kv: undefined }) },
    ]);
    await clerk.get('k');
    assert.deepEqual(
      transport.callsOf().map((call) => call.address),
      [A, B, C, A],
    );
    assert.equal(clock.sleeps.length, 1);
  });

  test('NO_LEADER moves on to the next node at once and backs off with growing delays after each full round', async () => {
    const noLeaderRound = [{ reply: reply.noLeader() }, { reply: reply.noLeader() }, { reply: reply.noLeader() }];
    const { clerk, transport, clock } = setup(
      [...noLeaderRound, ...noLeaderRound, { reply: reply.noLeader() }, { reply: reply.ok({ ...header(2), version: 1 }) }],
      { retry: { initialMs: 100, maxMs: 10_000, factor: 2, jitter: 0 } },
    );
    await clerk.put('k', 'v');
    assert.deepEqual(
      transport.callsOf().map((call) => call.address),
      [A, B, C, A, B, C, A, B],
    );
    assert.deepEqual(clock.sleeps, [100, 200]);
  });

  test('membership answers refresh the endpoint pool and the leader', async () => {
    const { clerk } = setup([
      {
        method: 'members',
        reply: reply.ok({
          leaderId: 4,
          members: [
            { id: 1, peerAddress: '', clientAddress: A, httpAddress: '', learner: false },
            { id: 4, peerAddress: '', clientAddress: '10.0.0.4:7001', httpAddress: '', learner: false },
          ],
        }),
      },
    ]);
    const events = clerk.statusEvents();
    await clerk.members();
    assert.deepEqual(clerk.endpoints(), [A, B, C, '10.0.0.4:7001']);
    assert.deepEqual(clerk.knownLeader(), { address: '10.0.0.4:7001', leaderId: 4 });
    const seen: ClerkStatus[] = [];
    clerk.close();
    for await (const event of events) seen.push(event);
    assert.deepEqual(
      seen.map((event) => event.type),
      ['leader-changed', 'endpoints-updated'],
    );
  });

  test('status events report redirects, leader changes and unavailable nodes', async () => {
    const { clerk } = setup([
      { reply: reply.unreachable() },
      { reply: reply.notLeader(C, 3) },
      { reply: reply.ok({ ...header(3), version: 1 }) },
    ]);
    const events = clerk.statusEvents();
    await clerk.put('k', 'v');
    clerk.close();
    const seen: ClerkStatus[] = [];
    for await (const event of events) seen.push(event);
    assert.deepEqual(seen, [
      { type: 'unavailable', address: A, attempt: 1, code: 'UNAVAILABLE' },
      { type: 'redirect', from: B, to: C },
      { type: 'leader-changed', leaderId: 3, address: C },
    ]);
  });
});

describe('deadlines, aborts and outcomes', () => {
  test('a read that never gets an answer fails with TimeoutError at its deadline', async () => {
    const steps = Array.from({ length: 50 }, () => ({ reply: reply.hang() }));
    const { clerk, clock } = setup(steps, { deadlineMs: 3_000, requestTimeoutMs: 1_000 });
    await assert.rejects(clerk.get('k'), TimeoutError);
    assert.ok(clock.now() >= 3_000, 'gave up only at the deadline');
    assert.ok(clock.now() <= 3_000 + 1_000, 'and not later than one attempt beyond it');
  });

  test('the per-call deadlineMs overrides the clerk default', async () => {
    const steps = Array.from({ length: 50 }, () => ({ reply: reply.hang() }));
    const { clerk, clock, transport } = setup(steps, { deadlineMs: 60_000, requestTimeoutMs: 1_000 });
    await assert.rejects(clerk.get('k', { deadlineMs: 1_500 }), TimeoutError);
    assert.equal(clock.now(), 1_500);
    assert.deepEqual(
      transport.callsOf().map((call) => call.timeoutMs),
      [1_000, 500],
    );
  });

  test('a read against a cluster that is entirely down fails with UnavailableError', async () => {
    const steps = Array.from({ length: 200 }, () => ({ reply: reply.unreachable() }));
    const { clerk } = setup(steps, { deadlineMs: 2_000 });
    await assert.rejects(clerk.get('k'), UnavailableError);
  });

  test('a write whose attempts all timed out after being sent ends in UnknownOutcomeError', async () => {
    const steps = Array.from({ length: 50 }, () => ({ reply: reply.hang() }));
    const { clerk } = setup(steps, { deadlineMs: 3_000 });
    await assert.rejects(clerk.put('k', 'v'), (error: unknown) => {
      assert.ok(error instanceof UnknownOutcomeError);
      assert.ok(error.cause instanceof TimeoutError);
      return true;
    });
  });

  test('a write that never reached any node fails with a definite error, not an unknown outcome', async () => {
    const steps = Array.from({ length: 200 }, () => ({ reply: reply.unreachable() }));
    const { clerk } = setup(steps, { deadlineMs: 2_000 });
    await assert.rejects(clerk.put('k', 'v'), UnavailableError);
  });

  test('an attempt cut by the deadline before reaching a node keeps the UNAVAILABLE before it', async () => {
    const unsentTimeout: ScriptedReply = { kind: 'transport-error', code: 'TIMEOUT', reached: false };
    const steps = [{ reply: reply.unreachable() }, ...Array.from({ length: 100 }, () => ({ reply: unsentTimeout }))];
    const { clerk } = setup(steps, { endpoints: [A], deadlineMs: 2_000 });
    await assert.rejects(clerk.put('k', 'v'), UnavailableError);
  });

  test('a timeout after the request was sent is reported as a timeout even after UNAVAILABLE', async () => {
    const sentTimeout: ScriptedReply = { kind: 'transport-error', code: 'TIMEOUT', reached: true };
    const steps = [{ reply: reply.unreachable() }, ...Array.from({ length: 100 }, () => ({ reply: sentTimeout }))];
    const { clerk } = setup(steps, { endpoints: [A], deadlineMs: 2_000 });
    await assert.rejects(clerk.get('k'), TimeoutError);
  });

  test('a deterministic rejection after a lost attempt settles the outcome as not applied', async () => {
    const { clerk } = setup([{ reply: reply.dropped() }, { reply: reply.serverError('VALUE_TOO_LARGE') }]);
    await assert.rejects(clerk.put('k', 'v'), ValueTooLargeError);
  });

  test('a retried write carries the same (clientId, seq); the next write uses seq + 1', async () => {
    const { clerk, transport } = setup([
      { reply: reply.dropped() },
      { reply: reply.hang() },
      { reply: reply.notLeader(C, 3) },
      { reply: reply.ok({ ...header(3), version: 1 }) },
      { reply: reply.ok({ ...header(3), version: 2, length: 2 }) },
    ]);
    await clerk.put('k', 'v');
    await clerk.append('k', 'w');
    const sessions = transport.callsOf().map((call) => (call.request as { session: unknown }).session);
    assert.deepEqual(sessions, [
      { clientId: 'client-1', seq: 1 },
      { clientId: 'client-1', seq: 1 },
      { clientId: 'client-1', seq: 1 },
      { clientId: 'client-1', seq: 1 },
      { clientId: 'client-1', seq: 2 },
    ]);
    const requests = transport.callsOf('put').map((call) => call.request);
    assert.ok(
      requests.every((request) => request === requests[0]),
      'retries resend the very same request',
    );
  });

  test("concurrent writes use separate session lanes so each retry is its lane's latest seq", async () => {
    const { clerk, transport } = setup([
      { reply: reply.ok({ ...header(1), version: 1 }) },
      { reply: reply.ok({ ...header(1), version: 1 }) },
    ]);
    await Promise.all([clerk.put('a', '1'), clerk.put('b', '2')]);
    const sessions = transport.callsOf().map((call) => (call.request as { session: unknown }).session);
    assert.deepEqual(sessions, [
      { clientId: 'client-1', seq: 1 },
      { clientId: 'client-1/1', seq: 1 },
    ]);
  });

  test('an abort before the first attempt fails with AbortedError and sends nothing', async () => {
    const { clerk, transport } = setup([{ reply: reply.ok({ ...header(1), version: 1 }) }]);
    await assert.rejects(clerk.put('k', 'v', { signal: AbortSignal.abort() }), AbortedError);
    assert.equal(transport.callsOf().length, 0);
  });

  test('an abort while a write is in flight ends the call with UnknownOutcomeError caused by the abort', async () => {
    const controller = new AbortController();
    const { clerk } = setup([{ reply: reply.hang(), onCall: () => controller.abort() }]);
    await assert.rejects(clerk.put('k', 'v', { signal: controller.signal }), (error: unknown) => {
      assert.ok(error instanceof UnknownOutcomeError);
      assert.ok(error.cause instanceof AbortedError);
      return true;
    });
  });

  test('an abort while a read is in flight ends the call with AbortedError', async () => {
    const controller = new AbortController();
    const { clerk } = setup([{ reply: reply.hang(), onCall: () => controller.abort() }]);
    await assert.rejects(clerk.get('k', { signal: controller.signal }), AbortedError);
  });

  test('calls after close fail with ClosedError', async () => {
    const { clerk } = setup([]);
    clerk.close();
    await assert.rejects(clerk.get('k'), ClosedError);
  });

  test('bad input is rejected with InvalidArgumentError before any call', async () => {
    const { clerk, transport } = setup([]);
    await assert.rejects(clerk.put('', 'v'), InvalidArgumentError);
    await assert.rejects(clerk.cas('k', { expectedVersion: -1 }, 'v'), InvalidArgumentError);
    await assert.rejects(clerk.get('k', { deadlineMs: 0 }), InvalidArgumentError);
    assert.equal(transport.calls.length, 0);
  });
});

describe('connect', () => {
  test('connect fails with UnavailableError when no endpoint answers', async () => {
    const clock = new FakeClock();
    const transport = new ScriptedTransport({ clock });
    await assert.rejects(
      Clerk.connect({ endpoints: [A, B], deadlineMs: 1_000 }, { transport, clock, random: seededRandom(1) }),
      UnavailableError,
    );
    assert.deepEqual(
      transport.calls.slice(0, 2).map((call) => call.address),
      [A, B],
    );
    assert.deepEqual(transport.closed, [A, B], 'the failed clerk closed its connections');
  });

  test('connect succeeds when a node answers, even with an error', async () => {
    const clock = new FakeClock();
    const transport = new ScriptedTransport({
      clock,
      steps: [
        { method: 'members', reply: reply.unreachable() },
        { method: 'members', reply: reply.noLeader() },
      ],
    });
    const clerk = await Clerk.connect({ endpoints: [A, B] }, { transport, clock, random: seededRandom(1) });
    assert.deepEqual(
      transport.calls.map((call) => call.address),
      [A, B],
    );
    clerk.close();
  });

  test('bad options are rejected with InvalidArgumentError', () => {
    assert.throws(() => Clerk.lazy({ endpoints: [] }), InvalidArgumentError);
    assert.throws(() => Clerk.lazy({ endpoints: ['no-port'] }), InvalidArgumentError);
    assert.throws(() => Clerk.lazy({ endpoints: [A], retry: { jitter: 2 } }), InvalidArgumentError);
    assert.throws(() => Clerk.lazy({ endpoints: [A], writesInflightMax: 0 }), InvalidArgumentError);
  });
});

describe('endpoint pool and session lanes', () => {
  test('the pool is refreshed from Members once membersRefreshMs has passed', async () => {
    const members = {
      leaderId: 0,
      members: [{ id: 9, peerAddress: '', clientAddress: '10.0.0.9:7001', httpAddress: '', learner: false }],
    };
    const { clerk, transport, clock } = setup(
      [
        { reply: reply.ok({ ...header(1), kv: undefined }) },
        { reply: reply.ok({ ...header(1), kv: undefined }) },
        { method: 'members', reply: reply.ok(members) },
      ],
      { membersRefreshMs: 30_000 },
    );
    await clerk.get('k');
    assert.equal(transport.callsOf('members').length, 0, 'not due yet');
    clock.advance(30_000);
    await clerk.get('k');
    const deadline = Date.now() + 5_000;
    while (!clerk.endpoints().includes('10.0.0.9:7001') && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(clerk.endpoints(), [A, B, C, '10.0.0.9:7001']);
  });

  test('with one lane, a second concurrent write waits and takes the next seq of the same lane', async () => {
    const { clerk, transport } = setup(
      [{ reply: reply.ok({ ...header(1), version: 1 }) }, { reply: reply.ok({ ...header(1), version: 2 }) }],
      { writesInflightMax: 1 },
    );
    await Promise.all([clerk.put('a', '1'), clerk.put('a', '2')]);
    const sessions = transport.callsOf().map((call) => (call.request as { session: unknown }).session);
    assert.deepEqual(sessions, [
      { clientId: 'client-1', seq: 1 },
      { clientId: 'client-1', seq: 2 },
    ]);
  });
});
