// Goal: RaftLog (durable storage plus unstable tail) implements the log rules:
// consistency check, conflict truncation, commit bounds, findConflictByTerm,
// durable-only committed entries, and compaction awareness.
// Method: RaftLog over a MemoryStorage filled by hand.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionError } from '@cairn/proto';
import { MemoryStorage, type NodeId } from '../src/index.js';
import { RaftLog } from '../src/raft-log.js';
import { entry } from './helpers/manual.js';

function logWith(stored: Array<[number, number]>, unstable: Array<[number, number]> = []): RaftLog {
  const storage = MemoryStorage.create([1] as NodeId[]);
  storage.append(stored.map(([i, t]) => entry(i, t)));
  const log = new RaftLog(storage);
  log.append(unstable.map(([i, t]) => entry(i, t)));
  return log;
}

describe('RaftLog', () => {
  test('spans storage and the unstable tail', () => {
    const log = logWith(
      [
        [1, 1],
        [2, 1],
      ],
      [[3, 2]],
    );
    assert.equal(log.firstIndex(), 1);
    assert.equal(log.lastIndex(), 3);
    assert.equal(log.term(2), 1);
    assert.equal(log.term(3), 2);
    assert.equal(log.term(4), undefined);
    assert.deepEqual(
      log.slice(1, 4, Infinity)!.map((e) => e.index),
      [1, 2, 3],
    );
  });

  test('maybeAppend rejects a mismatching previous entry', () => {
    const log = logWith([
      [1, 1],
      [2, 1],
    ]);
    assert.equal(log.maybeAppend(2, 2, 0, [entry(3, 2)]), undefined);
    assert.equal(log.lastIndex(), 2);
  });

  test('maybeAppend truncates a conflicting suffix and commits up to the last new entry', () => {
    const log = logWith([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    assert.equal(log.maybeAppend(1, 1, 10, [entry(2, 2)]), 2);
    assert.equal(log.lastIndex(), 2);
    assert.equal(log.term(2), 2);
    assert.equal(log.committed, 2, 'commit is capped at the last new entry');
  });

  test('maybeAppend with entries already present changes nothing', () => {
    const log = logWith([
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    assert.equal(log.maybeAppend(1, 1, 0, [entry(2, 1)]), 2);
    assert.equal(log.lastIndex(), 3, 'the matching suffix is kept');
  });

  test('overwriting a committed entry is an assertion failure', () => {
    const log = logWith([
      [1, 1],
      [2, 1],
    ]);
    log.commitTo(2);
    assert.throws(() => log.append([entry(2, 2)]), AssertionError);
    assert.throws(() => log.commitTo(5), AssertionError);
  });

  test('findConflictByTerm skips back over entries with a larger term', () => {
    const log = logWith([
      [1, 1],
      [2, 1],
      [3, 3],
      [4, 3],
      [5, 5],
    ]);
    assert.deepEqual(log.findConflictByTerm(5, 4), { index: 4, term: 3 });
    assert.deepEqual(log.findConflictByTerm(5, 2), { index: 2, term: 1 });
    assert.deepEqual(log.findConflictByTerm(5, 0), { index: 0, term: 0 });
  });

  test('isUpToDate compares last term, then last index (§5.4.1)', () => {
    const log = logWith([
      [1, 1],
      [2, 2],
    ]);
    assert.equal(log.isUpToDate(1, 3), true);
    assert.equal(log.isUpToDate(2, 2), true);
    assert.equal(log.isUpToDate(1, 2), false);
    assert.equal(log.isUpToDate(10, 1), false);
  });

  test('committed entries are handed out only once durable', () => {
    const storage = MemoryStorage.create([1] as NodeId[]);
    storage.append([entry(1, 1)]);
    const log = new RaftLog(storage);
    log.append([entry(2, 1), entry(3, 1)]);
    log.commitTo(3);
    assert.deepEqual(
      log.nextCommittedEntries(Infinity).map((e) => e.index),
      [1],
    );
    storage.append(log.unstable.entries);
    log.stableTo(3, 1);
    log.applying = 1;
    assert.deepEqual(
      log.nextCommittedEntries(Infinity).map((e) => e.index),
      [2, 3],
    );
  });

  test('stableTo ignores an index whose entry was replaced meanwhile', () => {
    const log = logWith(
      [],
      [
        [1, 1],
        [2, 1],
      ],
    );
    log.append([entry(2, 2)]);
    assert.equal(log.stableTo(2, 1), false);
    assert.equal(log.unstable.offset, 1);
  });

  test('compacted ranges report undefined so the leader sends a snapshot', () => {
    const storage = MemoryStorage.create([1] as NodeId[]);
    storage.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    storage.createSnapshot(2, { voters: [1], learners: [], votersOutgoing: [] }, Buffer.from('s'));
    storage.compact(2);
    const log = new RaftLog(storage);
    assert.equal(log.firstIndex(), 3);
    assert.equal(log.term(2), 1, 'the snapshot term stays available');
    assert.equal(log.term(1), undefined);
    assert.equal(log.slice(1, 4, Infinity), undefined);
    assert.equal(log.committed, 2, 'the snapshot is committed');
  });

  test('slices respect the byte limit but always return one entry', () => {
    const storage = MemoryStorage.create([1] as NodeId[]);
    storage.append([entry(1, 1, 'aaaa'), entry(2, 1, 'bbbb'), entry(3, 1, 'cccc')]);
    const log = new RaftLog(storage);
    log.append([entry(4, 1, 'dddd')]);
    assert.equal(log.slice(1, 5, 0)!.length, 1);
    assert.equal(log.slice(1, 5, 8)!.length, 2);
    assert.equal(log.slice(3, 5, 8)!.length, 2, 'across the storage/unstable boundary');
    assert.equal(log.slice(1, 5, Infinity)!.length, 4);
  });
});
