// Shared by the storage tests: temp data dirs, log entries, and raw looks at
// what LevelDB and the snapshot directory hold.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ClassicLevel } from 'classic-level';
import { type Entry, EntryType, HardState } from '@cairn/proto';
import type { NodeDatabase } from '../../src/storage/database.js';
import { HARD_STATE_KEY, logIndexOfKey, PREFIX, prefixRange } from '../../src/storage/keys.js';
import type { StagedWrite } from '../../src/storage/staged-write.js';

const tempDirs: string[] = [];
after(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A new temp data dir, removed after the test file. */
export async function freshDir(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), `cairn-${name}-`));
  tempDirs.push(dir);
  return dir;
}

export function entry(index: number, term: number, text = `e${index}`): Entry {
  return { index, term, type: EntryType.NORMAL, data: Buffer.from(text) };
}

export function entryRange(from: number, to: number, term: number): Entry[] {
  const result: Entry[] = [];
  for (let index = from; index <= to; index++) result.push(entry(index, term));
  return result;
}

/** Writes a store's staged write and moves its mirror, as RaftStorage does. */
export async function land(database: NodeDatabase, staged: StagedWrite): Promise<void> {
  await database.write(staged.ops, { sync: true });
  staged.onWritten();
}

/** The snapshot files in a data dir. */
export async function snapshotFiles(dataDir: string): Promise<string[]> {
  const names = await readdir(path.join(dataDir, 'snapshots')).catch(() => []);
  return names.filter((name) => name.endsWith('.snap'));
}

/** The indexes of every log record in LevelDB, in key order. */
export async function logIndexes(database: NodeDatabase): Promise<number[]> {
  const indexes: number[] = [];
  for await (const key of database.db.keys(prefixRange(Buffer.of(PREFIX.log)))) indexes.push(logIndexOfKey(key));
  return indexes;
}

/** The hard state record as LevelDB holds it. */
export async function storedHardState(database: NodeDatabase): Promise<HardState> {
  const payload = await database.getRecord(HARD_STATE_KEY, 'hard state');
  assert.ok(payload !== undefined);
  // The decoder sets absent optional fields (recovering, flaggedTerm) to undefined: leave them out, as the storage does.
  return Object.fromEntries(Object.entries(HardState.decode(payload)).filter(([, value]) => value !== undefined)) as HardState;
}

/** Opens data-dir/db with classic-level directly (no checks), to damage records. */
export async function withRawDatabase(dataDir: string, change: (db: ClassicLevel<Buffer, Buffer>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<Buffer, Buffer>(path.join(dataDir, 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  await change(db);
  await db.close();
}
