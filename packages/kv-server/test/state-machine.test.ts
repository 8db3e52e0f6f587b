// Goal: KvStateMachine applies commands deterministically with exactly-once
// sessions and replicated-clock expiry, and keeps its state across reopen.
// Method: real LevelDB in a temp dir; build Command entries by hand, apply
// them, inspect results and reads; reopen the database to check durability.
import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, CommandResult, type Entry, EntryType } from '@cairn/proto';
import { KvStateMachine, type AppliedResult, type KvStateMachineOptions } from '../src/state-machine/kv-state-machine.js';
import { NodeDatabase } from '../src/storage/database.js';
import { RaftStorage } from '../src/storage/raft-storage.js';
import { KvError, SessionSeqStaleError, ValueTooLargeError } from '../src/errors.js';

const identity = { clusterId: 'sm-test', nodeId: 1 };
const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function openMachine(dataDir?: string, options?: KvStateMachineOptions) {
  const dir = dataDir ?? (await mkdtemp(path.join(tmpdir(), 'cairn-sm-')));
  if (dataDir === undefined) tempDirs.push(dir);
  const database = await NodeDatabase.open(dir, identity);
  return { dir, database, machine: await KvStateMachine.open(database, options) };
}

let nextIndex = 1;
function entryOf(command: Partial<Command>): Entry {
  const full: Command = { proposedAtMs: 1_000, valueBytesMax: 0, ...command };
  return { index: nextIndex++, term: 1, type: EntryType.NORMAL, data: Buffer.from(Command.encode(full).finish()) };
}
const b = (text: string) => Buffer.from(text);
const put = (key: string, value: string, extra: Partial<Command> = {}) =>
  entryOf({ put: { key: b(key), value: b(value), prevKv: true }, ...extra });

/** Results compared by their encoding (a stored reply decodes with explicit undefined fields). */
function sameResult(actual: AppliedResult, expected: AppliedResult): void {
  assert.deepEqual(Buffer.from(CommandResult.encode(ok(actual)).finish()), Buffer.from(CommandResult.encode(ok(expected)).finish()));
}

function ok(applied: AppliedResult): CommandResult {
  assert.ok(!(applied.result instanceof KvError), `entry ${applied.index} failed: ${String(applied.result)}`);
  return applied.result as CommandResult;
}

describe('KvStateMachine', () => {
  let machine: KvStateMachine;
  let database: NodeDatabase;
  let dir: string;
  beforeEach(async () => {
    nextIndex = 1;
    ({ machine, database, dir } = await openMachine());
  });

  test('put, get, versions and indexes', async () => {
    const results = await machine.applyEntries([put('a', '1'), put('a', '2'), put('b', 'x')]);
    assert.equal(ok(results[0]!).put!.version, 1);
    assert.equal(ok(results[0]!).put!.prevKv, undefined);
    assert.equal(ok(results[1]!).put!.version, 2);
    assert.equal(ok(results[1]!).put!.prevKv!.value.toString(), '1');
    const a = await machine.get(b('a'));
    assert.deepEqual(a, {
      key: b('a'),
      value: b('2'),
      version: 2,
      createIndex: 1,
      modIndex: 2,
      createRevision: 1,
      modRevision: 2,
      lease: 0,
    });
    assert.equal(machine.revision(), 3, 'one revision per applied put');
    assert.equal(await machine.get(b('missing')), undefined);
    assert.equal(machine.appliedIndex(), 3);
    assert.equal(machine.keyCount(), 2);
    await database.close();
  });

  test('after a failed batch write, gets show the state on disk and further applies are refused', async () => {
    await machine.applyEntries([put('a', '1', { session: { clientId: 'c', seq: 1 } })]);
    const write = database.write.bind(database);
    database.write = () => Promise.reject(new Error('disk full'));
    await assert.rejects(machine.applyEntries([put('a', '2', { session: { clientId: 'c', seq: 2 } })]), /disk full/);
    database.write = write;
    assert.equal((await machine.get(b('a')))?.value.toString(), '1', 'the cache must not serve the unwritten value');
    assert.equal(machine.appliedIndex(), 1);
    await assert.rejects(
      machine.applyEntries([put('a', '3', { session: { clientId: 'c', seq: 3 } })]),
      (error: unknown) => error instanceof KvError && error.code === 'INTERNAL' && /failed write: disk full/.test(error.message),
    );
  });

  test('append, delete and re-create', async () => {
    const results = await machine.applyEntries([
      entryOf({ append: { key: b('log'), value: b('ab') } }),
      entryOf({ append: { key: b('log'), value: b('cd') } }),
      entryOf({ delete: { key: b('log') } }),
      entryOf({ delete: { key: b('log') } }),
      put('log', 'new'),
    ]);
    assert.equal(ok(results[1]!).append!.version, 2);
    assert.equal(ok(results[1]!).append!.length, 4);
    assert.equal(ok(results[1]!).append!.header!.revision, 2);
    // The second delete changes nothing: it names the current revision and does not move it.
    assert.equal(ok(results[2]!).delete!.header!.revision, 3);
    assert.equal(ok(results[3]!).delete!.header!.revision, 3);
    assert.equal(ok(results[2]!).delete!.deleted, true);
    assert.equal(ok(results[3]!).delete!.deleted, false);
    const recreated = await machine.get(b('log'));
    assert.equal(recreated!.version, 1);
    assert.equal(recreated!.createIndex, 5);
    assert.equal(recreated!.createRevision, 4);
    assert.equal(machine.revision(), 4);
    assert.equal(machine.keyCount(), 1);
    await database.close();
  });

  test('an append past valueBytesMax is refused and changes nothing', async () => {
    await database.close();
    ({ machine, database } = await openMachine(undefined, { valueBytesMax: 4 }));
    const results = await machine.applyEntries([put('k', 'abc'), entryOf({ append: { key: b('k'), value: b('de') } })]);
    assert.ok(results[1]!.result instanceof ValueTooLargeError);
    assert.equal((await machine.get(b('k')))!.value.toString(), 'abc');
    await database.close();
  });

  test("the proposing leader's value limit in the command wins over the local setting", async () => {
    await database.close();
    // Local limit 4, but the leader allowed 8: every node must accept the append.
    ({ machine, database } = await openMachine(undefined, { valueBytesMax: 4 }));
    const results = await machine.applyEntries([
      put('k', 'abc', { valueBytesMax: 8 }),
      entryOf({ append: { key: b('k'), value: b('de') }, valueBytesMax: 8 }),
    ]);
    assert.equal(results[1]!.result instanceof Error, false);
    assert.equal((await machine.get(b('k')))!.value.toString(), 'abcde');
    const refused = await machine.applyEntries([entryOf({ append: { key: b('k'), value: b('fghi') }, valueBytesMax: 8 })]);
    assert.ok(refused[0]!.result instanceof ValueTooLargeError);
    await database.close();
  });

  test('cas by value and by version', async () => {
    const results = await machine.applyEntries([
      entryOf({ cas: { key: b('c'), expectedVersion: 0, value: b('v1') } }), // create if absent
      entryOf({ cas: { key: b('c'), expectedVersion: 0, value: b('v2') } }), // fails: exists
      entryOf({ cas: { key: b('c'), expectedValue: b('v1'), value: b('v3') } }),
      entryOf({ cas: { key: b('c'), expectedValue: b('v1'), value: b('v4') } }), // fails: now v3
      entryOf({ cas: { key: b('c'), expectedVersion: 2, value: b('v5') } }),
      entryOf({ cas: { key: b('c'), value: b('x') } }), // neither expectation: invalid
    ]);
    assert.equal(ok(results[0]!).cas!.succeeded, true);
    assert.equal(ok(results[1]!).cas!.succeeded, false);
    assert.equal(ok(results[1]!).cas!.kv!.value.toString(), 'v1');
    assert.equal(ok(results[2]!).cas!.succeeded, true);
    assert.equal(ok(results[3]!).cas!.succeeded, false);
    assert.equal(ok(results[4]!).cas!.kv!.version, 3);
    assert.equal((results[5]!.result as KvError).code, 'INVALID_ARGUMENT');
    assert.equal((await machine.get(b('c')))!.value.toString(), 'v5');
    await database.close();
  });

  test('range by prefix with limit, paging and keysOnly', async () => {
    await machine.applyEntries([put('a/1', 'x'), put('a/2', 'y'), put('a/3', 'z'), put('b/1', 'w'), put('a', 'root')]);
    const page1 = await machine.range(b('a/'), Buffer.alloc(0), 2, false);
    assert.deepEqual(
      page1.kvs.map((kv) => kv.key.toString()),
      ['a/1', 'a/2'],
    );
    assert.equal(page1.more, true);
    const page2 = await machine.range(b('a/'), page1.kvs[1]!.key, 2, true);
    assert.deepEqual(
      page2.kvs.map((kv) => kv.key.toString()),
      ['a/3'],
    );
    assert.equal(page2.more, false);
    assert.equal(page2.kvs[0]!.value.length, 0);
    assert.equal(page2.kvs[0]!.version, 1);
    const all = await machine.range(Buffer.alloc(0), Buffer.alloc(0), 0, false);
    assert.deepEqual(
      all.kvs.map((kv) => kv.key.toString()),
      ['a', 'a/1', 'a/2', 'a/3', 'b/1'],
    );
    await database.close();
  });

  test('exactly-once: a retried command is answered from the session, not applied again', async () => {
    const session = { clientId: 'clerk-1', seq: 1 };
    const first = await machine.applyEntries([entryOf({ append: { key: b('k'), value: b('x') }, session })]);
    // The retry arrives in a later batch (and then within one batch as well).
    const retry = await machine.applyEntries([
      entryOf({ append: { key: b('k'), value: b('x') }, session }),
      entryOf({ append: { key: b('k'), value: b('x') }, session }),
    ]);
    sameResult(retry[0]!, first[0]!);
    sameResult(retry[1]!, first[0]!);
    assert.equal((await machine.get(b('k')))!.value.toString(), 'x');
    // The API answers such a retry without proposing: the stored reply is there.
    const stored = (await machine.appliedResult('clerk-1', 1))?.append;
    assert.equal(stored?.version, ok(first[0]!).append!.version);
    assert.equal(stored?.length, ok(first[0]!).append!.length);
    assert.equal(await machine.appliedResult('clerk-1', 2), undefined);
    assert.equal(await machine.appliedResult('nobody', 1), undefined);
    const next = await machine.applyEntries([
      entryOf({ append: { key: b('k'), value: b('y') }, session: { clientId: 'clerk-1', seq: 2 } }),
      entryOf({ append: { key: b('k'), value: b('z') }, session: { clientId: 'clerk-1', seq: 1 } }),
    ]);
    assert.equal(ok(next[0]!).append!.length, 2);
    assert.ok(next[1]!.result instanceof SessionSeqStaleError);
    assert.equal((await machine.get(b('k')))!.value.toString(), 'xy');
    await database.close();
  });

  test('sessions and state survive reopen', async () => {
    const session = { clientId: 'clerk-2', seq: 7 };
    const first = await machine.applyEntries([put('k', 'v', { session })]);
    await database.close();
    ({ machine, database } = await openMachine(dir));
    assert.equal(machine.appliedIndex(), 1);
    // Entries at or below appliedIndex are skipped (replay after a crash).
    nextIndex = 1;
    assert.deepEqual(await machine.applyEntries([put('k', 'other')]), []);
    const retry = await machine.applyEntries([put('k', 'v', { session })]);
    sameResult(retry[0]!, first[0]!);
    assert.equal((await machine.get(b('k')))!.version, 1);
    await database.close();
  });

  test('sessions expire by proposedAtMs only, then a retry applies again', async () => {
    await database.close();
    ({ machine, database } = await openMachine(undefined, { sessionTtlMs: 1_000 }));
    const session = { clientId: 'old', seq: 1 };
    await machine.applyEntries([entryOf({ append: { key: b('k'), value: b('a') }, session, proposedAtMs: 10_000 })]);
    // Exactly at the TTL the session is still alive.
    await machine.applyEntries([put('other', '1', { proposedAtMs: 11_000 })]);
    assert.equal(machine.sessionSeq('old'), 1);
    // A proposal time going backwards (new leader's clock) does not move the replicated clock back.
    await machine.applyEntries([put('other', '2', { proposedAtMs: 5 })]);
    assert.equal(machine.sessionSeq('old'), 1);
    await machine.applyEntries([put('other', '3', { proposedAtMs: 11_001 })]);
    assert.equal(machine.sessionSeq('old'), undefined);
    assert.equal(machine.sessionCount(), 0);
    await machine.applyEntries([entryOf({ append: { key: b('k'), value: b('a') }, session, proposedAtMs: 11_002 })]);
    assert.equal((await machine.get(b('k')))!.value.toString(), 'aa');
    await database.close();
  });

  test('beyond sessionsMax the least recently active session is evicted', async () => {
    await database.close();
    ({ machine, database, dir } = await openMachine(undefined, { sessionsMax: 2 }));
    await machine.applyEntries([
      put('k', '1', { session: { clientId: 'a', seq: 1 } }),
      put('k', '2', { session: { clientId: 'b', seq: 1 } }),
      put('k', '3', { session: { clientId: 'a', seq: 2 } }), // a is now more recent than b
      put('k', '4', { session: { clientId: 'c', seq: 1 } }),
    ]);
    assert.equal(machine.sessionSeq('b'), undefined);
    assert.equal(machine.sessionSeq('a'), 2);
    assert.equal(machine.sessionSeq('c'), 1);
    // The activity order survives reopen: 'a' is evicted next.
    await database.close();
    ({ machine, database } = await openMachine(dir, { sessionsMax: 2 }));
    nextIndex = 5;
    await machine.applyEntries([put('k', '5', { session: { clientId: 'd', seq: 1 } })]);
    assert.equal(machine.sessionSeq('a'), undefined);
    assert.equal(machine.sessionSeq('c'), 1);
    await database.close();
  });

  test('no-op, conf-change and garbage entries', async () => {
    const results = await machine.applyEntries([
      { index: nextIndex++, term: 1, type: EntryType.NORMAL, data: Buffer.alloc(0) },
      { index: nextIndex++, term: 1, type: EntryType.CONF_CHANGE, data: Buffer.from([8, 1]) },
      { index: nextIndex++, term: 1, type: EntryType.NORMAL, data: Buffer.from([0xff, 0xff, 0xff]) },
      entryOf({}),
    ]);
    assert.deepEqual(
      results.map((r) => r.index),
      [3, 4],
    );
    assert.equal((results[0]!.result as KvError).code, 'INVALID_ARGUMENT');
    assert.equal((results[1]!.result as KvError).code, 'INVALID_ARGUMENT');
    assert.equal(machine.appliedIndex(), 4);
    await database.close();
  });
});

test('a conf change and the applied index that covers it land in one batch', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-sm-'));
  tempDirs.push(dir);
  const storage = await RaftStorage.open(dir, identity);
  const machine = await KvStateMachine.open(storage.database);
  const member = { id: 2, peerAddress: 'p', clientAddress: 'c', httpAddress: '', learner: true };
  const confState = { voters: [1], learners: [2], votersOutgoing: [] };
  await machine.applyEntries(
    [{ index: 1, term: 1, type: EntryType.CONF_CHANGE, data: Buffer.from([8, 2]) }],
    storage.stageMembership(confState, [member]),
  );
  assert.deepEqual(storage.members(), [member]);
  await storage.close();
  const reopened = await RaftStorage.open(dir, identity);
  const again = await KvStateMachine.open(reopened.database);
  assert.equal(again.appliedIndex(), 1);
  assert.deepEqual(reopened.confState(), confState);
  assert.deepEqual(reopened.members(), [member]);
  await reopened.close();
});
