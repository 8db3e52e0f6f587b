// Goal: a txn applies its compares and one branch atomically at one revision,
// its reads see its earlier writes, a prefix delete removes every matching key
// in one revision (also with writes of the same batch), bad txns change
// nothing, and a txn's reply is stored for exactly-once retries.
// Method: real LevelDB in a temp dir; hand-built Command entries.
import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  Command,
  type CommandResult,
  CompareResult,
  CompareTarget,
  type Compare,
  type Entry,
  EntryType,
  type RequestOp,
} from '@cairn/proto';
import { KvStateMachine, type AppliedResult } from '../src/state-machine/kv-state-machine.js';
import { NodeDatabase } from '../src/storage/database.js';
import { InvalidArgumentError, KvError, LeaseNotFoundError, ValueTooLargeError } from '../src/errors.js';
import { TXN_OPS_MAX } from '../src/limits.js';

const identity = { clusterId: 'txn-test', nodeId: 1 };
const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

let nextIndex = 1;
function entryOf(command: Partial<Command>): Entry {
  const full: Command = { proposedAtMs: 1_000, valueBytesMax: 0, ...command };
  return { index: nextIndex++, term: 1, type: EntryType.NORMAL, data: Buffer.from(Command.encode(full).finish()) };
}
const b = (text: string): Buffer => Buffer.from(text);
const put = (key: string, value: string): Entry => entryOf({ put: { key: b(key), value: b(value), prevKv: false } });
const txn = (compare: Compare[], success: RequestOp[], failure: RequestOp[] = [], extra: Partial<Command> = {}): Entry =>
  entryOf({ txn: { compare, success, failure }, ...extra });
const cmp = (key: string, target: CompareTarget, result: CompareResult, operand: Partial<Compare>): Compare => ({
  key: b(key),
  target,
  result,
  ...operand,
});
const putOp = (key: string, value: string): RequestOp => ({ put: { key: b(key), value: b(value), prevKv: true } });
const getOp = (key: string): RequestOp => ({ get: { key: b(key), consistency: 0 } });
const rangeOp = (prefix: string): RequestOp => ({
  range: { prefix: b(prefix), startAfter: Buffer.alloc(0), limit: 0, consistency: 0, keysOnly: false },
});
const delOp = (key: string, prefix = false): RequestOp => ({ delete: { key: b(key), prefix, prevKv: true } });
const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : Buffer.from(value).toString());

function ok(applied: AppliedResult | undefined): CommandResult {
  assert.ok(applied !== undefined);
  assert.ok(!(applied.result instanceof KvError), `entry ${applied.index} failed: ${String(applied.result)}`);
  return applied.result as CommandResult;
}

describe('txn', () => {
  let machine: KvStateMachine;
  let database: NodeDatabase;
  beforeEach(async () => {
    nextIndex = 1;
    const dir = await mkdtemp(path.join(tmpdir(), 'cairn-txn-'));
    tempDirs.push(dir);
    database = await NodeDatabase.open(dir, identity);
    machine = await KvStateMachine.open(database);
  });

  test('compares choose the branch; all writes share one revision; reads see earlier writes', async () => {
    await machine.applyEntries([put('a', '1'), put('b', '1')]);
    const [applied] = await machine.applyEntries([
      txn(
        [
          cmp('a', CompareTarget.VALUE, CompareResult.EQUAL, { value: b('1') }),
          cmp('b', CompareTarget.VERSION, CompareResult.LESS, { version: 2 }),
          cmp('missing', CompareTarget.CREATE, CompareResult.EQUAL, { createRevision: 0 }),
          cmp('a', CompareTarget.MOD, CompareResult.GREATER, { modRevision: 0 }),
          cmp('a', CompareTarget.LEASE, CompareResult.EQUAL, { lease: 0 }),
        ],
        [putOp('a', '2'), putOp('c/1', 'x'), getOp('a'), rangeOp('c/'), delOp('b')],
        [putOp('never', 'x')],
      ),
    ]);
    const result = ok(applied).txn!;
    assert.equal(result.succeeded, true);
    assert.equal(result.header!.revision, 3);
    assert.equal(machine.revision(), 3, 'one revision for the whole txn');
    assert.equal(text(result.responses[0]!.put!.prevKv!.value), '1');
    assert.equal(text(result.responses[2]!.get!.kv!.value), '2', 'a read sees the earlier write');
    assert.deepEqual(
      result.responses[3]!.range!.kvs.map((kv) => text(kv.key)),
      ['c/1'],
    );
    assert.equal(result.responses[4]!.delete!.count, 1);
    for (const response of result.responses)
      assert.equal((response.put ?? response.get ?? response.range ?? response.delete)!.header!.revision, 3);
    assert.equal(await machine.get(b('b')), undefined);
    assert.equal(await machine.get(b('never')), undefined);
    const events = await machine.eventsBetween(3, 3, { key: Buffer.alloc(0), prefix: true }, 100);
    assert.equal(events.length, 1);
    assert.deepEqual(
      events[0]!.events.map((e) => text(e.kv!.key)),
      ['a', 'c/1', 'b'],
    );
    await database.close();
  });

  test('a failed compare runs the failure branch; a value compare on an absent key fails', async () => {
    const [applied] = await machine.applyEntries([
      txn(
        [cmp('absent', CompareTarget.VALUE, CompareResult.NOT_EQUAL, { value: b('x') })],
        [putOp('s', '1')],
        [putOp('f', '1'), getOp('s')],
      ),
    ]);
    const result = ok(applied).txn!;
    assert.equal(result.succeeded, false);
    assert.equal(text((await machine.get(b('f')))?.value), '1');
    assert.equal(result.responses[1]!.get!.kv, undefined);
    // A txn that changes nothing keeps the revision.
    const [readOnly] = await machine.applyEntries([txn([], [getOp('f')])]);
    assert.equal(ok(readOnly).txn!.header!.revision, 1);
    assert.equal(machine.revision(), 1);
    await database.close();
  });

  test('prefix delete removes every key in one revision, including writes earlier in the same batch', async () => {
    await machine.applyEntries([put('p/a', '1'), put('p/b', '1'), put('q', '1')]);
    const results = await machine.applyEntries([
      put('p/c', '1'),
      entryOf({ delete: { key: b('p/b') } }),
      entryOf({ delete: { key: b('p/'), prefix: true, prevKv: true } }),
    ]);
    const deleted = ok(results[2]).delete!;
    assert.equal(deleted.count, 2);
    assert.deepEqual(
      deleted.prevKvs.map((kv) => text(kv.key)),
      ['p/a', 'p/c'],
    );
    assert.equal(deleted.header!.revision, 6);
    assert.equal((await machine.range(b('p/'), undefined, 0, false)).kvs.length, 0);
    assert.equal(machine.keyCount(), 1);
    const [none] = await machine.applyEntries([entryOf({ delete: { key: b('p/'), prefix: true } })]);
    assert.equal(ok(none).delete!.deleted, false);
    assert.equal(machine.revision(), 6, 'deleting nothing makes no revision');
    await database.close();
  });

  test('bad txns are typed errors and change nothing', async () => {
    await machine.applyEntries([put('a', '1')]);
    const tooMany = Array.from({ length: TXN_OPS_MAX + 1 }, (_, i) => putOp(`k${i}`, 'v'));
    const results = await machine.applyEntries([
      txn([], tooMany),
      txn([{ key: b('a'), target: CompareTarget.VERSION, result: CompareResult.EQUAL }], [putOp('x', '1')]),
      txn([], [putOp('x', '1'), putOp('x', '2')]),
      txn([], [putOp('p/x', '1'), delOp('p/', true)]),
      txn([], [putOp('x', '1'), { get: { key: b('a'), consistency: 0, revision: 1 } }]),
      txn([], [putOp('x', '1'), { put: { key: b('y'), value: b('1'), prevKv: false, lease: 99 } }]),
      txn([], [putOp('x', '1'), putOp('big', 'x'.repeat(64))], [], { valueBytesMax: 16 }),
    ]);
    assert.ok(results[0]!.result instanceof InvalidArgumentError);
    assert.ok(results[1]!.result instanceof InvalidArgumentError);
    assert.ok(results[2]!.result instanceof InvalidArgumentError);
    assert.ok(results[3]!.result instanceof InvalidArgumentError);
    assert.ok(results[4]!.result instanceof InvalidArgumentError);
    assert.ok(results[5]!.result instanceof LeaseNotFoundError);
    assert.ok(results[6]!.result instanceof ValueTooLargeError);
    assert.equal(machine.revision(), 1);
    assert.equal(await machine.get(b('x')), undefined);
    await database.close();
  });

  test('a retried txn is answered from its session, not applied again', async () => {
    const session = { clientId: 'c1', seq: 1 };
    const first = await machine.applyEntries([txn([], [putOp('n', '1')], [], { session })]);
    const retry = await machine.applyEntries([txn([], [putOp('n', '1')], [], { session })]);
    assert.equal(machine.revision(), 1);
    assert.equal((await machine.get(b('n')))!.version, 1);
    assert.equal(ok(retry[0]).txn!.header!.revision, ok(first[0]).txn!.header!.revision);
    assert.equal(ok(retry[0]).txn!.succeeded, true);
    assert.equal(await machine.appliedResult('c1', 1).then((r) => r?.txn?.responses.length), 1);
    await database.close();
  });
});
