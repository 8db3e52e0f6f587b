import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventType, type KeyValue as WireKeyValue, type RangeRequest } from '@cairn/proto';
import { Clerk, Mutex, Session } from '../src/index.js';
import { type FakeStream, FakeStreamTransport } from './fake-streams.js';

const header = (revision: number) => ({ memberId: 1, term: 1, appliedIndex: 5, leaderId: 1, revision, clusterId: '' });

function kv(key: string, createRevision: number, modRevision = createRevision): WireKeyValue {
  return { key: Buffer.from(key), value: Buffer.alloc(0), version: 1, createIndex: 0, modIndex: 0, createRevision, modRevision, lease: 0 };
}

test('a waiter that lists while its predecessor is deleted still sees the delete (the listing revision may already count it)', async () => {
  const LEASE = 0x2a;
  const mine = `locks/m/${LEASE.toString(16)}`;
  let ranges = 0;
  const transport = new FakeStreamTransport((_address, method, request) => {
    switch (method) {
      case 'leaseGrant':
        return { header: header(7), id: LEASE, ttl: 60 };
      case 'txn':
        return { header: header(8), succeeded: true, responses: [{ put: { header: header(8), version: 1 } }] };
      case 'range': {
        ranges += 1;
        assert.equal((request as RangeRequest).prefix.toString(), 'locks/m/');
        // The node read the predecessor before its delete (revision 11) was applied, but named revision 12.
        if (ranges === 1) return { header: header(12), kvs: [kv('locks/m/1', 5), kv(mine, 8)], more: false };
        return { header: header(12), kvs: [kv(mine, 8)], more: false };
      }
      case 'get':
        return { header: header(12), kv: kv(mine, 8) };
      default:
        return { header: header(12) };
    }
  });
  transport.onOpen = (stream) => {
    if (stream.method !== 'watch') return;
    const watch = stream as FakeStream<'watch'>;
    const create = watch.written[0]?.createRequest;
    // History replay: the delete at 11 reaches only a watch that starts at or before it.
    if (create !== undefined && create.startRevision <= 11) {
      watch.send({
        header: header(12),
        watchId: 1,
        created: false,
        canceled: false,
        compactRevision: 0,
        cancelReason: '',
        cancelCode: '',
        events: [{ type: EventType.DELETE, kv: kv('locks/m/1', 5, 11) }],
      });
    }
  };
  const clerk = Clerk.lazy({ endpoints: ['a:1'], membersRefreshMs: 0 }, { transport });
  const alive = setInterval(() => undefined, 1_000);
  try {
    const session = await Session.create(clerk, { ttl: 60 });
    const held = await new Mutex(session, 'locks/m').lock({ signal: AbortSignal.timeout(5_000) });
    assert.deepEqual(held, { key: mine, fencingRevision: 8 });
    const watched = transport.streamsOf('watch')[0]!.written[0]?.createRequest;
    assert.equal(watched?.key.toString(), 'locks/m/1', 'the waiter watches its predecessor only');
    assert.deepEqual(watched?.filters, [1], 'for deletes only');
  } finally {
    clearInterval(alive);
    clerk.close();
  }
});
