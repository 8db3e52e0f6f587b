// Goal: LogStore keeps the raft log durably after its base (the snapshot
// point), mirrors it for synchronous reads, truncates a conflicting suffix,
// compacts, and refuses a damaged or gapped log on load.
// Method: real LevelDB in a temp dir; stage writes through LogStore and land
// them as RaftStorage does, reload from the same database, and damage stored
// bytes through classic-level.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StorageCompactedError, StorageUnavailableError } from '@cairn/raft-core';
import { CorruptionError } from '../src/errors.js';
import { NodeDatabase } from '../src/storage/database.js';
import { logKey } from '../src/storage/keys.js';
import { type LogBase, LogStore } from '../src/storage/log-store.js';
import { combineStaged } from '../src/storage/staged-write.js';
import { entry, entryRange, freshDir, land, logIndexes, withRawDatabase } from './helpers/storage-dir.js';

const identity = { clusterId: 'test-cluster', nodeId: 1 };
const START: LogBase = { index: 0, term: 0 };

describe('LogStore', () => {
  let dataDir: string;
  let database: NodeDatabase;
  beforeEach(async () => {
    dataDir = await freshDir('log-store');
    database = await NodeDatabase.open(dataDir, identity);
  });
  afterEach(async () => {
    await database.close();
  });

  /** Closes and reopens the database, then loads the log after `base`. */
  async function reload(base: LogBase = START): Promise<LogStore> {
    await database.close();
    database = await NodeDatabase.open(dataDir, identity);
    return LogStore.load(database, base);
  }

  test('a new data dir starts empty', async () => {
    const log = await LogStore.load(database, START);
    assert.equal(log.firstIndex(), 1);
    assert.equal(log.lastIndex(), 0);
    assert.equal(log.term(0), 0);
  });

  test('entries round-trip and survive reopen', async () => {
    const log = await LogStore.load(database, START);
    await land(database, log.stageAppend(entryRange(1, 5, 1), undefined));
    assert.equal(log.lastIndex(), 5);
    assert.equal(log.term(4), 1);
    assert.deepEqual(
      log.entries(2, 4, 1 << 20).map((e) => e.data.toString()),
      ['e2', 'e3'],
    );

    const reopened = await reload();
    assert.equal(reopened.firstIndex(), 1);
    assert.equal(reopened.lastIndex(), 5);
    assert.deepEqual(
      reopened.entries(1, 6, 1 << 20).map((e) => e.data.toString()),
      ['e1', 'e2', 'e3', 'e4', 'e5'],
    );
  });

  test('entries() honours bytesMax but always returns at least one entry', async () => {
    const log = await LogStore.load(database, START);
    await land(database, log.stageAppend(entryRange(1, 4, 1), undefined));
    assert.equal(log.entries(1, 5, 0).length, 1);
    assert.equal(log.entries(1, 5, 4).length, 2); // "e1" + "e2" = 4 bytes
    assert.throws(() => log.entries(1, 7, 100), StorageUnavailableError);
    assert.throws(() => log.term(9), StorageUnavailableError);
  });

  test('logBytes follows appends, truncation and compaction', async () => {
    const log = await LogStore.load(database, START);
    assert.equal(log.logBytes(), 0);
    await land(database, log.stageAppend(entryRange(1, 6, 1), undefined));
    const perEntry = log.logBytes() / 6;
    assert.ok(perEntry > 2, 'counts data plus overhead');
    await land(database, log.stageAppend([entry(5, 2, 'e5'), entry(6, 2, 'e6')], undefined));
    assert.equal(log.logBytes(), 6 * perEntry, 'a truncated suffix is subtracted, its replacement added');
    await land(database, log.stageCompaction({ index: 4, term: 1 }));
    await log.clearThrough(1, 4);
    assert.equal(log.logBytes(), 2 * perEntry, 'compaction drops the entries it covers');
    const reopened = await reload({ index: 4, term: 1 });
    assert.equal(reopened.logBytes(), 2 * perEntry);
  });

  test('a conflicting suffix is truncated, on disk too', async () => {
    const log = await LogStore.load(database, START);
    await land(database, log.stageAppend(entryRange(1, 6, 1), undefined));
    await land(database, log.stageAppend([entry(4, 2, 'new4')], undefined));
    assert.equal(log.lastIndex(), 4);
    assert.equal(log.term(4), 2);
    assert.deepEqual(await logIndexes(database), [1, 2, 3, 4]);

    const reopened = await reload();
    assert.equal(reopened.lastIndex(), 4);
    assert.deepEqual(
      reopened.entries(3, 5, 1 << 20).map((e) => [e.term, e.data.toString()]),
      [
        [1, 'e3'],
        [2, 'new4'],
      ],
    );
  });

  test('compaction moves the base; the records behind it go in one range delete', async () => {
    const log = await LogStore.load(database, START);
    await land(database, log.stageAppend(entryRange(1, 10, 2), undefined));
    await land(database, log.stageCompaction({ index: 7, term: 2 }));
    assert.equal(log.firstIndex(), 8);
    assert.equal(log.lastIndex(), 10);
    assert.equal(log.term(7), 2);
    assert.throws(() => log.term(6), StorageCompactedError);
    assert.throws(() => log.entries(5, 9, 100), StorageCompactedError);
    assert.deepEqual(await logIndexes(database), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'the records stay until clearThrough');
    await log.clearThrough(1, 7);
    assert.deepEqual(await logIndexes(database), [8, 9, 10]);
  });

  test('a replacement deletes the whole log and appends after the new base in the same batch', async () => {
    const log = await LogStore.load(database, START);
    await land(database, log.stageAppend(entryRange(1, 3, 1), undefined));
    await land(database, combineStaged([log.stageReplacement({ index: 20, term: 4 }), log.stageAppend([entry(21, 4)], 20)]));
    assert.equal(log.firstIndex(), 21);
    assert.equal(log.lastIndex(), 21);
    assert.equal(log.term(20), 4);
    assert.deepEqual(await logIndexes(database), [21]);
    const reopened = await reload({ index: 20, term: 4 });
    assert.equal(reopened.lastIndex(), 21);
  });

  test('a flipped byte in a log record refuses to load with CorruptionError', async () => {
    const log = await LogStore.load(database, START);
    await land(database, log.stageAppend(entryRange(1, 3, 1), undefined));
    await database.close();
    await withRawDatabase(dataDir, async (db) => {
      const stored = await db.get(logKey(2));
      assert.ok(stored);
      stored[stored.length - 1]! ^= 0x01;
      await db.put(logKey(2), stored);
    });
    database = await NodeDatabase.open(dataDir, identity);
    await assert.rejects(LogStore.load(database, START), (error: unknown) => {
      assert.ok(error instanceof CorruptionError);
      assert.equal(error.code, 'CORRUPTION');
      assert.match(error.message, /log entry 2/);
      assert.ok(error.message.includes(dataDir));
      return true;
    });
  });

  test('a gap in the log refuses to load', async () => {
    const log = await LogStore.load(database, START);
    await land(database, log.stageAppend(entryRange(1, 3, 1), undefined));
    await database.write([{ type: 'del', key: logKey(2) }], { sync: true });
    await assert.rejects(reload(), /log entry 3 where index 2 was expected/);
  });

  test('records at or below the base, left by an interrupted compaction, are skipped and deleted on load', async () => {
    const log = await LogStore.load(database, START);
    await land(database, log.stageAppend(entryRange(1, 10, 2), undefined));
    const reopened = await reload({ index: 6, term: 2 });
    assert.equal(reopened.firstIndex(), 7);
    assert.equal(reopened.lastIndex(), 10);
    assert.equal(reopened.term(6), 2);
    assert.deepEqual(
      reopened.entries(7, 11, 1 << 20).map((e) => e.data.toString()),
      ['e7', 'e8', 'e9', 'e10'],
    );
    assert.throws(() => reopened.entries(3, 8, 1 << 20), StorageCompactedError);
    assert.deepEqual(await logIndexes(database), [7, 8, 9, 10], 'the leftovers are gone from LevelDB, not just ignored');
    const again = await reload({ index: 6, term: 2 });
    assert.equal(again.firstIndex(), 7);
    assert.equal(again.lastIndex(), 10);
  });

  test('a gap above the base still refuses to load, with or without leftovers below it', async () => {
    for (const missing of [7, 8]) {
      await database.close();
      dataDir = await freshDir('log-store');
      database = await NodeDatabase.open(dataDir, identity);
      const log = await LogStore.load(database, START);
      await land(database, log.stageAppend(entryRange(1, 10, 2), undefined));
      await database.write([{ type: 'del', key: logKey(missing) }], { sync: true });
      await assert.rejects(reload({ index: 6, term: 2 }), (error: unknown) => {
        assert.ok(error instanceof CorruptionError, `missing ${missing}: ${String(error)}`);
        assert.match(error.message, new RegExp(`log entry ${missing + 1} where index ${missing} was expected`));
        return true;
      });
    }
  });
});
