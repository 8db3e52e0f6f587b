import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventType, type KeyValue as WireKeyValue, type WatchResponse } from '@cairn/proto';
import { Clerk, CompactedError, UnavailableError, type WatchEvent } from '../src/index.js';
import { type FakeStream, FakeStreamTransport } from './fake-streams.js';

const ENDPOINTS = ['a:1', 'b:1', 'c:1'];

function kv(key: string, revision: number, value = `v${revision}`): WireKeyValue {
  return {
    key: Buffer.from(key),
    value: Buffer.from(value),
    version: 1,
    createIndex: 0,
    modIndex: 0,
    createRevision: revision,
    modRevision: revision,
    lease: 0,
  };
}

function response(fields: Partial<WatchResponse> & { revision: number }): WatchResponse {
  const { revision, ...rest } = fields;
  return {
    header: { memberId: 1, term: 1, appliedIndex: 0, leaderId: 1, revision, clusterId: '' },
    watchId: 1,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: '',
    cancelCode: '',
    events: [],
    ...rest,
  };
}

function put(key: string, revision: number): WatchResponse {
  return response({ revision, events: [{ type: EventType.PUT, kv: kv(key, revision) }] });
}

function startRevisionOf(stream: FakeStream<'watch'>): number | undefined {
  return stream.written[0]?.createRequest?.startRevision;
}

async function take(iterator: AsyncIterator<WatchEvent>, n: number): Promise<WatchEvent[]> {
  const events: WatchEvent[] = [];
  for (let i = 0; i < n; i++) {
    const next = await iterator.next();
    if (next.done === true) break;
    events.push(next.value);
  }
  return events;
}

test('a watch resumes on another member from the revision after the last one delivered, dropping replayed events', async () => {
  const transport = new FakeStreamTransport();
  const clerk = Clerk.lazy({ endpoints: ENDPOINTS, membersRefreshMs: 0 }, { transport });
  transport.onOpen = (stream) => {
    const watch = stream as FakeStream<'watch'>;
    const streams = transport.streamsOf('watch');
    if (streams.length === 1) {
      watch.send(response({ revision: 4, created: true }));
      watch.send(put('cfg/a', 5));
      watch.send(put('cfg/b', 6));
      watch.end(new UnavailableError('node died'));
    } else {
      // The new member replays revision 6 too: it must not be delivered twice.
      watch.send(response({ revision: 7, created: true }));
      watch.send(put('cfg/b', 6));
      watch.send(put('cfg/c', 7));
    }
  };
  const watch = clerk.watch('cfg/', { prefix: true });
  try {
    const events = await take(watch, 3);
    assert.deepEqual(
      events.map((event) => `${event.type} ${event.key.toString()} @${event.revision}`),
      ['put cfg/a @5', 'put cfg/b @6', 'put cfg/c @7'],
    );
    const [first, second] = transport.streamsOf('watch');
    assert.equal(startRevisionOf(first!), 0, 'a watch from now asks for the next revision');
    assert.equal(startRevisionOf(second!), 7, 'the resumed watch starts after the last revision delivered');
    assert.notEqual(first!.address, second!.address, 'resumed on another member');
    assert.equal(watch.revision, 7);
  } finally {
    clerk.close();
  }
});

test('a watch from now that fails before any event resumes from the revision the node named when it was created', async () => {
  const transport = new FakeStreamTransport();
  const clerk = Clerk.lazy({ endpoints: ENDPOINTS, membersRefreshMs: 0 }, { transport });
  transport.onOpen = (stream) => {
    const watch = stream as FakeStream<'watch'>;
    if (transport.streamsOf('watch').length === 1) {
      watch.send(response({ revision: 10, created: true }));
      watch.end(new UnavailableError('node died'));
    } else {
      watch.send(response({ revision: 12, created: true }));
      watch.send(put('k', 11));
    }
  };
  const watch = clerk.watch('k');
  try {
    const [event] = await take(watch, 1);
    assert.equal(event?.revision, 11);
    assert.equal(startRevisionOf(transport.streamsOf('watch')[1]!), 11);
  } finally {
    clerk.close();
  }
});

test('a watch with fromRevision asks for it; a progress notification advances the resume point', async () => {
  const transport = new FakeStreamTransport();
  const clerk = Clerk.lazy({ endpoints: ENDPOINTS, membersRefreshMs: 0 }, { transport });
  transport.onOpen = (stream) => {
    const watch = stream as FakeStream<'watch'>;
    if (transport.streamsOf('watch').length === 1) {
      watch.send(response({ revision: 20, created: true }));
      watch.send(put('k', 3));
      watch.send(response({ revision: 20 })); // progress: nothing else up to 20
      watch.end(new UnavailableError('node died'));
    } else {
      watch.send(response({ revision: 21, created: true }));
      watch.send(put('k', 21));
    }
  };
  const watch = clerk.watch('k', { fromRevision: 2, progressNotify: true });
  try {
    const events = await take(watch, 2);
    assert.deepEqual(
      events.map((event) => event.revision),
      [3, 21],
    );
    const [first, second] = transport.streamsOf('watch');
    assert.equal(startRevisionOf(first!), 2);
    assert.equal(first!.written[0]?.createRequest?.progressNotify, true);
    assert.equal(startRevisionOf(second!), 21);
  } finally {
    clerk.close();
  }
});

test('a watch cancelled as compacted throws CompactedError naming the compact revision, after the events before it', async () => {
  const transport = new FakeStreamTransport();
  const clerk = Clerk.lazy({ endpoints: ENDPOINTS, membersRefreshMs: 0 }, { transport });
  transport.onOpen = (stream) => {
    const watch = stream as FakeStream<'watch'>;
    watch.send(put('k', 3));
    watch.send(response({ revision: 9, canceled: true, cancelCode: 'COMPACTED', compactRevision: 8, cancelReason: 'compacted' }));
  };
  const watch = clerk.watch('k', { fromRevision: 3 });
  try {
    assert.equal((await watch.next()).value?.revision, 3);
    await assert.rejects(watch.next(), (error: unknown) => error instanceof CompactedError && error.compactRevision === 8);
    assert.equal(transport.streamsOf('watch').length, 1, 'a compacted watch is not resumed');
  } finally {
    clerk.close();
  }
});

test('aborting the signal ends the loop cleanly and cancels the stream; delete events carry the deleting revision', async () => {
  const transport = new FakeStreamTransport();
  const clerk = Clerk.lazy({ endpoints: ENDPOINTS, membersRefreshMs: 0 }, { transport });
  transport.onOpen = (stream) => {
    const watch = stream as FakeStream<'watch'>;
    watch.send(response({ revision: 1, created: true }));
    watch.send(
      response({ revision: 2, events: [{ type: EventType.DELETE, kv: { ...kv('k', 2, ''), createRevision: 1 }, prevKv: kv('k', 1) }] }),
    );
  };
  const controller = new AbortController();
  const seen: WatchEvent[] = [];
  try {
    for await (const event of clerk.watch('k', { prevKv: true, filters: ['noPut'], signal: controller.signal })) {
      seen.push(event);
      controller.abort();
    }
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.type, 'delete');
    assert.equal(seen[0]?.revision, 2);
    assert.equal(seen[0]?.prevKv?.value.toString(), 'v1');
    const stream = transport.streamsOf('watch')[0]!;
    assert.equal(stream.cancelled, true);
    assert.deepEqual(stream.written[0]?.createRequest?.filters, [1]);
  } finally {
    clerk.close();
  }
});

test('a silent watch stream is probed for progress and, unanswered, replaced on another member', async () => {
  const transport = new FakeStreamTransport();
  const clerk = Clerk.lazy({ endpoints: ENDPOINTS, membersRefreshMs: 0, requestTimeoutMs: 50 }, { transport });
  transport.onOpen = (stream) => {
    const watch = stream as FakeStream<'watch'>;
    // The first member accepts the stream and then says nothing, as a partitioned node would.
    if (transport.streamsOf('watch').length > 1) watch.send(put('k', 4));
  };
  const watch = clerk.watch('k', { fromRevision: 4 });
  // A real stream keeps the process alive (the watch's own timers do not); the fake one does not.
  const alive = setInterval(() => undefined, 1_000);
  try {
    const [event] = await take(watch, 1);
    assert.equal(event?.revision, 4);
    const [silent, second] = transport.streamsOf('watch');
    assert.ok(
      silent!.written.some((request) => request.progressRequest !== undefined),
      'the silent stream was asked for progress',
    );
    assert.equal(silent!.cancelled, true);
    assert.equal(startRevisionOf(second!), 4);
  } finally {
    clearInterval(alive);
    clerk.close();
  }
});
