// Goal: HardStateStore keeps raft's hard state (with the disk-loss fence),
// the conf state and the member addresses durably, keeps a commit-only change
// in memory until the next write, and refuses a damaged hard state.
// Method: real LevelDB in a temp dir; stage writes through HardStateStore and
// land them as RaftStorage does, reload from the same database, and damage the
// stored record through classic-level.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CorruptionError } from '../src/errors.js';
import { NodeDatabase } from '../src/storage/database.js';
import { HardStateStore } from '../src/storage/hard-state-store.js';
import { HARD_STATE_KEY } from '../src/storage/keys.js';
import { freshDir, land, storedHardState, withRawDatabase } from './helpers/storage-dir.js';

const identity = { clusterId: 'test-cluster', nodeId: 1 };

describe('HardStateStore', () => {
  let dataDir: string;
  let database: NodeDatabase;
  beforeEach(async () => {
    dataDir = await freshDir('hard-state-store');
    database = await NodeDatabase.open(dataDir, identity);
  });
  afterEach(async () => {
    await database.close();
  });

  async function reload(): Promise<HardStateStore> {
    await database.close();
    database = await NodeDatabase.open(dataDir, identity);
    return HardStateStore.load(database);
  }

  test('a new data dir starts with a zero hard state and no members', async () => {
    const stable = await HardStateStore.load(database);
    assert.deepEqual(stable.current(), { term: 0, vote: 0, commit: 0 });
    assert.deepEqual(stable.confState(), { voters: [], learners: [], votersOutgoing: [] });
    assert.deepEqual(stable.members(), []);
  });

  test('a commit-only change is kept in memory until a write takes it along', async () => {
    const stable = await HardStateStore.load(database);
    await land(database, stable.stage({ term: 1, vote: 1, commit: 1 })!);
    assert.equal(stable.stage(undefined), undefined, 'nothing unwritten');
    assert.equal(stable.keepCommitOnly({ term: 1, vote: 1, commit: 3 }), true);
    assert.deepEqual(stable.current(), { term: 1, vote: 1, commit: 3 }, 'the mirror moves at once');
    assert.deepEqual(await storedHardState(database), { term: 1, vote: 1, commit: 1 });
    assert.equal(stable.keepCommitOnly({ term: 2, vote: 0, commit: 3 }), false, 'a term or vote change is never deferred');
    await land(database, stable.stage(undefined)!);
    assert.deepEqual(await storedHardState(database), { term: 1, vote: 1, commit: 3 });
    assert.equal(stable.stage(undefined), undefined);
  });

  test('the recovering fence and its flagged term survive a reopen (docs/disk-loss.md)', async () => {
    const stable = await HardStateStore.load(database);
    await land(database, stable.stage({ term: 3, vote: 0, commit: 0, recovering: true, flaggedTerm: 3 })!);
    const reopened = await reload();
    assert.deepEqual(reopened.current(), { term: 3, vote: 0, commit: 0, recovering: true, flaggedTerm: 3 });
    await land(database, reopened.stage({ term: 3, vote: 0, commit: 2, flaggedTerm: 3 })!);
    const recovered = await reload();
    assert.deepEqual(recovered.current(), { term: 3, vote: 0, commit: 2, flaggedTerm: 3 }, 'the fence is lifted durably');
  });

  test('membership survives reopen', async () => {
    const stable = await HardStateStore.load(database);
    const members = [
      { id: 2, peerAddress: '127.0.0.1:2', clientAddress: '127.0.0.1:12', httpAddress: '', learner: false },
      { id: 1, peerAddress: '127.0.0.1:1', clientAddress: '127.0.0.1:11', httpAddress: '127.0.0.1:21', learner: false },
    ];
    await land(database, stable.stageMembership({ voters: [1, 2], learners: [], votersOutgoing: [] }, members));
    assert.deepEqual(stable.members(), [members[1], members[0]], 'sorted by id');
    await land(database, stable.stageMembership({ voters: [1], learners: [], votersOutgoing: [] }, [members[1]!]));
    const reopened = await reload();
    assert.deepEqual(reopened.members(), [members[1]]);
    assert.deepEqual(reopened.confState().voters, [1]);
  });

  test('a damaged hard state is refused', async () => {
    const stable = await HardStateStore.load(database);
    await land(database, stable.stage({ term: 5, vote: 3, commit: 0 })!);
    await database.close();
    await withRawDatabase(dataDir, async (db) => {
      const stored = (await db.get(HARD_STATE_KEY))!;
      stored[stored.length - 1]! ^= 0x10;
      await db.put(HARD_STATE_KEY, stored);
    });
    database = await NodeDatabase.open(dataDir, identity);
    await assert.rejects(HardStateStore.load(database), (error: unknown) => {
      assert.ok(error instanceof CorruptionError);
      assert.match(error.message, /hard state failed its checksum/);
      return true;
    });
  });
});
