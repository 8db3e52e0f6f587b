// Goal: the snapshotter's one state walks idle → wanted → building → built →
// recording → idle; a request raft makes while a record is written is kept
// for after it; compaction runs only when idle; a snapshot built before a
// leader's snapshot is restored is dropped, never recorded.
// Method: a real Snapshotter over fake storage and state machine whose
// snapshot writes are promises the test settles.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfState } from '@cairn/proto';
import { createLogger } from '../src/logger.js';
import { Members } from '../src/loop/members.js';
import { Snapshotter } from '../src/loop/snapshotter.js';

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function harness(options: { snapshotEntries?: number; recordServes?: boolean } = {}) {
  const calls: string[] = [];
  const events: string[] = [];
  let compactedAt = 0;
  let servable = false;
  let applied = 10;
  const prepares: Array<ReturnType<typeof deferred<{ index: number; bytes: number }>>> = [];
  const record = deferred<void>();
  const storage = {
    onSnapshotWanted: () => undefined,
    snapshotIndex: () => compactedAt,
    snapshotInfo: () => ({ index: compactedAt, term: 1, hasFile: servable, servable }),
    snapshotSizeBytes: () => 0,
    prepareSnapshot: (index: number) => {
      calls.push(`prepare ${index}`);
      const d = deferred<{ index: number; bytes: number }>();
      prepares.push(d);
      return d.promise;
    },
    recordSnapshot: async (prepared: { index: number }) => {
      calls.push(`record ${prepared.index}`);
      await record.promise;
      compactedAt = prepared.index;
      servable = options.recordServes ?? true;
    },
    compact: async (index: number) => {
      calls.push(`compact ${index}`);
      compactedAt = index;
    },
  };
  const view = { close: async () => undefined, async *[Symbol.asyncIterator]() {} };
  const confState: ConfState = { voters: [1], learners: [], votersOutgoing: [] } as unknown as ConfState;
  const snapshotter = new Snapshotter({
    snapshotEntries: options.snapshotEntries ?? 1_000,
    storage: storage as never,
    stateMachine: { snapshot: () => view as never },
    membership: { confState, members: Members.fromList([]) },
    appliedIndex: () => applied,
    followers: () => [],
    stopped: () => false,
    wake: () => undefined,
    events: { event: (kind, fields) => events.push(`${kind} ${String(fields.index)}`) },
    logger: createLogger('error', {}, () => undefined),
  });
  return { snapshotter, calls, events, prepares, record, setApplied: (index: number) => (applied = index) };
}

const drained = (): Promise<void> => Promise.resolve();
/** Lets the snapshot's promise callbacks run (they are microtasks). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Snapshotter', () => {
  test('a wanted snapshot is built in the background, recorded by a turn, and a request during the record waits for after it', async () => {
    // The recorded file does not serve raft's later request (say it asks for a newer one).
    const h = harness({ recordServes: false });
    assert.equal(h.snapshotter.hasWork(), false);
    h.snapshotter.want();
    assert.equal(h.snapshotter.hasWork(), true, 'wanted: a build is due');
    h.snapshotter.maybeStartBuild();
    assert.deepEqual(h.calls, ['prepare 10']);
    assert.equal(h.snapshotter.hasWork(), false, 'building: nothing for a turn yet');
    h.snapshotter.want();
    h.snapshotter.maybeStartBuild();
    assert.deepEqual(h.calls, ['prepare 10'], 'asked again while building: the one under way serves');

    h.prepares[0]!.resolve({ index: 10, bytes: 5 });
    await settle();
    assert.equal(h.snapshotter.hasWork(), true, 'built: a turn records it');
    const turn = h.snapshotter.turn(drained);
    h.snapshotter.want(); // raft asks while the record is written
    h.snapshotter.maybeStartBuild();
    assert.deepEqual(h.calls, ['prepare 10', 'record 10'], 'no build starts while recording');
    h.record.resolve();
    await turn;
    assert.equal(h.snapshotter.index, 10);
    assert.deepEqual(h.events, ['snapshot-taken 10']);
    // The request made during the record was kept: the same turn starts its build once the record is written.
    assert.deepEqual(h.calls, ['prepare 10', 'record 10', 'prepare 10']);
    assert.equal(h.snapshotter.hasWork(), false, 'building again');
  });

  test('compaction runs when idle and enough entries are applied, not while a snapshot is wanted', async () => {
    const h = harness({ snapshotEntries: 100 });
    h.setApplied(250);
    h.snapshotter.want();
    await h.snapshotter.turn(async () => {
      assert.deepEqual(h.calls, [], 'the build waits for the apply chain');
    });
    assert.deepEqual(h.calls, ['prepare 250'], 'wanted: built, not compacted');
    h.prepares[0]!.resolve({ index: 250, bytes: 1 });
    await settle();
    await h.snapshotter.beforeRestore();
    assert.equal(h.snapshotter.hasWork(), false, 'a snapshot built before a restore is dropped');
    h.snapshotter.restored(300);
    h.setApplied(420);
    await h.snapshotter.turn(drained);
    assert.deepEqual(h.calls, ['prepare 250', 'compact 370'], 'idle: compacted half of snapshotEntries behind the applied index');
    assert.equal(h.snapshotter.index, 370);
  });
});
