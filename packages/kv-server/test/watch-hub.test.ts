// Goal: the watch hub's guarantees (watch-hub.ts header) against a fake
// HistoryReader: ordered, unique, no gap, atomic revisions, replay from the
// past, a start in the future waits, COMPACTED with the compact revision,
// filters and prevKv, progress revisions, shutdown; the race between a
// history read and live revisions; a slow client's memory stays bounded and
// it then catches up with no gap; a snapshot install's skipped revisions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventType, WatchFilter } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import type { RevisionEvents } from '../src/state-machine/ports.js';
import { Outbox } from '../src/watch/outbox.js';
import { type WatchCancel, WatchHub, type WatchOutput } from '../src/watch/watch-hub.js';
import { type WatchSpec, validateWatchCreate } from '../src/watch/watch-spec.js';
import { FakeHistory } from './helpers/fake-history.js';

function spec(key: string, extra: Partial<WatchSpec> = {}): WatchSpec {
  return {
    match: { key: Buffer.from(key), prefix: false },
    startRevision: 0,
    prevKv: false,
    noPut: false,
    noDelete: false,
    progressNotify: false,
    ...extra,
  };
}
const prefix = (key: string, extra: Partial<WatchSpec> = {}): WatchSpec =>
  spec(key, { ...extra, match: { key: Buffer.from(key), prefix: true } });

/** Records what the hub sends one watch; `calls` keeps each output call (= one response's revisions). */
class Recorder implements WatchOutput {
  readonly calls: RevisionEvents[][] = [];
  readonly progresses: number[] = [];
  cancel: WatchCancel | undefined;
  events(revisions: readonly RevisionEvents[]): boolean {
    assert.ok(revisions.length > 0, 'never an empty output');
    this.calls.push([...revisions]);
    return true;
  }
  progress(revision: number): void {
    this.progresses.push(revision);
  }
  cancelled(cancel: WatchCancel): void {
    this.cancel = cancel;
  }
  writable(): Promise<void> {
    return Promise.resolve();
  }
  busy(): boolean {
    return false;
  }
  revisions(): number[] {
    return this.calls.flat().map((r) => r.revision);
  }
  values(): string[] {
    return this.calls
      .flat()
      .flatMap((r) => r.events.map((e) => `${e.kv!.key.toString()}=${e.type === EventType.DELETE ? '-' : e.kv!.value.toString()}`));
  }
}

test('live: key and prefix watches get only their keys, whole revisions, in order', async () => {
  const history = new FakeHistory();
  history.apply({ a: '0' });
  const hub = new WatchHub(history);
  const key = new Recorder();
  const pre = new Recorder();
  const handle = hub.watch(spec('a'), key);
  hub.watch(prefix('b/'), pre);
  assert.equal(handle.createdRevision, 1);
  assert.equal(key.calls.length, 0, 'nothing is sent from watch() itself');
  history.apply({ a: '1', 'b/x': '1' }, { 'b/y': '1' }, { c: '1' }, { 'b/x': null, a: '2', 'b/z': '1' });
  assert.deepEqual(key.values(), ['a=1', 'a=2']);
  assert.deepEqual(key.revisions(), [2, 5]);
  assert.deepEqual(pre.revisions(), [2, 3, 5]);
  const atFive = pre.calls.flat().find((r) => r.revision === 5)!;
  assert.deepEqual(
    atFive.events.map((e) => e.kv!.key.toString()),
    ['b/x', 'b/z'],
    'both events of revision 5, together',
  );
  assert.equal(hub.count(), 2);
  handle.cancel();
  history.apply({ a: '3' });
  assert.deepEqual(key.revisions(), [2, 5], 'a cancelled watch gets nothing');
  assert.equal(hub.count(), 1);
  hub.close();
});

test('fan-out: watches with the same spec each get every revision, including one that started later', async () => {
  const history = new FakeHistory();
  const hub = new WatchHub(history);
  const watches = Array.from({ length: 5 }, () => new Recorder());
  for (const watch of watches.slice(0, 4)) hub.watch(prefix('f/'), watch);
  history.apply({ 'f/a': '1' });
  hub.watch(prefix('f/', { startRevision: 3 }), watches[4]!);
  history.apply({ 'f/b': '2' }, { 'f/c': '3' });
  for (const watch of watches.slice(0, 4)) assert.deepEqual(watch.revisions(), [1, 2, 3]);
  assert.deepEqual(watches[4]!.revisions(), [3]);
  hub.close();
});

test('filters and prevKv: NOPUT / NODELETE drop events; prevKv only when asked', async () => {
  const history = new FakeHistory();
  const hub = new WatchHub(history);
  const noPut = new Recorder();
  const noDelete = new Recorder();
  const withPrev = new Recorder();
  hub.watch(spec('k', { noPut: true }), noPut);
  hub.watch(spec('k', { noDelete: true }), noDelete);
  hub.watch(spec('k', { prevKv: true }), withPrev);
  history.apply({ k: '1' }, { k: '2' }, { k: null });
  assert.deepEqual(noPut.values(), ['k=-']);
  assert.deepEqual(noDelete.values(), ['k=1', 'k=2']);
  assert.ok(
    noDelete.calls.flat().every((r) => r.events.every((e) => e.prevKv === undefined)),
    'no prevKv unless asked',
  );
  assert.deepEqual(
    withPrev.calls.flat().map((r) => r.events[0]!.prevKv?.value.toString()),
    [undefined, '1', '2'],
  );
  hub.close();
});

test('a start in the past replays from history, then live, with no gap or duplicate across a history read racing live revisions', async () => {
  const history = new FakeHistory();
  for (let i = 1; i <= 10; i++) history.apply({ k: `v${i}`, other: `o${i}` });
  const hub = new WatchHub(history, { catchUpEvents: 3 });
  let open!: () => void;
  history.gate = new Promise((resolve) => (open = resolve));
  const watch = new Recorder();
  const handle = hub.watch(spec('k', { startRevision: 4 }), watch);
  assert.equal(handle.createdRevision, 3, 'created names start - 1');
  await waitFor(() => history.reads === 1, { what: 'the first history read to start' });
  // Live revisions while the read is held: the catching-up watch must not take them live.
  history.apply({ k: 'v11' }, { k: 'v12' });
  open();
  history.gate = undefined;
  await waitFor(() => watch.revisions().at(-1) === 12, { what: 'the watch to reach revision 12' });
  history.apply({ k: 'v13' });
  assert.deepEqual(watch.revisions(), [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  assert.ok(history.reads >= 3, 'read in bounded chunks');
  assert.ok(watch.calls.every((call) => call.every((r) => r.events.length === 1 && r.events[0]!.kv!.key.toString() === 'k')));
  hub.close();
});

test('a start in the future waits for its revision', async () => {
  const history = new FakeHistory();
  history.apply({ k: '1' });
  const hub = new WatchHub(history);
  const watch = new Recorder();
  const handle = hub.watch(spec('k', { startRevision: 4 }), watch);
  assert.equal(handle.createdRevision, 1, 'never names a revision the store has not reached');
  history.apply({ k: '2' }, { k: '3' });
  history.apply({ k: '4' }, { k: '5' });
  assert.deepEqual(watch.revisions(), [4, 5]);
  hub.close();
});

test('below the compacted revision: cancelled with COMPACTED and the compact revision, at create or during catch-up', async () => {
  const history = new FakeHistory();
  for (let i = 1; i <= 6; i++) history.apply({ k: `v${i}` });
  history.compacted = 4;
  const hub = new WatchHub(history, { catchUpEvents: 1 });
  const early = new Recorder();
  hub.watch(spec('k', { startRevision: 2 }), early);
  await waitFor(() => early.cancel, { what: 'the cancel' });
  assert.deepEqual(early.cancel, {
    code: 'COMPACTED',
    reason: 'revision 2 is compacted (the oldest readable revision is 4)',
    compactRevision: 4,
  });
  assert.equal(early.calls.length, 0);
  const ok = new Recorder();
  hub.watch(spec('k', { startRevision: 4 }), ok);
  await waitFor(() => ok.revisions().at(-1) === 6, { what: 'revision 6' });
  assert.equal(ok.cancel, undefined, 'the compact revision itself is readable');
  // Compaction overtakes a catch-up between two chunks.
  let open!: () => void;
  history.gate = new Promise((resolve) => (open = resolve));
  const overtaken = new Recorder();
  hub.watch(spec('k', { startRevision: 5 }), overtaken);
  await waitFor(() => history.reads > 0 && history.gate !== undefined, { what: 'the read' });
  history.compacted = 6;
  open();
  await waitFor(() => overtaken.cancel, { what: 'the cancel' });
  assert.equal(overtaken.cancel?.code, 'COMPACTED');
  assert.equal(overtaken.cancel?.compactRevision, 6);
  assert.equal(hub.count(), 1);
  hub.close();
});

test('progress: a notice names a revision up to which everything was sent; a request answers at once', async () => {
  const history = new FakeHistory();
  history.apply({ k: '1' });
  const hub = new WatchHub(history, { progressIntervalMs: 10 });
  const notified = new Recorder();
  const silent = new Recorder();
  const handle = hub.watch(spec('k', { progressNotify: true }), notified);
  hub.watch(spec('k'), silent);
  history.apply({ other: '1' }, { other: '2' });
  await waitFor(() => notified.progresses.includes(3), { what: 'a progress notice at 3' });
  assert.deepEqual(silent.progresses, [], 'only watches that asked get periodic notices');
  const future = new Recorder();
  hub.watch(spec('k', { startRevision: 10 }), future).requestProgress();
  assert.deepEqual(future.progresses, [3], 'never above the store');
  handle.requestProgress();
  assert.equal(notified.progresses.at(-1), 3);
  hub.close();
});

test('close: every watch is cancelled with SHUTTING_DOWN; a watch after close too', async () => {
  const history = new FakeHistory();
  const hub = new WatchHub(history);
  const live = new Recorder();
  hub.watch(spec('k'), live);
  hub.close();
  assert.equal(live.cancel?.code, 'SHUTTING_DOWN');
  const late = new Recorder();
  hub.watch(spec('k'), late);
  await waitFor(() => late.cancel, { what: 'the late cancel' });
  assert.equal(late.cancel?.code, 'SHUTTING_DOWN');
  assert.equal(hub.count(), 0);
});

test('a snapshot install skips revisions: synced watches read them from history, or learn they are compacted', async () => {
  const history = new FakeHistory();
  history.apply({ k: '1' });
  const hub = new WatchHub(history);
  const watch = new Recorder();
  hub.watch(spec('k'), watch);
  history.make({ k: '2' });
  history.make({ k: '3' });
  history.apply({ k: '4' });
  await waitFor(() => watch.revisions().length === 3, { what: 'the skipped revisions' });
  assert.deepEqual(watch.revisions(), [2, 3, 4]);
  history.compacted = 7;
  history.make({ k: '5' });
  history.apply({ k: '6' });
  await waitFor(() => watch.cancel, { what: 'the cancel' });
  assert.equal(watch.cancel?.code, 'COMPACTED');
  hub.close();
});

test('a slow client: its queue stays within the bound while revisions pile up, then it catches up from history with no gap', async () => {
  const history = new FakeHistory();
  const hub = new WatchHub(history, { catchUpEvents: 50 });
  const sent: number[][] = [];
  let accepting = true;
  const drains: Array<() => void> = [];
  const bounds = { bytes: 4096, messages: 5 };
  const cancels: string[] = [];
  const outbox = new Outbox<number[]>(
    {
      write: (revisions) => {
        sent.push(revisions);
        return accepting;
      },
      onDrain: (listener) => drains.push(listener),
    },
    bounds,
  );
  const output: WatchOutput = {
    events: (revisions) =>
      outbox.send(
        1,
        revisions.map((r) => r.revision),
        100,
      ),
    progress: () => undefined,
    cancelled: (cancel) => cancels.push(cancel.code),
    writable: () => outbox.whenWritable(1),
    busy: () => outbox.busy(1),
  };
  hub.watch(spec('k'), output);
  accepting = false; // the client stops reading
  let queuedMax = 0;
  for (let i = 1; i <= 500; i++) {
    history.apply({ k: `v${i}` });
    queuedMax = Math.max(queuedMax, outbox.queuedBytes());
  }
  assert.ok(queuedMax <= bounds.bytes + 100, `queued ${queuedMax} bytes at most`);
  assert.ok(sent.flat().length + queuedMax / 100 < 20, 'the rest waits in history, not in memory');
  const readsBefore = history.reads;
  accepting = true;
  for (const drain of drains) drain();
  await waitFor(() => sent.flat().at(-1) === 500, { what: 'the watch to catch up to 500' });
  assert.ok(history.reads > readsBefore, 'caught up from history');
  history.apply({ k: 'live' });
  assert.deepEqual(
    sent.flat(),
    Array.from({ length: 501 }, (_, i) => i + 1),
    'every revision once, in order',
  );
  assert.deepEqual(cancels, []);
  hub.close();
});

test('validateWatchCreate: an empty key without prefix, a bad filter, a negative watch id are typed errors', () => {
  const base = { key: Buffer.from('k'), prefix: false, startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0 };
  assert.throws(() => validateWatchCreate({ ...base, key: Buffer.alloc(0) }, 100), {
    code: 'INVALID_ARGUMENT',
    message: /key must not be empty/,
  });
  assert.equal(validateWatchCreate({ ...base, key: Buffer.alloc(0), prefix: true }, 100).match.prefix, true);
  assert.throws(() => validateWatchCreate({ ...base, key: Buffer.alloc(101) }, 100), { code: 'KEY_TOO_LARGE' });
  assert.throws(() => validateWatchCreate({ ...base, watchId: -3 }, 100), { code: 'INVALID_ARGUMENT', message: /watch_id/ });
  assert.throws(() => validateWatchCreate({ ...base, filters: [7 as WatchFilter] }, 100), { code: 'INVALID_ARGUMENT', message: /filter/ });
  assert.throws(() => validateWatchCreate({ ...base, startRevision: -1 }, 100), { code: 'INVALID_ARGUMENT', message: /start_revision/ });
});
