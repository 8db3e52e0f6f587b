// Goal: MemoryStorage implements the LogReader contract (index conventions,
// compaction errors, byte limits) and the write operations the simulator
// builds on (append truncating conflicts, snapshots, compaction).
// Method: direct unit tests.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, SnapshotOutOfDateError, StorageCompactedError, StorageUnavailableError, type NodeId } from '../src/index.js';
import { entry } from './helpers/manual.js';

const conf = { voters: [1, 2, 3], learners: [], votersOutgoing: [] };

function storageWith(count: number): MemoryStorage {
  const storage = MemoryStorage.create([1, 2, 3] as NodeId[]);
  storage.append(Array.from({ length: count }, (_, i) => entry(i + 1, 1, `v${i + 1}`)));
  return storage;
}

describe('MemoryStorage', () => {
  test('a fresh storage is empty with the given configuration', () => {
    const storage = MemoryStorage.create([1, 2] as NodeId[], [3] as NodeId[]);
    assert.equal(storage.firstIndex(), 1);
    assert.equal(storage.lastIndex(), 0);
    assert.equal(storage.term(0), 0);
    assert.deepEqual(storage.initialState().confState.voters, [1, 2]);
    assert.deepEqual(storage.initialState().confState.learners, [3]);
  });

  test('append truncates a conflicting suffix', () => {
    const storage = storageWith(5);
    storage.append([entry(3, 2, 'x')]);
    assert.equal(storage.lastIndex(), 3);
    assert.equal(storage.term(3), 2);
  });

  test('append refuses a gap', () => {
    const storage = storageWith(2);
    assert.throws(() => storage.append([entry(5, 1)]));
  });

  test('entries respects bounds and the byte limit', () => {
    const storage = storageWith(5);
    assert.deepEqual(
      storage.entries(2, 5, Infinity).map((e) => e.index),
      [2, 3, 4],
    );
    assert.equal(storage.entries(2, 5, 3).length, 1, 'v2 is 2 bytes; adding v3 would pass 3');
    assert.throws(() => storage.entries(2, 9, Infinity), StorageUnavailableError);
    assert.throws(() => storage.term(6), StorageUnavailableError);
  });

  test('compaction keeps the term of the last compacted entry and refuses older reads', () => {
    const storage = storageWith(5);
    storage.createSnapshot(3, conf, Buffer.from('s'));
    storage.compact(3);
    assert.equal(storage.firstIndex(), 4);
    assert.equal(storage.term(3), 1);
    assert.throws(() => storage.term(2), StorageCompactedError);
    assert.throws(() => storage.entries(3, 5, Infinity), StorageCompactedError);
    assert.throws(() => storage.compact(2), StorageCompactedError);
    assert.deepEqual(
      storage.entries(4, 6, Infinity).map((e) => e.index),
      [4, 5],
    );
  });

  test('snapshots must move forward', () => {
    const storage = storageWith(5);
    storage.createSnapshot(3, conf, Buffer.from('s'));
    assert.throws(() => storage.createSnapshot(2, conf, Buffer.from('t')), SnapshotOutOfDateError);
  });

  test('applySnapshot replaces the log and adopts the snapshot configuration', () => {
    const storage = storageWith(2);
    storage.applySnapshot({
      data: Buffer.from('s'),
      metadata: { index: 10, term: 4, confState: { voters: [1, 5], learners: [], votersOutgoing: [] } },
    });
    assert.equal(storage.firstIndex(), 11);
    assert.equal(storage.lastIndex(), 10);
    assert.equal(storage.term(10), 4);
    assert.deepEqual(storage.initialState().confState.voters, [1, 5]);
    assert.throws(() => storage.applySnapshot({ data: Buffer.alloc(0), metadata: { index: 5, term: 4 } }), SnapshotOutOfDateError);
  });

  test('append after a snapshot ignores entries it covers', () => {
    const storage = storageWith(0);
    storage.applySnapshot({ data: Buffer.alloc(0), metadata: { index: 3, term: 1, confState: conf } });
    storage.append([entry(2, 1), entry(3, 1), entry(4, 1)]);
    assert.equal(storage.firstIndex(), 4);
    assert.equal(storage.lastIndex(), 4);
  });
});
