// Goal: SnapshotStore records the snapshot the log is compacted behind, with
// or without a file, serves its file only when it lists every member, and
// refuses a damaged file or a file marker that names another index.
// Method: real LevelDB and snapshot files in a temp dir; stage writes through
// SnapshotStore and land them as RaftStorage does, reload, and damage the
// marker record through NodeDatabase and the file through fs.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CorruptionError } from '../src/errors.js';
import { NodeDatabase } from '../src/storage/database.js';
import { SNAPSHOT_FILE_ABSENT_KEY } from '../src/storage/keys.js';
import { SnapshotStore } from '../src/storage/snapshot-store.js';
import { freshDir, land, snapshotFiles } from './helpers/storage-dir.js';

const identity = { clusterId: 'test-cluster', nodeId: 1 };
const ONE = { voters: [1], learners: [], votersOutgoing: [] };

describe('SnapshotStore', () => {
  let dataDir: string;
  let database: NodeDatabase;
  beforeEach(async () => {
    dataDir = await freshDir('snapshot-store');
    database = await NodeDatabase.open(dataDir, identity);
  });
  afterEach(async () => {
    await database.close();
  });

  async function reload(): Promise<SnapshotStore> {
    await database.close();
    database = await NodeDatabase.open(dataDir, identity);
    return SnapshotStore.load(database);
  }

  test('a prepared file, once recorded, is served and survives reopen; a file-less record is not servable', async () => {
    const snapshots = await SnapshotStore.load(database);
    assert.deepEqual(snapshots.info(ONE), { index: 0, term: 0, hasFile: false, servable: true });
    await land(database, snapshots.stageRecord({ index: 4, term: 1, confState: ONE }, undefined));
    assert.deepEqual(snapshots.info(ONE), { index: 4, term: 1, hasFile: false, servable: false });
    assert.equal(snapshots.completedBy(4), true, 'a file for the same index completes it');
    const prepared = await snapshots.prepare(4, 1, [Buffer.from('chunk0;'), Buffer.from('chunk1;')]);
    assert.deepEqual(prepared, { index: 4, term: 1, bytes: 14 });
    await land(database, snapshots.stageRecord({ index: 4, term: 1, confState: ONE }, prepared.bytes));
    assert.deepEqual(snapshots.info(ONE), { index: 4, term: 1, hasFile: true, servable: true });
    assert.equal(snapshots.read().data.toString(), 'chunk0;chunk1;');
    assert.equal(snapshots.sizeBytes(), 14);
    const reopened = await reload();
    assert.deepEqual(reopened.base(), { index: 4, term: 1 });
    assert.equal(reopened.read().data.toString(), 'chunk0;chunk1;');
  });

  test('a file that does not list a current member is not servable', async () => {
    const snapshots = await SnapshotStore.load(database);
    const prepared = await snapshots.prepare(6, 2, [Buffer.from('state-at-6')]);
    await land(
      database,
      snapshots.stageRecord({ index: 6, term: 2, confState: { voters: [1, 2], learners: [], votersOutgoing: [] } }, prepared.bytes),
    );
    assert.equal(snapshots.servable({ voters: [1, 2], learners: [], votersOutgoing: [] }), true);
    assert.equal(snapshots.servable({ voters: [1, 2], learners: [3], votersOutgoing: [] }), false);
  });

  test('files other than the current snapshot are removed', async () => {
    const snapshots = await SnapshotStore.load(database);
    const first = await snapshots.prepare(3, 1, [Buffer.from('three')]);
    await land(database, snapshots.stageRecord({ index: 3, term: 1, confState: ONE }, first.bytes));
    const second = await snapshots.prepare(5, 1, [Buffer.from('five')]);
    await land(database, snapshots.stageRecord({ index: 5, term: 1, confState: ONE }, second.bytes));
    await snapshots.removeOtherFiles();
    assert.deepEqual(await snapshotFiles(dataDir), ['snapshot-5-1.snap']);
    await land(database, snapshots.stageRecord({ index: 8, term: 1, confState: ONE }, undefined));
    await snapshots.removeOtherFiles();
    assert.deepEqual(await snapshotFiles(dataDir), [], 'a file-less compaction leaves no file');
  });

  test('a compaction marker that names another index is refused as corruption', async () => {
    const snapshots = await SnapshotStore.load(database);
    await land(database, snapshots.stageRecord({ index: 4, term: 1, confState: ONE }, undefined));
    await database.write([NodeDatabase.putRecord(SNAPSHOT_FILE_ABSENT_KEY, Buffer.from([0, 0, 0, 0, 0, 0, 0, 3]))], { sync: true });
    await assert.rejects(reload(), (error: unknown) => {
      assert.ok(error instanceof CorruptionError);
      assert.match(error.message, /snapshot file marker/);
      return true;
    });
  });

  test('a damaged snapshot file is refused', async () => {
    const snapshots = await SnapshotStore.load(database);
    const prepared = await snapshots.prepare(1, 1, [Buffer.from('snapshot-bytes')]);
    await land(
      database,
      snapshots.stageRecord({ index: 1, term: 1, confState: { voters: [3], learners: [], votersOutgoing: [] } }, prepared.bytes),
    );
    const directory = path.join(dataDir, 'snapshots');
    const [name] = await readdir(directory);
    assert.ok(name);
    const file = path.join(directory, name);
    const bytes = await readFile(file);
    bytes[bytes.length - 2]! ^= 0x01;
    await writeFile(file, bytes);
    await assert.rejects(reload(), /snapshot file .* failed its checksum/);
  });
});
