// Goal: the leader-side checks of the lease API before anything is
// proposed: the shortest TTL follows the election timeout (1.5x, whole
// seconds, always above one timeout), TTL and id bounds, LEASES_MAX, and
// keep-alive on a follower (NOT_LEADER) or for a lease this leader has not
// applied (read barrier first, then 0).
// Method: LeaseApi over fakes of the loop, the KV API, the table and the keeper.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from '@cairn/proto';
import { LeaseApi, minLeaseTtlSeconds } from '../src/api/lease-api.js';
import type { KvApi } from '../src/api/kv-api.js';
import { KvError, NotLeaderError } from '../src/errors.js';
import { LEASE_TTL_SECONDS_MAX, LEASES_MAX } from '../src/limits.js';
import type { LeaseKeeper } from '../src/loop/lease-keeper.js';
import type { NodeLoop } from '../src/loop/node-loop.js';
import type { LeaseTable } from '../src/state-machine/leases.js';
import type { RaftTransport } from '../src/transport/raft-transport.js';

function fakes(options: { leader?: boolean; size?: number } = {}) {
  const proposed: Command[] = [];
  let barriers = 0;
  const known = new Set<number>();
  const loop = {
    options: { tickMs: 100, electionTicks: 10 },
    isLeader: options.leader ?? true,
    notLeader: () => new NotLeaderError(2, '127.0.0.1:1'),
    readBarrier: () => {
      barriers += 1;
      return Promise.resolve();
    },
  } as unknown as NodeLoop<RaftTransport>;
  const kv = {
    header: () => ({ memberId: 1, term: 1, appliedIndex: 1, leaderId: 1, revision: 0, clusterId: '' }),
    propose: (command: Command) => {
      proposed.push(command);
      return Promise.resolve({ index: 7, result: { leaseGrant: { id: 7, ttl: command.leaseGrant?.ttl ?? 0 } } });
    },
  } as unknown as KvApi;
  const table = { size: options.size ?? 0, has: (id: number) => known.has(id) } as unknown as LeaseTable;
  const keeper = { keepAlive: (id: number) => (known.has(id) ? 5 : 0) } as unknown as LeaseKeeper;
  return { api: new LeaseApi(loop, kv, table, keeper), proposed, barriers: () => barriers, known };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  return promise.then(
    () => undefined,
    (error: unknown) => (error instanceof KvError ? error.code : String(error)),
  );
}

describe('LeaseApi', () => {
  test('the shortest TTL is 1.5 election timeouts in whole seconds, always above one timeout', () => {
    assert.equal(minLeaseTtlSeconds({ tickMs: 100, electionTicks: 10 }), 2);
    assert.equal(minLeaseTtlSeconds({ tickMs: 50, electionTicks: 10 }), 1);
    assert.equal(minLeaseTtlSeconds({ tickMs: 100, electionTicks: 20 }), 3);
    for (const electionMs of [100, 500, 999, 1000, 1001, 2000, 3333])
      assert.ok(minLeaseTtlSeconds({ tickMs: electionMs, electionTicks: 1 }) * 1000 > electionMs);
  });

  test('grant: TTL, id and lease-count bounds are refused before proposing', async () => {
    const { api, proposed } = fakes();
    assert.equal(await codeOf(api.grant({ ttl: 1, id: 0 })), 'INVALID_ARGUMENT');
    assert.equal(await codeOf(api.grant({ ttl: LEASE_TTL_SECONDS_MAX + 1, id: 0 })), 'INVALID_ARGUMENT');
    assert.equal(await codeOf(api.grant({ ttl: 2.5, id: 0 })), 'INVALID_ARGUMENT');
    assert.equal(await codeOf(api.grant({ ttl: 10, id: -1 })), 'INVALID_ARGUMENT');
    assert.equal(proposed.length, 0);
    assert.equal((await api.grant({ ttl: 2, id: 0 })).ttl, 2);
    assert.equal((await api.grant({ ttl: LEASE_TTL_SECONDS_MAX, id: 0 })).ttl, LEASE_TTL_SECONDS_MAX);
    assert.equal(proposed.length, 2);
    const full = fakes({ size: LEASES_MAX });
    assert.equal(await codeOf(full.api.grant({ ttl: 10, id: 0 })), 'TOO_MANY_REQUESTS');
    const almost = fakes({ size: LEASES_MAX - 1 });
    assert.equal((await almost.api.grant({ ttl: 10, id: 0 })).id, 7);
  });

  test('revoke and keep-alive need a lease id; keep-alive is the leader’s', async () => {
    const { api, barriers, known } = fakes();
    assert.equal(await codeOf(api.revoke({ id: 0, expired: false })), 'INVALID_ARGUMENT');
    assert.equal(await codeOf(api.keepAlive(0)), 'INVALID_ARGUMENT');
    known.add(3);
    assert.equal((await api.keepAlive(3)).ttl, 5);
    assert.equal(barriers(), 0, 'a known lease is renewed at once');
    assert.equal((await api.keepAlive(4)).ttl, 0);
    assert.equal(barriers(), 1, 'an unknown one after a read barrier');
    const follower = fakes({ leader: false });
    assert.equal(await codeOf(follower.api.keepAlive(3)), 'NOT_LEADER');
  });
});
