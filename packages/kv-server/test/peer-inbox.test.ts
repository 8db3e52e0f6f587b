// Goal: the peer inbox is bounded. A batch that would take it past its bound
// is dropped whole (as a lossy network would drop it; raft retries), the drop
// is reported once at the next drain, and room comes back once the loop has
// drained; reports come before messages; a closed inbox takes nothing.
// Method: a PeerInbox with a small bound, driven directly.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Message, MessageType } from '@cairn/proto';
import { PeerInbox } from '../src/loop/peer-inbox.js';

function message(from: number, index: number): Message {
  return {
    type: MessageType.APP_RESP,
    from,
    to: 1,
    term: 1,
    logTerm: 0,
    index,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot: undefined,
    context: Buffer.alloc(0),
  } as unknown as Message;
}

function drainAll(inbox: PeerInbox): { steps: string[]; dropped: number } {
  const steps: string[] = [];
  const dropped = inbox.drain({
    unreachable: (peer) => steps.push(`unreachable ${peer}`),
    snapshotStatus: (peer, ok) => steps.push(`snapshot ${peer} ${ok}`),
    message: (m) => steps.push(`message ${m.from}/${m.index}`),
  });
  return { steps, dropped };
}

describe('PeerInbox', () => {
  test('a batch past the bound is dropped whole and reported at the next drain; draining makes room', () => {
    let arrivals = 0;
    const inbox = new PeerInbox(3, () => (arrivals += 1));
    assert.equal(inbox.push([message(2, 1), message(2, 2)]), 'queued');
    assert.equal(inbox.push([message(3, 1), message(3, 2)]), 'dropped', 'two more would make four of three');
    assert.equal(inbox.push([message(3, 3)]), 'queued', 'one more still fits');
    assert.equal(inbox.push([message(3, 4)]), 'dropped');
    assert.equal(inbox.size, 3);
    assert.equal(arrivals, 2, 'only what was queued wakes the loop');

    const first = drainAll(inbox);
    assert.deepEqual(first.steps, ['message 2/1', 'message 2/2', 'message 3/3']);
    assert.equal(first.dropped, 2);
    assert.equal(inbox.size, 0);
    assert.equal(inbox.push([message(2, 3), message(2, 4), message(2, 5)]), 'queued', 'room again once drained');
    assert.equal(drainAll(inbox).dropped, 0, 'a drop is reported once');
  });

  test('reports are stepped before messages; a closed inbox takes nothing', () => {
    const inbox = new PeerInbox(10, () => undefined);
    inbox.push([message(2, 7)]);
    inbox.unreachable(3);
    inbox.snapshotStatus(2, true);
    assert.deepEqual(drainAll(inbox).steps, ['unreachable 3', 'snapshot 2 true', 'message 2/7']);
    assert.equal(inbox.hasWork(), false);

    inbox.push([message(2, 8)]);
    inbox.close();
    assert.equal(inbox.push([message(2, 9)]), 'closed');
    inbox.unreachable(3);
    assert.equal(inbox.hasWork(), false);
  });
});
