// Goal: the state machine's leases: grant (ids, TTL bounds, taken ids),
// attach/detach through put and delete, revoke deleting every attached key
// at one revision (also keys attached earlier in the same apply batch), and
// lease state surviving a reopen and a snapshot restore.
// Method: real LevelDB in a temp dir; Command entries built by hand and applied.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, type CommandResult, type Entry, EntryType, EventType } from '@cairn/proto';
import { KvStateMachine, type AppliedResult } from '../src/state-machine/kv-state-machine.js';
import type { RevisionEvents } from '../src/state-machine/pending-batch.js';
import { NodeDatabase } from '../src/storage/database.js';
import { KvError } from '../src/errors.js';

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function openMachine(dir?: string): Promise<{ dir: string; database: NodeDatabase; machine: KvStateMachine }> {
  const dataDir = dir ?? (await mkdtemp(path.join(tmpdir(), 'cairn-lease-')));
  if (dir === undefined) tempDirs.push(dataDir);
  const database = await NodeDatabase.open(dataDir, { clusterId: 'lease-test', nodeId: 1 });
  return { dir: dataDir, database, machine: await KvStateMachine.open(database) };
}

class Log {
  index = 1;
  entry(command: Partial<Command>): Entry {
    const full: Command = { proposedAtMs: 1_000, valueBytesMax: 0, ...command };
    return { index: this.index++, term: 1, type: EntryType.NORMAL, data: Buffer.from(Command.encode(full).finish()) };
  }
  grant(ttl: number, id = 0): Entry {
    return this.entry({ leaseGrant: { ttl, id } });
  }
  revoke(id: number, expired = false): Entry {
    return this.entry({ leaseRevoke: { id, expired } });
  }
  put(key: string, value: string, lease = 0): Entry {
    return this.entry({ put: { key: Buffer.from(key), value: Buffer.from(value), prevKv: false, lease } });
  }
  delete(key: string): Entry {
    return this.entry({ delete: { key: Buffer.from(key), prevKv: false, prefix: false } });
  }
}

function ok(applied: AppliedResult | undefined): CommandResult {
  assert.ok(applied !== undefined);
  assert.ok(!(applied.result instanceof KvError), `entry ${applied.index} failed: ${String(applied.result)}`);
  return applied.result as CommandResult;
}

function failed(applied: AppliedResult | undefined, code: string): void {
  assert.ok(applied?.result instanceof KvError, `expected ${code}, got a result`);
  assert.equal(applied.result.code, code);
}

describe('leases in the state machine', () => {
  test('grant picks the entry index or the asked id; TTL out of range and a taken id are refused', async () => {
    const { machine, database } = await openMachine();
    const log = new Log();
    const results = await machine.applyEntries([
      log.grant(10),
      log.grant(10, 77),
      log.grant(10, 77),
      log.grant(0),
      log.grant(9_000_000_001),
      log.grant(-5),
    ]);
    assert.equal(ok(results[0]).leaseGrant!.id, 1);
    assert.equal(ok(results[1]).leaseGrant!.id, 77);
    failed(results[2], 'FAILED_PRECONDITION');
    failed(results[3], 'INVALID_ARGUMENT');
    failed(results[4], 'INVALID_ARGUMENT');
    failed(results[5], 'INVALID_ARGUMENT');
    assert.deepEqual(
      [...machine.leases.list()].map((l) => [l.id, l.ttl]),
      [
        [1, 10],
        [77, 10],
      ],
    );
    assert.equal(machine.revision(), 0, 'a grant changes no key');
    await database.close();
  });

  test('a put with an unknown lease is refused and changes nothing; revoke of an unknown lease too', async () => {
    const { machine, database } = await openMachine();
    const log = new Log();
    const results = await machine.applyEntries([log.put('k', 'v', 42), log.revoke(42)]);
    failed(results[0], 'LEASE_NOT_FOUND');
    failed(results[1], 'LEASE_NOT_FOUND');
    assert.equal(await machine.get(Buffer.from('k')), undefined);
    assert.equal(machine.revision(), 0);
    await database.close();
  });

  test('revoke deletes every attached key at one revision, detached keys stay', async () => {
    const { machine, database } = await openMachine();
    const log = new Log();
    const seen: RevisionEvents[] = [];
    machine.onApplied((revisions) => seen.push(...revisions));
    const lease = ok((await machine.applyEntries([log.grant(30)]))[0]).leaseGrant!.id;
    await machine.applyEntries([log.put('a', '1', lease), log.put('b', '1', lease), log.put('c', '1', lease), log.put('d', '1', lease)]);
    // c is detached by a put without a lease, d by its deletion; e attached in the revoke's own batch.
    await machine.applyEntries([log.put('c', '2'), log.delete('d')]);
    assert.equal(machine.leases.get(lease)?.keyCount, 2);
    const results = await machine.applyEntries([log.put('e', '1', lease), log.revoke(lease)]);
    const revoked = ok(results[1]).leaseRevoke!;
    assert.equal(revoked.deleted, 3);
    const last = seen.at(-1)!;
    assert.equal(revoked.header!.revision, last.revision);
    assert.deepEqual(
      last.events.map((e) => [e.type, e.kv!.key.toString()]),
      [
        [EventType.DELETE, 'a'],
        [EventType.DELETE, 'b'],
        [EventType.DELETE, 'e'],
      ],
    );
    assert.equal(machine.revision(), last.revision);
    for (const key of ['a', 'b', 'e']) assert.equal(await machine.get(Buffer.from(key)), undefined);
    assert.equal((await machine.get(Buffer.from('c')))?.value.toString(), '2');
    assert.equal(machine.leases.has(lease), false);
    failed((await machine.applyEntries([log.revoke(lease)]))[0], 'LEASE_NOT_FOUND');
    await database.close();
  });

  test('leases and their keys survive a reopen and a snapshot restore', async () => {
    const first = await openMachine();
    const log = new Log();
    await first.machine.applyEntries([
      log.grant(30, 5),
      log.grant(60, 6),
      log.put('x', '1', 5),
      log.put('y', '1', 5),
      log.put('z', '1', 6),
    ]);
    await first.database.close();
    const reopened = await openMachine(first.dir);
    assert.deepEqual(
      [...reopened.machine.leases.list()].map((l) => [l.id, l.ttl, l.keyCount]),
      [
        [5, 30, 2],
        [6, 60, 1],
      ],
    );
    assert.deepEqual((await reopened.machine.leases.keys(5)).map(String), ['x', 'y']);
    const chunks: Buffer[] = [];
    for await (const chunk of reopened.machine.snapshot()) chunks.push(chunk);
    const other = await openMachine();
    await other.machine.restore(Buffer.concat(chunks));
    assert.deepEqual(
      [...other.machine.leases.list()].map((l) => [l.id, l.ttl, l.keyCount]),
      [
        [5, 30, 2],
        [6, 60, 1],
      ],
    );
    // The restored machine revokes as the original would.
    const revoke = await other.machine.applyEntries([{ ...log.revoke(5), index: other.machine.appliedIndex() + 1 }]);
    assert.equal(ok(revoke[0]).leaseRevoke!.deleted, 2);
    assert.equal((await other.machine.get(Buffer.from('z')))?.lease, 6);
    await reopened.database.close();
    await other.database.close();
  });
});
