// Goal: the data dir's identity and stable records are verified on open: a
// newer format, a damaged hard state, a damaged snapshot file or a database
// without identity records refuse to start with a clear one-line message.
// Method: real LevelDB in a temp dir; damage records through classic-level
// and the snapshot file through fs, then reopen.
import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { EntryType } from '@cairn/proto';
import { RaftStorage } from '../src/storage/raft-storage.js';
import { encodeRecord } from '../src/storage/codec.js';
import { HARD_STATE_KEY, metaKey } from '../src/storage/keys.js';
import { CorruptionError, FailedPreconditionError } from '../src/errors.js';

const identity = { clusterId: 'stable', nodeId: 3 };
const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function withRawDatabase(dataDir: string, change: (db: ClassicLevel<Buffer, Buffer>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(path.join(dataDir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  await change(db);
  await db.close();
}

describe('stable records', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'cairn-stable-'));
    tempDirs.push(dataDir);
  });

  test('a data dir written by a newer format is refused', async () => {
    await (await RaftStorage.open(dataDir, identity)).close();
    await withRawDatabase(dataDir, async (db) => {
      const key = metaKey('format-version');
      await db.put(key, encodeRecord(key, Buffer.from([0, 0, 0, 99])));
    });
    await assert.rejects(RaftStorage.open(dataDir, identity), (error: unknown) => {
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
    await assert.rejects(RaftStorage.open(dataDir, identity), /has data but no format version record/);
  });

  test('a damaged hard state is refused', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    await storage.write({ hardState: { term: 5, vote: 3, commit: 0 } }, { sync: true });
    await storage.close();
    await withRawDatabase(dataDir, async (db) => {
      const stored = (await db.get(HARD_STATE_KEY))!;
      stored[stored.length - 1]! ^= 0x10;
      await db.put(HARD_STATE_KEY, stored);
    });
    await assert.rejects(RaftStorage.open(dataDir, identity), (error: unknown) => {
      assert.ok(error instanceof CorruptionError);
      assert.match(error.message, /hard state failed its checksum/);
      return true;
    });
  });

  test('a damaged snapshot file is refused', async () => {
    const storage = await RaftStorage.open(dataDir, identity);
    await storage.write(
      { entries: [{ index: 1, term: 1, type: EntryType.NORMAL, data: Buffer.from('x') }], hardState: { term: 1, vote: 3, commit: 1 } },
      { sync: true },
    );
    await storage.createSnapshot(1, { voters: [3], learners: [], votersOutgoing: [] }, Buffer.from('snapshot-bytes'));
    await storage.close();
    const directory = path.join(dataDir, 'snapshots');
    const [name] = await readdir(directory);
    assert.ok(name);
    const file = path.join(directory, name);
    const bytes = await readFile(file);
    bytes[bytes.length - 2]! ^= 0x01;
    await writeFile(file, bytes);
    await assert.rejects(RaftStorage.open(dataDir, identity), /snapshot file .* failed its checksum/);
  });
});
