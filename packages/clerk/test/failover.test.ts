// Goal: a failover costs a call latency, not an error (issue 17 §4). While the followers keep
// naming a dead leader, a call keeps going until its deadline: it does not follow that hint over
// and over, asks every endpoint once per round, backs off with jitter between rounds, succeeds
// once a new leader answers (a write resent with its one (clientId, seq)), and fails only at its
// deadline: TimeoutError, or UnknownOutcomeError when an attempt may have been applied.
// Method: a ScriptedTransport whose `respond` models a 3-node cluster on a FakeClock (a leader
// that dies, followers that name it until an election ends at a chosen time); every attempt is
// logged with the round it belongs to (the number of backoff sleeps before it).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Clerk, NotLeaderError, type RpcMethod, TimeoutError, UnknownOutcomeError } from '../src/index.js';
import { FakeClock, reply, ScriptedTransport, type ScriptedReply, type ScriptStep, seededRandom } from '../src/testing.js';

const A = '10.0.0.1:7001';
const B = '10.0.0.2:7001';
const C = '10.0.0.3:7001';
const IDS: Readonly<Record<string, number>> = { [A]: 1, [B]: 2, [C]: 3 };
/** The old fixed cap on NOT_LEADER redirects in one call. */
const OLD_REDIRECT_CAP = 16;
const RETRY = { initialMs: 50, maxMs: 2_000, factor: 2, jitter: 0.2 };

interface Attempt {
  readonly address: string;
  readonly method: RpcMethod;
  readonly round: number;
  readonly at: number;
  readonly session: unknown;
  readonly answer: ScriptedReply['kind'] | 'not-leader';
}

/**
 * A 3-node cluster led by A. `killAt` on, A refuses connections; the followers keep naming
 * `staleHint(address)` until `electedAt`, then B leads (C names B). Calls not matched by a step go here.
 */
function modelCluster(clock: FakeClock, plan: { killAt: number; electedAt: number; staleHint?: (address: string) => string }) {
  const attempts: Attempt[] = [];
  const respond = (address: string, method: RpcMethod, request: unknown): ScriptedReply => {
    const now = clock.now();
    let answer: ScriptedReply;
    if (now < plan.killAt) answer = address === A ? leaderAnswer(A) : reply.notLeader(A, 1);
    else if (now < plan.electedAt)
      answer = address === A ? reply.unreachable() : reply.notLeader(plan.staleHint?.(address) ?? A, IDS[plan.staleHint?.(address) ?? A]);
    else if (address === A) answer = reply.unreachable();
    else answer = address === B ? leaderAnswer(B) : reply.notLeader(B, 2);
    const kind = answer.kind === 'server-error' && answer.code === 'NOT_LEADER' ? 'not-leader' : answer.kind;
    attempts.push({
      address,
      method,
      round: clock.sleeps.length,
      at: now,
      session: (request as { session?: unknown }).session,
      answer: kind,
    });
    return answer;
  };
  return { attempts, respond };
}

function leaderAnswer(address: string): ScriptedReply {
  const id = IDS[address]!;
  return reply.ok({ header: { memberId: id, term: 1, appliedIndex: 1, leaderId: id }, version: 2, length: 2 });
}

function setup(plan: Parameters<typeof modelCluster>[1], deadlineMs = 20_000) {
  const clock = new FakeClock();
  const model = modelCluster(clock, plan);
  const transport = new ScriptedTransport({ clock, respond: model.respond });
  const clerk = Clerk.lazy(
    { endpoints: [A, B, C], membersRefreshMs: 0, clientId: 'client-1', deadlineMs, requestTimeoutMs: 2_000, retry: RETRY },
    { transport, clock, random: seededRandom(11) },
  );
  return { clock, transport, clerk, attempts: model.attempts };
}

/** No round asks a node twice: a hint naming a node that failed in the round is not followed again. */
function assertEachNodeOncePerRound(attempts: readonly Attempt[]): void {
  const seen = new Set<string>();
  for (const attempt of attempts) {
    const key = `${attempt.round}@${attempt.address}`;
    assert.ok(!seen.has(key), `round ${attempt.round} asked ${attempt.address} twice`);
    seen.add(key);
  }
}

/** Every backoff but a last one cut by the deadline lies within its jittered exponential bounds. */
function assertJitteredBackoff(sleeps: readonly number[]): void {
  assert.ok(sleeps.length >= 3, `backed off between rounds (${sleeps.length} sleeps)`);
  sleeps.slice(0, -1).forEach((sleep, index) => {
    const base = Math.min(RETRY.maxMs, RETRY.initialMs * RETRY.factor ** index);
    assert.ok(sleep >= base * (1 - RETRY.jitter) && sleep < base * (1 + RETRY.jitter), `sleep ${index}: ${sleep} ms around ${base}`);
  });
  assert.equal(new Set(sleeps).size, sleeps.length, 'jittered: no two sleeps alike');
}

/** The next write's first attempt is in flight at the leader when it dies. */
const diesInFlight: ScriptStep = { reply: reply.dropped() };

describe('a failover while the followers still name the dead leader', () => {
  test('a write whose attempt died with the leader is resent with its session until the new leader answers, past the old redirect cap', async () => {
    const { clerk, clock, transport, attempts } = setup({ killAt: 1, electedAt: 10_000 });
    await clerk.put('k', 'v0');
    assert.equal(clerk.knownLeader()?.address, A);
    clock.advance(1);
    // Its outcome is unknown until the new leader answers the resent request.
    transport.push(diesInFlight);
    const result = await clerk.append('k', 'x');

    assert.equal(result.version, 2);
    assert.ok(clock.now() >= 10_000 && clock.now() < 20_000, `succeeded at ${clock.now()} ms, after the election and before the deadline`);
    assert.deepEqual(clerk.knownLeader(), { address: B, leaderId: 2 });
    const appends = attempts.filter((attempt) => attempt.method === 'append');
    const staleHints = appends.filter((attempt) => attempt.answer === 'not-leader' && attempt.at < 10_000).length;
    assert.ok(staleHints > OLD_REDIRECT_CAP, `the followers named the dead leader ${staleHints} times`);
    const sessions = transport.callsOf('append').map((call) => JSON.stringify((call.request as { session: unknown }).session));
    assert.deepEqual(
      new Set(sessions),
      new Set([JSON.stringify({ clientId: 'client-1', seq: 2 })]),
      'every attempt carries the same (clientId, seq)',
    );
    assert.equal(transport.callsOf('append')[0]?.address, A);
    assert.deepEqual(appends.at(-1)?.address, B);
    assertEachNodeOncePerRound(appends);
    assertJitteredBackoff(clock.sleeps);
  });

  test('a write in flight at the dying leader fails with UnknownOutcomeError at its deadline, not earlier', async () => {
    const { clerk, clock, transport, attempts } = setup({ killAt: 1, electedAt: Number.POSITIVE_INFINITY }, 20_000);
    await clerk.put('k', 'v0');
    clock.advance(1);
    transport.push(diesInFlight);
    const startedAt = clock.now();
    await assert.rejects(clerk.put('k', 'v1'), (error: unknown) => {
      assert.ok(error instanceof UnknownOutcomeError, String(error));
      assert.ok(error.cause instanceof TimeoutError, `caused by the deadline: ${String(error.cause)}`);
      return true;
    });
    assert.ok(clock.now() - startedAt >= 20_000, `gave up after ${clock.now() - startedAt} ms`);
    assert.ok(clock.now() - startedAt <= 20_000 + 2_000, 'and not later than one attempt beyond the deadline');
    assertEachNodeOncePerRound(attempts.filter((attempt) => attempt.method === 'put' && attempt.at >= startedAt));
  });

  test('a write that reached no leader fails with TimeoutError at its deadline, not NotLeaderError early', async () => {
    const { clerk, clock, attempts } = setup({ killAt: 0, electedAt: Number.POSITIVE_INFINITY }, 15_000);
    await assert.rejects(clerk.put('k', 'v'), (error: unknown) => {
      assert.ok(error instanceof TimeoutError, String(error));
      assert.ok(error.cause instanceof NotLeaderError, String(error.cause));
      return true;
    });
    assert.ok(clock.now() >= 15_000, `gave up at ${clock.now()} ms`);
    assert.ok(attempts.filter((attempt) => attempt.answer === 'not-leader').length > OLD_REDIRECT_CAP);
    assertEachNodeOncePerRound(attempts);
    assertJitteredBackoff(clock.sleeps);
  });

  test('followers naming each other (stale hints) make the call back off between rounds until the deadline', async () => {
    // B names C and C names B: following each hint at once would loop without pause.
    const { clerk, clock, attempts } = setup(
      { killAt: 0, electedAt: Number.POSITIVE_INFINITY, staleHint: (address) => (address === B ? C : B) },
      10_000,
    );
    await assert.rejects(clerk.get('k'), TimeoutError);
    assert.ok(clock.now() >= 10_000, `gave up at ${clock.now()} ms`);
    assertEachNodeOncePerRound(attempts);
    assert.equal(Math.max(...attempts.map((attempt) => attempt.round)), clock.sleeps.length - 1, 'every round ended in a backoff');
  });
});
