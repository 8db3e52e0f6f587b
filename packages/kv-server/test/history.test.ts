// Goal: the state machine keeps each revision's changes (MVCC history) and
// answers eventsBetween and reads at a past revision exactly as the store was
// then, with COMPACTED below the compacted revision and FUTURE_REVISION above
// the current one.
// Method: real LevelDB in a temp dir; apply hand-built Command entries, then
// compare history reads with what the writes returned.
import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, type Entry, EntryType, EventType } from '@cairn/proto';
import { KvStateMachine } from '../src/state-machine/kv-state-machine.js';
import { NodeDatabase } from '../src/storage/database.js';
import { CompactedError, FutureRevisionError } from '../src/errors.js';
import { FrameKind, readSnapshotFrames, SnapshotWriter } from '../src/state-machine/snapshot-stream.js';

const identity = { clusterId: 'history-test', nodeId: 1 };
const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function openMachine(): Promise<{ database: NodeDatabase; machine: KvStateMachine }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-history-'));
  tempDirs.push(dir);
  const database = await NodeDatabase.open(dir, identity);
  return { database, machine: await KvStateMachine.open(database) };
}

let nextIndex = 1;
function entryOf(command: Partial<Command>): Entry {
  const full: Command = { proposedAtMs: 1_000, valueBytesMax: 0, ...command };
  return { index: nextIndex++, term: 1, type: EntryType.NORMAL, data: Buffer.from(Command.encode(full).finish()) };
}
const b = (text: string): Buffer => Buffer.from(text);
const put = (key: string | Buffer, value: string): Entry => entryOf({ put: { key: Buffer.from(key), value: b(value), prevKv: false } });
const del = (key: string): Entry => entryOf({ delete: { key: b(key) } });
const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : Buffer.from(value).toString());

describe('history', () => {
  let machine: KvStateMachine;
  let database: NodeDatabase;
  beforeEach(async () => {
    nextIndex = 1;
    ({ machine, database } = await openMachine());
  });

  test('eventsBetween returns each revision with kv and prevKv, filtered by key or prefix', async () => {
    // rev 1: a=1, 2: b/x=1, 3: a=2, 4: delete a, 5: b/y=1, 6: a=3
    await machine.applyEntries([put('a', '1'), put('b/x', '1'), put('a', '2'), del('a'), put('b/y', '1'), put('a', '3')]);
    assert.equal(machine.revision(), 6);

    const forA = await machine.eventsBetween(1, 100, { key: b('a'), prefix: false }, 1000);
    assert.deepEqual(
      forA.map((r) => r.revision),
      [1, 3, 4, 6],
    );
    const [r1, r3, r4, r6] = forA.map((r) => r.events[0]!);
    assert.equal(r1!.type, EventType.PUT);
    assert.equal(text(r1!.kv!.value), '1');
    assert.equal(r1!.prevKv, undefined);
    assert.equal(text(r3!.kv!.value), '2');
    assert.equal(r3!.kv!.version, 2);
    assert.equal(text(r3!.prevKv!.value), '1');
    assert.equal(r4!.type, EventType.DELETE);
    assert.equal(r4!.kv!.modRevision, 4);
    assert.equal(r4!.kv!.modIndex, 4);
    assert.equal(text(r4!.prevKv!.value), '2');
    assert.equal(r6!.kv!.version, 1, 'a re-created key starts at version 1');
    assert.equal(r6!.kv!.createRevision, 6);
    assert.equal(r6!.prevKv, undefined, 'after a delete there is no prevKv');

    const prefixed = await machine.eventsBetween(2, 5, { key: b('b/'), prefix: true }, 1000);
    assert.deepEqual(
      prefixed.map((r) => [r.revision, text(r.events[0]!.kv!.key)]),
      [
        [2, 'b/x'],
        [5, 'b/y'],
      ],
    );
    const everything = await machine.eventsBetween(1, 6, { key: Buffer.alloc(0), prefix: true }, 3);
    assert.deepEqual(
      everything.map((r) => r.revision),
      [1, 2, 3],
      'stops at maxEvents',
    );
    assert.deepEqual(await machine.eventsBetween(7, 100, { key: b('a'), prefix: false }, 10), []);
    await database.close();
  });

  test('the live events and the history events are the same', async () => {
    const live: unknown[] = [];
    machine.onApplied((revisions) => live.push(...revisions));
    await machine.applyEntries([put('k', '1'), put('k', '2'), del('k'), put(Buffer.from([0x6b, 0, 1]), 'z')]);
    const replayed = await machine.eventsBetween(1, 10, { key: b('k'), prefix: true }, 100);
    assert.deepEqual(replayed, live);
    await database.close();
  });

  test('get and range at a revision see the store as it was', async () => {
    await machine.applyEntries([put('p/a', '1'), put('p/b', '1'), put('p/a', '2'), del('p/b'), put('p/c', '1'), put('q', '1')]);
    assert.equal(text((await machine.get(b('p/a'), 1))?.value), '1');
    assert.equal(text((await machine.get(b('p/a'), 3))?.value), '2');
    assert.equal(await machine.get(b('p/b'), 4), undefined);
    assert.equal(text((await machine.get(b('p/b'), 3))?.value), '1');
    assert.equal(await machine.get(b('p/c'), 4), undefined);
    const keys = async (revision: number, limit = 0, startAfter?: string): Promise<string[]> =>
      (await machine.range(b('p/'), startAfter === undefined ? undefined : b(startAfter), limit, false, revision)).kvs.map(
        (kv) => `${text(kv.key)}=${text(kv.value)}`,
      );
    assert.deepEqual(await keys(2), ['p/a=1', 'p/b=1']);
    assert.deepEqual(await keys(3), ['p/a=2', 'p/b=1']);
    assert.deepEqual(await keys(4), ['p/a=2']);
    assert.deepEqual(await keys(6), ['p/a=2', 'p/c=1']);
    assert.deepEqual(await keys(3, 1), ['p/a=2']);
    assert.equal((await machine.range(b('p/'), undefined, 1, false, 3)).more, true);
    assert.deepEqual(await keys(3, 0, 'p/a'), ['p/b=1']);
    // The latest revision read through history equals the live read.
    assert.deepEqual((await machine.range(b(''), undefined, 0, false, 6)).kvs, (await machine.range(b(''), undefined, 0, false)).kvs);
    await assert.rejects(machine.get(b('p/a'), 7), FutureRevisionError);
    await assert.rejects(machine.range(b('p/'), undefined, 0, false, 7), FutureRevisionError);
    await database.close();
  });

  test('keys with zero bytes keep their own history', async () => {
    const k1 = Buffer.from([1]);
    const k2 = Buffer.from([1, 0]);
    const k3 = Buffer.from([1, 0, 0]);
    await machine.applyEntries([put(k2, 'two'), put(k1, 'one'), put(k3, 'three'), put(k1, 'one again')]);
    assert.equal(text((await machine.get(k1, 2))?.value), 'one');
    assert.equal(text((await machine.get(k2, 4))?.value), 'two');
    const all = await machine.range(Buffer.from([1]), undefined, 0, false, 3);
    assert.deepEqual(
      all.kvs.map((kv) => Buffer.from(kv.key).toString('hex')),
      ['01', '0100', '010000'],
    );
    const events = await machine.eventsBetween(1, 4, { key: k1, prefix: false }, 10);
    assert.deepEqual(
      events.map((r) => r.revision),
      [2, 4],
    );
    await database.close();
  });

  test('compacted and future revisions are typed errors', async () => {
    await assert.rejects(
      machine.eventsBetween(0, 10, { key: b('a'), prefix: false }, 10).then(() => machine.get(b('a'), 1)),
      FutureRevisionError,
    );
    await machine.applyEntries([put('a', '1'), put('a', '2'), put('a', '3')]);
    await machine.applyEntries([entryOf({ compact: { revision: 2 } })]);
    assert.equal(machine.compactRevision(), 2);
    await assert.rejects(machine.get(b('a'), 1), (error: unknown) => error instanceof CompactedError && error.compactRevision === 2);
    await assert.rejects(machine.eventsBetween(1, 3, { key: b('a'), prefix: false }, 10), CompactedError);
    assert.equal(text((await machine.get(b('a'), 2))?.value), '2');
    const events = await machine.eventsBetween(2, 3, { key: b('a'), prefix: false }, 10);
    assert.deepEqual(
      events.map((r) => text(r.events[0]!.prevKv?.value)),
      ['1', '2'],
      'prevKv at the compacted revision is still there',
    );
    await database.close();
  });

  test('a machine restored from a snapshot serves the same history, from the compacted revision on', async () => {
    await machine.applyEntries([put('p/a', '1'), put('p/b', '1'), put('p/a', '2'), del('p/b'), put('p/c', '1'), put('p/a', '3')]);
    await machine.applyEntries([entryOf({ compact: { revision: 3 } }), put('p/d', '1')]);
    // Taken before and after the background deletion: the same bytes either way.
    const early = await collect(machine.snapshot());
    await machine.historyCompacted();
    const chunks = await collect(machine.snapshot());
    assert.deepEqual(Buffer.concat(chunks), Buffer.concat(early));
    const other = await openMachine();
    await other.machine.restore(Buffer.concat(chunks));
    assert.equal(other.machine.revision(), 7);
    assert.equal(other.machine.compactRevision(), 3);
    const all = { key: b('p/'), prefix: true };
    assert.deepEqual(await other.machine.eventsBetween(3, 7, all, 100), await machine.eventsBetween(3, 7, all, 100));
    for (let revision = 3; revision <= 7; revision++) {
      assert.deepEqual(
        await other.machine.range(b('p/'), undefined, 0, false, revision),
        await machine.range(b('p/'), undefined, 0, false, revision),
        `range at ${revision}`,
      );
    }
    await assert.rejects(other.machine.get(b('p/a'), 2), CompactedError);
    assert.deepEqual(
      Buffer.concat(await collect(other.machine.snapshot())),
      Buffer.concat(chunks),
      'restored machine snapshots the same bytes',
    );
    await other.database.close();
    await database.close();
  });

  test('a snapshot from before history loads with its values as the history at its revision', async () => {
    await machine.applyEntries([put('a', '1'), put('a', '2'), put('b', '1')]);
    // The same snapshot without its history frames, as an older node wrote it.
    const writer = new SnapshotWriter(1 << 20);
    for await (const frame of readSnapshotFrames(await collect(machine.snapshot()))) {
      if (frame.kind === FrameKind.trailer || frame.kind === FrameKind.historyValue || frame.kind === FrameKind.historyEvents) continue;
      writer.frame(frame.kind, frame.key, frame.value);
    }
    const other = await openMachine();
    await other.machine.restore(Buffer.concat([...writer.finish()]));
    assert.equal(other.machine.compactRevision(), 3);
    assert.equal(text((await other.machine.get(b('a'), 3))?.value), '2');
    assert.equal((await other.machine.range(b(''), undefined, 0, false, 3)).kvs.length, 2);
    await assert.rejects(other.machine.get(b('a'), 2), CompactedError);
    await other.machine.applyEntries([put('a', '3')]);
    const events = await other.machine.eventsBetween(3, 4, { key: b('a'), prefix: false }, 10);
    assert.equal(text(events[0]!.events[0]!.prevKv?.value), '2');
    await other.database.close();
    await database.close();
  });
});

async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(chunk);
  return out;
}
