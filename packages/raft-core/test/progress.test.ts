// Goal: Progress flow control (probe/replicate/snapshot) and the bounded
// Inflights ring behave as in etcd's tracker.
// Method: direct unit tests on Progress and Inflights.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Inflights, Progress } from '../src/progress.js';

const newProgress = (matchIndex = 0, nextIndex = 1, inflightsMax = 3) =>
  new Progress({ matchIndex, nextIndex, inflightsMax, isLearner: false });

describe('Inflights', () => {
  test('fills up to its capacity and frees by acknowledged index, wrapping around', () => {
    const inflights = new Inflights(3);
    inflights.add(1);
    inflights.add(2);
    inflights.add(3);
    assert.equal(inflights.full(), true);
    assert.throws(() => inflights.add(4));
    inflights.freeLE(2);
    assert.equal(inflights.size, 1);
    inflights.add(4);
    inflights.add(5);
    assert.equal(inflights.full(), true);
    inflights.freeFirstOne();
    assert.equal(inflights.size, 2);
    inflights.freeLE(100);
    assert.equal(inflights.size, 0);
  });
});

describe('Progress', () => {
  test('a probe sends one message and then pauses until answered', () => {
    const progress = newProgress(0, 5);
    assert.equal(progress.isPaused(), false);
    progress.sentEntries(2, 6);
    assert.equal(progress.isPaused(), true);
    assert.equal(progress.nextIndex, 5, 'probing does not advance nextIndex optimistically');
    assert.equal(progress.maybeUpdate(6), true);
    assert.equal(progress.isPaused(), false);
  });

  test('replicate state advances nextIndex optimistically and pauses when the window is full', () => {
    const progress = newProgress(4, 5, 2);
    progress.becomeReplicate();
    progress.sentEntries(2, 6);
    assert.equal(progress.nextIndex, 7);
    progress.sentEntries(1, 7);
    assert.equal(progress.isPaused(), true);
    progress.maybeUpdate(6);
    progress.inflights.freeLE(6);
    assert.equal(progress.isPaused(), false);
    assert.equal(progress.matchIndex, 6);
  });

  test('a rejection in replicate state falls back to matchIndex + 1; stale rejections are ignored', () => {
    const progress = newProgress(5, 6);
    progress.becomeReplicate();
    progress.sentEntries(4, 9);
    assert.equal(progress.maybeDecrTo(4, 4), false, 'stale: below match');
    assert.equal(progress.maybeDecrTo(7, 7), true);
    assert.equal(progress.nextIndex, 6);
  });

  test('a rejection in probe state jumps back to the hint but never below matchIndex + 1', () => {
    const progress = newProgress(2, 10);
    assert.equal(progress.maybeDecrTo(8, 5), false, 'stale: not the probe we sent');
    assert.equal(progress.maybeDecrTo(9, 5), true);
    assert.equal(progress.nextIndex, 6);
    assert.equal(progress.maybeDecrTo(5, 0), true);
    assert.equal(progress.nextIndex, 3);
  });

  test('snapshot state pauses sending and resumes after the snapshot', () => {
    const progress = newProgress(2, 3);
    progress.becomeSnapshot(50);
    assert.equal(progress.isPaused(), true);
    progress.becomeProbe();
    assert.equal(progress.nextIndex, 51);
    assert.equal(progress.pendingSnapshot, 0);
  });
});
