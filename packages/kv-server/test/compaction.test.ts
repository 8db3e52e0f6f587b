// Goal: history stays within its bounds while many overwrites run, reads and
// watches below the compacted revision get COMPACTED, reads at or above it
// still answer as the store was, and compact() refuses future and already
// compacted revisions without changing anything.
// Method: a real LevelDB state machine driven in batches like the node does,
// with the leader's AutoCompactor proposing Compact into the next batch;
// records are counted in LevelDB once the background deletion is done.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, type Entry, EntryType } from '@cairn/proto';
import { KvStateMachine } from '../src/state-machine/kv-state-machine.js';
import { NodeDatabase } from '../src/storage/database.js';
import { generationPrefix, PREFIX, prefixEnd } from '../src/storage/keys.js';
import { AutoCompactor } from '../src/loop/auto-compactor.js';
import { CompactedError, FutureRevisionError, KvError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';

const identity = { clusterId: 'compaction-test', nodeId: 1 };
const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function openMachine(): Promise<{ database: NodeDatabase; machine: KvStateMachine }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-compaction-'));
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
const TOTAL = 100_000;

async function countRecords(database: NodeDatabase, prefix: number): Promise<number> {
  const base = generationPrefix(prefix, 1);
  let count = 0;
  for await (const _ of database.db.keys({ gte: base, lt: prefixEnd(base) })) count += 1;
  return count;
}

describe('compaction', () => {
  test('100k overwrites of a few keys keep the history within --history-revisions', async () => {
    nextIndex = 1;
    const { database, machine } = await openMachine();
    const historyRevisions = 1000;
    const keys = 5;
    const batchSize = 200;
    // The leader's compactor; a proposal joins the next batch, as a committed entry would.
    const proposals: number[] = [];
    const compactor = new AutoCompactor({
      isLeader: () => true,
      revision: () => machine.revision(),
      compactRevision: () => machine.compactRevision(),
      historyBytes: () => machine.historyBytes(),
      compact: (revision) => {
        proposals.push(revision);
        return Promise.resolve();
      },
      onApplied: (listener) => machine.onApplied(listener),
      historyRevisions,
      historyBytesMax: Number.MAX_SAFE_INTEGER,
      bytesCheckMs: 60_000,
      logger: createLogger('silent'),
    });
    compactor.start();
    let maxRetained = 0;
    for (let written = 0; written < TOTAL; written += batchSize) {
      const entries: Entry[] = proposals.splice(0).map((revision) => entryOf({ compact: { revision } }));
      for (let i = 0; i < batchSize; i++) {
        const n = written + i;
        entries.push(entryOf({ put: { key: b(`key-${n % keys}`), value: b(`value-${n}`), prevKv: false } }));
      }
      const results = await machine.applyEntries(entries);
      for (const { result } of results) assert.ok(!(result instanceof KvError), String(result));
      maxRetained = Math.max(maxRetained, machine.revision() - machine.compactRevision());
    }
    compactor.stop();
    await machine.historyCompacted();
    assert.equal(machine.revision(), TOTAL);
    // The bound plus its step (a tenth) plus the batch applied before the proposal lands.
    const bound = historyRevisions + historyRevisions / 10 + 2 * batchSize;
    assert.ok(maxRetained <= bound, `retained ${maxRetained} revisions, bound ${bound}`);
    const compacted = machine.compactRevision();
    assert.ok(compacted >= TOTAL - bound, `compacted to ${compacted}`);
    const events = await countRecords(database, PREFIX.historyEvents);
    const values = await countRecords(database, PREFIX.historyValue);
    assert.ok(events <= bound, `${events} event records`);
    assert.equal(events, TOTAL - compacted + 1, 'one event record per retained revision');
    assert.ok(values <= bound + keys, `${values} value records`);

    // Reads below the compacted revision: COMPACTED naming it; at it and above: the values then.
    await assert.rejects(
      machine.get(b('key-0'), compacted - 1),
      (error: unknown) => error instanceof CompactedError && error.compactRevision === compacted,
    );
    await assert.rejects(machine.range(b('key-'), undefined, 0, false, 1), CompactedError);
    await assert.rejects(machine.eventsBetween(compacted - 1, compacted, { key: b('key-'), prefix: true }, 10), CompactedError);
    const atCompacted = await machine.range(b('key-'), undefined, 0, false, compacted);
    assert.equal(atCompacted.kvs.length, keys, 'every key still readable at the compacted revision');
    for (const kv of atCompacted.kvs) {
      assert.ok(kv.modRevision <= compacted && kv.modRevision > compacted - keys, `${kv.key.toString()} at ${kv.modRevision}`);
      assert.equal(kv.value.toString(), `value-${kv.modRevision - 1}`);
    }
    const replay = await machine.eventsBetween(compacted, compacted + 20, { key: b('key-'), prefix: true }, 1000);
    assert.equal(replay.length, 21);
    for (const { events: list } of replay) assert.ok(list[0]!.prevKv !== undefined, 'prevKv survives compaction');
    await database.close();
  });

  test('compact() refuses future and already compacted revisions and changes nothing', async () => {
    nextIndex = 1;
    const { database, machine } = await openMachine();
    await machine.applyEntries([1, 2, 3].map((n) => entryOf({ put: { key: b('k'), value: b(`${n}`), prevKv: false } })));
    const [future] = await machine.applyEntries([entryOf({ compact: { revision: 4 } })]);
    assert.ok(future!.result instanceof FutureRevisionError);
    assert.equal(machine.compactRevision(), 0);
    const [done] = await machine.applyEntries([entryOf({ compact: { revision: 3 } })]);
    assert.equal((done!.result as { compact?: { header?: { revision: number } } }).compact?.header?.revision, 3);
    assert.equal(machine.revision(), 3, 'compaction makes no revision');
    const [again] = await machine.applyEntries([entryOf({ compact: { revision: 2 } })]);
    assert.ok(again!.result instanceof CompactedError);
    assert.equal(machine.compactRevision(), 3);
    await machine.historyCompacted();
    assert.equal((await machine.get(b('k'), 3))?.value.toString(), '3');
    await database.close();
  });
});
