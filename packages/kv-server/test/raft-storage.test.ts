// Goal: RaftStorage, the composition of the log, hard state and snapshot
// stores, persists one Ready in one batch, compacts and installs snapshots
// across the three stores alike, and reopens as it was left.
// Method: real LevelDB in a temp dir; write through the public API, close,
// reopen and compare; put back records a crash could leave, through NodeDatabase.
// (Each store alone: log-store, hard-state-store, snapshot-store and database tests.)
import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Entry } from '@cairn/proto';
import { SnapshotTemporarilyUnavailableError, StorageCompactedError } from '@cairn/raft-core';
import { RaftStorage } from '../src/storage/raft-storage.js';
import { logKey } from '../src/storage/keys.js';
import { NodeDatabase } from '../src/storage/database.js';
import { CorruptionError } from '../src/errors.js';
import { entry, entryRange, freshDir, logIndexes, snapshotFiles, storedHardState } from './helpers/storage-dir.js';

const identity = { clusterId: 'test-cluster', nodeId: 1 };

describe('RaftStorage', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await freshDir('raft-storage');
  });

  test('entries and hard state round-trip and survive reopen', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    await storage.write({ entries: entryRange(1, 5, 1), hardState: { term: 1, vote: 1, commit: 3 } }, { sync: true });
    assert.equal(storage.lastIndex(), 5);
    assert.equal(storage.term(4), 1);
    assert.deepEqual(
      storage.entries(2, 4, 1 << 20).map((e) => e.data.toString()),
      ['e2', 'e3'],
    );
    await storage.close();

    const reopened = await RaftStorage.open(dataDir, identity);
    assert.equal(reopened.firstIndex(), 1);
    assert.equal(reopened.lastIndex(), 5);
    assert.deepEqual(
      reopened.entries(1, 6, 1 << 20).map((e) => e.data.toString()),
      ['e1', 'e2', 'e3', 'e4', 'e5'],
    );
    assert.deepEqual(reopened.initialState().hardState, { term: 1, vote: 1, commit: 3 });
    await reopened.close();
  });

  test('a commit-only hard state is kept in memory, rides along with the next write, and is saved on close', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    await storage.write({ entries: entryRange(1, 5, 1), hardState: { term: 1, vote: 1, commit: 1 } }, { sync: true });
    await storage.write({ hardState: { term: 1, vote: 1, commit: 3 } }, { sync: false });
    assert.deepEqual(storage.initialState().hardState, { term: 1, vote: 1, commit: 3 }, 'the mirror moves at once');
    // Not written yet: what a crash now would leave on disk is the older commit.
    assert.deepEqual(await storedHardState(storage.database), { term: 1, vote: 1, commit: 1 });
    await storage.write({ entries: entryRange(6, 6, 1) }, { sync: true });
    assert.deepEqual(await storedHardState(storage.database), { term: 1, vote: 1, commit: 3 }, 'rode along with the append');
    await storage.write({ hardState: { term: 1, vote: 1, commit: 4 } }, { sync: false });
    // A vote or term change is never deferred.
    await storage.write({ hardState: { term: 2, vote: 0, commit: 4 } }, { sync: true });
    assert.deepEqual(await storedHardState(storage.database), { term: 2, vote: 0, commit: 4 });
    await storage.write({ hardState: { term: 2, vote: 0, commit: 5 } }, { sync: false });
    await storage.close();
    const reopened = await RaftStorage.open(dataDir, identity);
    assert.deepEqual(reopened.initialState().hardState, { term: 2, vote: 0, commit: 5 }, 'close saved it');
    await reopened.close();
  });

  test('createSnapshot compacts the log behind it and keeps the data', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    await storage.write({ entries: entryRange(1, 10, 2), hardState: { term: 2, vote: 1, commit: 8 } }, { sync: true });
    const confState = { voters: [1, 2, 3], learners: [], votersOutgoing: [] };
    await storage.createSnapshot(7, confState, Buffer.from('state-at-7'));
    assert.equal(storage.firstIndex(), 8);
    assert.equal(storage.lastIndex(), 10);
    assert.equal(storage.term(7), 2);
    assert.throws(() => storage.term(6), StorageCompactedError);
    assert.throws(() => storage.entries(5, 9, 100), StorageCompactedError);
    await storage.close();

    const reopened = await RaftStorage.open(dataDir, identity);
    assert.equal(reopened.firstIndex(), 8);
    assert.equal(reopened.lastIndex(), 10);
    const snapshot = reopened.snapshot();
    assert.equal(snapshot.data.toString(), 'state-at-7');
    assert.deepEqual(snapshot.metadata, { index: 7, term: 2, confState });
    await reopened.close();
  });

  test('compact drops the log behind the applied index without a file; raft asking for it gets a retry and a build request', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    await storage.write({ entries: entryRange(1, 10, 2), hardState: { term: 2, vote: 1, commit: 9 } }, { sync: true });
    const confState = { voters: [1, 2], learners: [], votersOutgoing: [] };
    await storage.compact(8, confState);
    assert.equal(storage.firstIndex(), 9);
    assert.equal(storage.term(8), 2);
    assert.deepEqual(storage.snapshotInfo(), { index: 8, term: 2, hasFile: false, servable: false });
    assert.deepEqual(await logIndexes(storage.database), [9, 10]);
    let wanted = 0;
    storage.onSnapshotWanted = () => (wanted += 1);
    assert.throws(() => storage.snapshot(), SnapshotTemporarilyUnavailableError);
    assert.equal(wanted, 1);
    assert.deepEqual(await snapshotFiles(dataDir), []);
    await storage.close();

    // Restarts as it was: compacted, no file, nothing refused.
    const reopened = await RaftStorage.open(dataDir, identity);
    assert.equal(reopened.firstIndex(), 9);
    assert.deepEqual(reopened.snapshotInfo(), { index: 8, term: 2, hasFile: false, servable: false });
    // The file built on demand for that same index completes the snapshot.
    const prepared = await reopened.prepareSnapshot(8, [Buffer.from('state-at-8')]);
    await reopened.recordSnapshot(prepared, confState);
    assert.deepEqual(reopened.snapshotInfo(), { index: 8, term: 2, hasFile: true, servable: true });
    assert.equal(reopened.firstIndex(), 9, 'recording the file compacts nothing more');
    assert.equal(reopened.snapshot().data.toString(), 'state-at-8');
    await reopened.close();

    const again = await RaftStorage.open(dataDir, identity);
    assert.equal(again.snapshot().data.toString(), 'state-at-8');
    // A later compaction makes the file useless: it goes.
    await again.write({ entries: [], hardState: { term: 2, vote: 1, commit: 10 } }, { sync: true });
    await again.compact(10, confState);
    assert.deepEqual(again.snapshotInfo(), { index: 10, term: 2, hasFile: false, servable: false });
    assert.deepEqual(await snapshotFiles(dataDir), []);
    await again.close();
  });

  test('a snapshot file that does not list a member added since is not sent; a newer one is asked for', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    const two = { voters: [1, 2], learners: [], votersOutgoing: [] };
    await storage.saveMembership(two, []);
    await storage.write({ entries: entryRange(1, 10, 2), hardState: { term: 2, vote: 1, commit: 10 } }, { sync: true });
    await storage.recordSnapshot(await storage.prepareSnapshot(6, [Buffer.from('state-at-6')]), two);
    assert.equal(storage.snapshotInfo().servable, true);
    assert.equal(storage.snapshot().data.toString(), 'state-at-6');

    // Node 3 joins as a learner: it would refuse a snapshot that does not list it.
    await storage.saveMembership({ voters: [1, 2], learners: [3], votersOutgoing: [] }, []);
    assert.deepEqual(storage.snapshotInfo(), { index: 6, term: 2, hasFile: true, servable: false });
    let wanted = 0;
    storage.onSnapshotWanted = () => (wanted += 1);
    assert.throws(() => storage.snapshot(), SnapshotTemporarilyUnavailableError);
    assert.equal(wanted, 1);

    // A newer file that lists it is sent; promoting it later needs no new file (the log carries that).
    await storage.recordSnapshot(await storage.prepareSnapshot(9, [Buffer.from('state-at-9')]), {
      voters: [1, 2],
      learners: [3],
      votersOutgoing: [],
    });
    assert.equal(storage.snapshot().data.toString(), 'state-at-9');
    await storage.saveMembership({ voters: [1, 2, 3], learners: [], votersOutgoing: [] }, []);
    assert.equal(storage.snapshotInfo().servable, true);
    await storage.close();
  });

  test('a snapshot streamed in chunks is recorded, served from its file, and checksummed', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    await storage.write({ entries: entryRange(1, 10, 2), hardState: { term: 2, vote: 1, commit: 10 } }, { sync: true });
    const confState = { voters: [1], learners: [], votersOutgoing: [] };
    async function* chunks(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 5; i++) yield Buffer.from(`chunk${i};`);
    }
    const prepared = await storage.prepareSnapshot(6, chunks());
    assert.deepEqual(prepared, { index: 6, term: 2, bytes: 35 });
    assert.equal(storage.firstIndex(), 1, 'preparing writes only the file; the log is untouched');
    await storage.recordSnapshot(prepared, confState);
    assert.equal(storage.firstIndex(), 7);
    assert.equal(storage.snapshot().data.toString(), 'chunk0;chunk1;chunk2;chunk3;chunk4;');
    assert.equal(storage.snapshotSizeBytes(), 35);
    // A snapshot prepared at or below the current one is dropped along with its file.
    const stale = await storage.prepareSnapshot(8, [Buffer.from('newer')]);
    await storage.recordSnapshot(stale, confState);
    const older = { ...stale, index: 6 };
    await storage.recordSnapshot(older, confState);
    assert.equal(storage.snapshot().data.toString(), 'newer');
    await storage.close();

    const file = path.join(dataDir, 'snapshots', 'snapshot-8-2.snap');
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    await writeFile(file, bytes);
    await assert.rejects(
      RaftStorage.open(dataDir, identity),
      (error: unknown) => error instanceof CorruptionError && /checksum/.test(error.message),
    );
  });

  test('a snapshot from the leader replaces the whole log', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    await storage.write({ entries: entryRange(1, 3, 1) }, { sync: true });
    const confState = { voters: [1, 2], learners: [3], votersOutgoing: [] };
    await storage.write(
      {
        snapshot: { data: Buffer.from('leader-state'), metadata: { index: 20, term: 4, confState } },
        entries: [entry(21, 4)],
        hardState: { term: 4, vote: 0, commit: 20 },
      },
      { sync: true },
    );
    assert.equal(storage.firstIndex(), 21);
    assert.equal(storage.lastIndex(), 21);
    assert.deepEqual(storage.confState(), confState);
    await storage.close();

    const reopened = await RaftStorage.open(dataDir, identity);
    assert.equal(reopened.lastIndex(), 21);
    assert.equal(reopened.term(20), 4);
    assert.equal(reopened.snapshot().data.toString(), 'leader-state');
    assert.deepEqual(reopened.initialState().confState, confState);
    await reopened.close();
  });

  test('log records left at or below the snapshot by an interrupted compaction are skipped and deleted on open', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    await storage.write({ entries: entryRange(1, 10, 2), hardState: { term: 2, vote: 1, commit: 10 } }, { sync: true });
    const confState = { voters: [1], learners: [], votersOutgoing: [] };
    await storage.createSnapshot(6, confState, Buffer.from('state-at-6'));
    await storage.close();

    // A crash between the snapshot metadata batch and the range delete: put the
    // compacted records back, framed exactly as the log writes them.
    const database = await NodeDatabase.open(dataDir, identity);
    assert.equal(await database.db.get(logKey(3)), undefined, 'createSnapshot should have deleted the compacted records');
    await database.write(
      entryRange(1, 6, 2).map((e) => NodeDatabase.putRecord(logKey(e.index), Entry.encode(e).finish())),
      { sync: true },
    );
    assert.deepEqual(await logIndexes(database), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await database.close();

    const reopened = await RaftStorage.open(dataDir, identity);
    assert.equal(reopened.firstIndex(), 7);
    assert.equal(reopened.lastIndex(), 10);
    assert.equal(reopened.term(6), 2);
    assert.deepEqual(
      reopened.entries(7, 11, 1 << 20).map((e) => e.data.toString()),
      ['e7', 'e8', 'e9', 'e10'],
    );
    assert.throws(() => reopened.entries(3, 8, 1 << 20), StorageCompactedError);
    assert.deepEqual(reopened.initialState().hardState, { term: 2, vote: 1, commit: 10 });
    assert.equal(reopened.snapshot().data.toString(), 'state-at-6');
    // The leftovers are gone from LevelDB, not just ignored.
    assert.deepEqual(await logIndexes(reopened.database), [7, 8, 9, 10]);
    assert.equal(await reopened.database.db.get(logKey(3)), undefined);
    await reopened.close();

    const again = await RaftStorage.open(dataDir, identity);
    assert.equal(again.firstIndex(), 7);
    assert.equal(again.lastIndex(), 10);
    await again.close();
  });

  test('a gap above the snapshot still refuses to open, with or without compaction leftovers', async () => {
    for (const missing of [7, 8]) {
      const dir = await freshDir('raft-storage');
      const storage = await RaftStorage.open(dir, identity);
      await storage.write({ entries: entryRange(1, 10, 2), hardState: { term: 2, vote: 1, commit: 10 } }, { sync: true });
      await storage.createSnapshot(6, { voters: [1], learners: [], votersOutgoing: [] }, Buffer.from('state-at-6'));
      await storage.close();

      const database = await NodeDatabase.open(dir, identity);
      await database.write(
        [
          ...entryRange(1, 6, 2).map((e) => NodeDatabase.putRecord(logKey(e.index), Entry.encode(e).finish())),
          { type: 'del' as const, key: logKey(missing) },
        ],
        { sync: true },
      );
      await database.close();

      await assert.rejects(RaftStorage.open(dir, identity), (error: unknown) => {
        assert.ok(error instanceof CorruptionError, `missing ${missing}: ${String(error)}`);
        assert.match(error.message, new RegExp(`log entry ${missing + 1} where index ${missing} was expected`));
        return true;
      });
    }
  });
});
