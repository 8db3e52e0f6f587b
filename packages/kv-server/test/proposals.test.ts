// Goal: every proposal that is not applied fails with the timeout error, and
// only those: one shared timer must re-arm for the proposals after the
// oldest, and again after the tracker was emptied; a proposal applied with
// another term fails as lost; rejectAll fails everything left. Linearizable
// reads are bounded: past the bound a read is refused at once, and a slot
// frees when a read is released, times out or is rejected.
// Method: a real ProposalTracker and ReadTracker with short timeouts;
// outcomes are awaited with a deadline, never slept on.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@cairn/testkit';
import { ProposalTracker, ReadTracker } from '../src/loop/proposals.js';

class Timeout extends Error {}
class Lost extends Error {}
class TooMany extends Error {}

function outcomes(): { waiter: (name: string) => { resolve(v: string): void; reject(e: Error): void }; seen: Map<string, string> } {
  const seen = new Map<string, string>();
  return {
    seen,
    waiter: (name) => ({
      resolve: (value) => seen.set(name, `ok:${value}`),
      reject: (error) => seen.set(name, error instanceof Timeout ? 'timeout' : error instanceof Lost ? 'lost' : `error:${error.message}`),
    }),
  };
}

describe('ProposalTracker', () => {
  test('unapplied proposals time out, applied ones do not, and the timer re-arms after the tracker empties', async () => {
    const tracker = new ProposalTracker<string>(() => new Timeout(), 30);
    const { waiter, seen } = outcomes();
    tracker.add(1, 2, waiter('a'));
    tracker.add(2, 2, waiter('b'));
    tracker.add(3, 2, waiter('c'));
    tracker.settle(2, 2, { value: 'two' }, () => new Lost());
    tracker.settle(3, 9, { value: 'three' }, () => new Lost());
    await waitFor(() => seen.size === 3, { deadlineMs: 5_000, what: 'every outcome' });
    assert.deepEqual(Object.fromEntries(seen), { a: 'timeout', b: 'ok:two', c: 'lost' });
    assert.equal(tracker.size, 0);

    // Emptied by settling: a later proposal still gets its timeout.
    tracker.add(4, 2, waiter('d'));
    tracker.settle(4, 2, { error: new Error('rejected by the state machine') }, () => new Lost());
    tracker.add(5, 2, waiter('e'));
    await waitFor(() => seen.has('e'), { deadlineMs: 5_000, what: 'the later proposal to time out' });
    assert.equal(seen.get('d'), 'error:rejected by the state machine');
    assert.equal(seen.get('e'), 'timeout');
  });

  test('proposals added while older ones wait expire too, each once', async () => {
    const tracker = new ProposalTracker<string>(() => new Timeout(), 30);
    const { waiter, seen } = outcomes();
    tracker.add(1, 1, waiter('first'));
    await waitFor(() => seen.has('first'), { deadlineMs: 5_000, what: 'the first to time out' });
    tracker.add(2, 1, waiter('second'));
    tracker.add(3, 1, waiter('third'));
    await waitFor(() => seen.size === 3, { deadlineMs: 5_000, what: 'the later ones to time out' });
    assert.deepEqual([...seen.values()], ['timeout', 'timeout', 'timeout']);
    // A settle after the timeout finds nothing to settle.
    tracker.settle(2, 1, { value: 'late' }, () => new Lost());
    assert.equal(seen.get('second'), 'timeout');
  });

  test('a proposal displaced at its index is failed, not dropped', () => {
    const tracker = new ProposalTracker<string>(() => new Timeout(), 60_000);
    const { waiter, seen } = outcomes();
    tracker.add(7, 1, waiter('old'));
    tracker.add(7, 2, waiter('new'));
    assert.equal(seen.get('old'), 'timeout');
    tracker.settle(7, 2, { value: 'seven' }, () => new Lost());
    assert.equal(seen.get('new'), 'ok:seven');
    assert.equal(tracker.size, 0);
  });

  test('rejectAll fails every waiting proposal with its error', () => {
    const tracker = new ProposalTracker<string>(() => new Timeout(), 60_000);
    const { waiter, seen } = outcomes();
    tracker.add(1, 1, waiter('x'));
    tracker.add(2, 1, waiter('y'));
    tracker.rejectAll(() => new Error('leadership changed'));
    assert.deepEqual(Object.fromEntries(seen), { x: 'error:leadership changed', y: 'error:leadership changed' });
    assert.equal(tracker.size, 0);
  });
});

describe('ReadTracker', () => {
  const readWaiter = (name: string, seen: Map<string, string>): { resolve(): void; reject(e: Error): void } => ({
    resolve: () => seen.set(name, 'ok'),
    reject: (error) =>
      seen.set(name, error instanceof TooMany ? 'too-many' : error instanceof Timeout ? 'timeout' : `error:${error.message}`),
  });

  test('past its bound a read is refused at once; released, timed-out and rejected reads free their slots', async () => {
    const reads = new ReadTracker(
      () => new Timeout(),
      2,
      () => new TooMany(),
    );
    const seen = new Map<string, string>();
    reads.enqueue(readWaiter('a', seen));
    reads.enqueue(readWaiter('b', seen));
    reads.enqueue(readWaiter('c', seen));
    assert.equal(seen.get('c'), 'too-many');
    assert.equal(reads.size, 2);

    // Confirmed and applied: both slots free.
    const context = reads.takeBatch(60_000)!;
    reads.confirmed(context, 5);
    reads.applied(5);
    assert.deepEqual([seen.get('a'), seen.get('b')], ['ok', 'ok']);
    assert.equal(reads.size, 0);

    // Timed out while confirming: the slot frees.
    reads.enqueue(readWaiter('d', seen));
    reads.takeBatch(20);
    await waitFor(() => seen.has('d'), { deadlineMs: 5_000, what: 'the read to time out' });
    assert.equal(seen.get('d'), 'timeout');
    assert.equal(reads.size, 0);

    // Rejected (a step-down), queued or confirming: every slot frees.
    reads.enqueue(readWaiter('e', seen));
    reads.takeBatch(60_000);
    reads.enqueue(readWaiter('f', seen));
    reads.rejectAll(() => new Error('not the leader'));
    assert.deepEqual([seen.get('e'), seen.get('f')], ['error:not the leader', 'error:not the leader']);
    assert.equal(reads.size, 0);
    reads.enqueue(readWaiter('g', seen));
    reads.enqueue(readWaiter('h', seen));
    assert.equal(seen.has('g') || seen.has('h'), false, 'both fit again');
    reads.rejectAll(() => new Error('stopped'));
  });
});
