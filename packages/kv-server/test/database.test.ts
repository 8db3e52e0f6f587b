// Goal: the node's database verifies the data dir's identity on open: a
// newer format, a database without identity records, or a data dir of another
// cluster or node refuse to start with a clear one-line message.
// Method: real LevelDB in a temp dir; damage records through classic-level,
// then reopen.
import { beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterMismatchError, FailedPreconditionError, NodeIdMismatchError } from '../src/errors.js';
import { encodeRecord } from '../src/storage/codec.js';
import { NodeDatabase } from '../src/storage/database.js';
import { metaKey } from '../src/storage/keys.js';
import { freshDir, withRawDatabase } from './helpers/storage-dir.js';

const identity = { clusterId: 'stable', nodeId: 3 };

describe('NodeDatabase identity', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await freshDir('database');
  });

  test('a data dir written by a newer format is refused', async () => {
    await (await NodeDatabase.open(dataDir, identity)).close();
    await withRawDatabase(dataDir, async (db) => {
      const key = metaKey('format-version');
      await db.put(key, encodeRecord(key, Buffer.from([0, 0, 0, 99])));
    });
    await assert.rejects(NodeDatabase.open(dataDir, identity), (error: unknown) => {
      assert.ok(error instanceof FailedPreconditionError);
      assert.match(error.message, /newer Cairn \(format 99/);
      assert.equal(error.message.includes('\n'), false);
      return true;
    });
  });

  test('a database with data but no identity records is refused', async () => {
    await withRawDatabase(dataDir, async (db) => {
      await db.put(Buffer.from('stray'), Buffer.from('x'));
    });
    await assert.rejects(NodeDatabase.open(dataDir, identity), /has data but no format version record/);
  });

  test('a data dir of another cluster or node is refused', async () => {
    await (await NodeDatabase.open(dataDir, identity)).close();
    await assert.rejects(NodeDatabase.open(dataDir, { clusterId: 'other', nodeId: 3 }), (error: unknown) => {
      assert.ok(error instanceof ClusterMismatchError);
      assert.match(error.message, /belongs to cluster stable, but the flags say cluster other;/);
      return true;
    });
    await assert.rejects(NodeDatabase.open(dataDir, { clusterId: 'stable', nodeId: 2 }), NodeIdMismatchError);
    // The refusal left the dir usable by its rightful owner.
    await (await NodeDatabase.open(dataDir, identity)).close();
  });
});
