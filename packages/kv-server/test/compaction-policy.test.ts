// Goal: log compaction keeps a catch-up margin behind the applied index and
// waits for a live follower that is behind (catching up or installing a
// snapshot), within a bound, so a snapshot sent is not made stale at once.
// Method: the pure decision function, at its boundaries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMPACTION_HOLD_MAX_FACTOR } from '../src/limits.js';
import { compactionIndex } from '../src/loop/snapshotter.js';

const base = { appliedIndex: 100_000, snapshotEntries: 10_000 };

test('without followers behind, compaction keeps half of snapshotEntries after it', () => {
  assert.equal(compactionIndex({ ...base, followers: [] }), 95_000);
  assert.equal(compactionIndex({ ...base, followers: [{ matchIndex: 100_000, recentActive: true }] }), 95_000);
});

test('a live follower behind holds compaction at its match index', () => {
  assert.equal(
    compactionIndex({
      ...base,
      followers: [
        { matchIndex: 90_000, recentActive: true },
        { matchIndex: 100_000, recentActive: true },
      ],
    }),
    90_000,
  );
});

test('an inactive follower holds nothing, and no follower holds more than the bound', () => {
  assert.equal(compactionIndex({ ...base, followers: [{ matchIndex: 1_000, recentActive: false }] }), 95_000);
  const later = { ...base, appliedIndex: 1_000_000 };
  const floor = later.appliedIndex - COMPACTION_HOLD_MAX_FACTOR * later.snapshotEntries;
  assert.ok(floor > 1_000);
  assert.equal(compactionIndex({ ...later, followers: [{ matchIndex: 1_000, recentActive: true }] }), floor);
});
