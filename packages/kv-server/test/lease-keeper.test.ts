// Goal: the leader's lease countdowns: only a leader expires; a new
// leadership restarts every countdown at full TTL; keep-alives renew; an
// expired lease is revoked once and a late keep-alive gets 0, not a renewal;
// a failed revoke is retried while the leadership lasts.
// Method: LeaseKeeper with a fake clock, table and proposer; check() by hand.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LeaseRevokeRequest } from '@cairn/proto';
import { LEASE_REVOKES_IN_FLIGHT_MAX } from '../src/limits.js';
import { LeaseKeeper } from '../src/loop/lease-keeper.js';
import { createLogger } from '../src/logger.js';

function harness() {
  const table = new Map<number, { id: number; ttl: number }>();
  let version = 0;
  const world = { now: 0, leader: true, term: 5 };
  const revokes: Array<{ request: LeaseRevokeRequest; settle: (ok: boolean) => void }> = [];
  const keeper = new LeaseKeeper({
    leases: {
      get: (id) => table.get(id),
      list: () => table.values(),
      get version() {
        return version;
      },
    },
    isLeader: () => world.leader,
    term: () => world.term,
    revoke: (request) =>
      new Promise((resolve, reject) => revokes.push({ request, settle: (ok) => (ok ? resolve(undefined) : reject(new Error('lost'))) })),
    checkMs: 50,
    logger: createLogger('error'),
    now: () => world.now,
  });
  const grant = (id: number, ttl: number) => {
    table.set(id, { id, ttl });
    version += 1;
  };
  const drop = (id: number) => {
    table.delete(id);
    version += 1;
  };
  return { world, revokes, keeper, grant, drop };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('LeaseKeeper', () => {
  test('counts from when it first sees the lease; keep-alives renew; expiry is proposed once', async () => {
    const { world, revokes, keeper, grant, drop } = harness();
    grant(1, 10);
    keeper.check();
    world.now = 9_000;
    assert.equal(keeper.keepAlive(1), 10);
    world.now = 18_999;
    keeper.check();
    assert.equal(revokes.length, 0, 'renewed at 9 s: runs out at 19 s');
    assert.equal(keeper.remainingMs(1), 1);
    world.now = 19_000;
    keeper.check();
    keeper.check();
    assert.deepEqual(
      revokes.map((r) => r.request),
      [{ id: 1, expired: true }],
    );
    assert.equal(keeper.keepAlive(1), 0, 'expired here: a late keep-alive does not renew it');
    assert.equal(keeper.remainingMs(1), 0);
    drop(1);
    revokes[0]!.settle(true);
    await settled();
    assert.equal(keeper.keepAlive(1), 0);
  });

  test('a follower never expires; a new leadership restarts every countdown at full TTL', () => {
    const { world, revokes, keeper, grant } = harness();
    grant(1, 10);
    world.leader = false;
    world.now = 100_000;
    keeper.check();
    assert.equal(revokes.length, 0);
    assert.equal(keeper.keepAlive(1), 0, 'a follower renews nothing');
    world.leader = true;
    world.term = 6;
    keeper.check();
    world.now = 109_999;
    keeper.check();
    assert.equal(revokes.length, 0, 'full TTL from the new leadership');
    // Leadership lost and regained in a later term between two checks: again a full TTL.
    world.term = 7;
    keeper.check();
    world.now = 119_000;
    keeper.check();
    assert.equal(revokes.length, 0);
    world.now = 119_999;
    keeper.check();
    assert.equal(revokes.length, 1);
  });

  test('a failed revoke is retried while leading, and forgotten on a new leadership', async () => {
    const { world, revokes, keeper, grant } = harness();
    grant(1, 2);
    keeper.check();
    world.now = 2_000;
    keeper.check();
    revokes[0]!.settle(false);
    await settled();
    assert.equal(keeper.keepAlive(1), 0, 'still expired here after the failed proposal');
    keeper.check();
    assert.equal(revokes.length, 2, 'proposed again');
    world.term = 8;
    assert.equal(keeper.keepAlive(1), 2, 'a new leader starts the lease over (the old revoke may still commit)');
  });
});

describe('LeaseKeeper bounds', () => {
  test('at most LEASE_REVOKES_IN_FLIGHT_MAX expiry revokes are out at once; the rest follow as they settle', async () => {
    const { world, revokes, keeper, grant } = harness();
    for (let id = 1; id <= LEASE_REVOKES_IN_FLIGHT_MAX + 1; id++) grant(id, 1);
    keeper.check();
    world.now = 1_000;
    keeper.check();
    assert.equal(revokes.length, LEASE_REVOKES_IN_FLIGHT_MAX);
    keeper.check();
    assert.equal(revokes.length, LEASE_REVOKES_IN_FLIGHT_MAX, 'none more while all are out');
    revokes[0]!.settle(true);
    await settled();
    keeper.check();
    assert.equal(revokes.length, LEASE_REVOKES_IN_FLIGHT_MAX + 1);
    assert.equal(revokes.at(-1)!.request.id, LEASE_REVOKES_IN_FLIGHT_MAX + 1);
  });
});

describe('LeaseKeeper idle checks', () => {
  // Counts the leases a check walks in the keeper's own countdown maps (private: reached by a cast).
  function countVisits(keeper: LeaseKeeper) {
    const seen = { visits: 0 };
    const inside = keeper as unknown as { deadlines: Map<number, unknown>; expiring: Map<number, unknown> };
    for (const map of [inside.deadlines, inside.expiring]) {
      const entries = Map.prototype.entries.bind(map);
      const values = Map.prototype.values.bind(map);
      // defineProperty: a generator is not a MapIterator to the type checker, and only iteration matters here.
      Object.defineProperty(map, Symbol.iterator, {
        value: function* () {
          for (const entry of entries()) {
            seen.visits += 1;
            yield entry;
          }
        },
      });
      Object.defineProperty(map, 'values', {
        value: function* () {
          for (const value of values()) {
            seen.visits += 1;
            yield value;
          }
        },
      });
    }
    return seen;
  }

  test('checks before the earliest deadline walk no lease, yet no expiry is delayed', async () => {
    const { world, revokes, keeper, grant } = harness();
    for (let id = 1; id <= 1_000; id++) grant(id, 10);
    keeper.check();
    const seen = countVisits(keeper);
    for (world.now = 0; world.now < 10_000; world.now += 100) keeper.check();
    assert.equal(seen.visits, 0, 'nothing due for 10 s: no check walks the leases');
    assert.equal(revokes.length, 0);

    // A shorter lease granted later lowers the next due time.
    world.now = 5_000;
    grant(2_000, 1);
    keeper.check();
    world.now = 5_999;
    keeper.check();
    assert.equal(revokes.length, 0);
    world.now = 6_000;
    keeper.check();
    assert.deepEqual(
      revokes.map((r) => r.request),
      [{ id: 2_000, expired: true }],
    );

    // A keep-alive's deadline counts too, and a failed revoke is retried at the next check.
    seen.visits = 0;
    world.now = 6_100;
    keeper.check();
    assert.equal(seen.visits, 0, 'the revoke is out and nothing else is due');
    revokes[0]!.settle(false);
    await settled();
    keeper.check();
    assert.equal(revokes.length, 2, 'retried at once, not at the next deadline');
    for (let id = 1; id <= 1_000; id++) assert.equal(keeper.keepAlive(id), 10);
    world.now = 16_099;
    keeper.check();
    assert.equal(revokes.length, 2, 'renewed at 6.1 s: runs out at 16.1 s');
    world.now = 16_100;
    keeper.check();
    assert.equal(revokes.length, 2 + LEASE_REVOKES_IN_FLIGHT_MAX - 1, 'all due; the retry still holds one slot');
  });
});
