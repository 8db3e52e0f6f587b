// Goal: a local snapshot waits for --snapshot-entries entries and, with a large
// state, for the log to hold half the last snapshot's size (capped by the memory
// the mirrored log may use), so snapshots cannot run back to back.
// Method: the pure decision function, at the boundaries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOG_RETAINED_BYTES_MAX } from '../src/limits.js';
import { isSnapshotDue } from '../src/node.js';

const MiB = 1024 * 1024;

test('a small state snapshots every snapshotEntries entries', () => {
  const small = { snapshotEntries: 10_000, logBytes: 3 * MiB, snapshotBytes: 1 * MiB };
  assert.equal(isSnapshotDue({ ...small, entriesSince: 9_999 }), false);
  assert.equal(isSnapshotDue({ ...small, entriesSince: 10_000 }), true);
  assert.equal(isSnapshotDue({ ...small, entriesSince: 10_000, snapshotBytes: 0 }), true, 'the first snapshot');
});

test('a large state waits until the log holds half the snapshot, or the memory cap', () => {
  const large = { entriesSince: 50_000, snapshotEntries: 10_000, snapshotBytes: 40 * MiB };
  assert.equal(isSnapshotDue({ ...large, logBytes: 20 * MiB - 1 }), false);
  assert.equal(isSnapshotDue({ ...large, logBytes: 20 * MiB }), true);
  const huge = { ...large, snapshotBytes: 1024 * MiB };
  assert.equal(isSnapshotDue({ ...huge, logBytes: LOG_RETAINED_BYTES_MAX - 1 }), false);
  assert.equal(isSnapshotDue({ ...huge, logBytes: LOG_RETAINED_BYTES_MAX }), true, 'the cap bounds the mirrored log');
});
