// Goal: the gRPC WatchService and the HTTP SSE watch on a real 3-node
// cluster: served by a follower from its applied state; created first, then
// whole revisions in order; cancel; node- and client-chosen watch ids; an
// invalid create is a typed cancel and the stream stays open; replay from the
// past with prevKv and filters; COMPACTED with the compact revision; progress;
// SSE format, Last-Event-ID resume and the compacted cancel; /keys listing and
// the /keyvalue page; a client that does not read keeps the node's queued
// bytes within the per-watch bound, then catches up with no gap; a stopping
// node ends its watches with SHUTTING_DOWN.
// Method: TestCluster processes; writes with unary Put on the leader (the
// reply's header names its revision); watches through WatchStreamClient and
// a plain node:http SSE reader.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type CompactResponse, type DeleteResponse, EventType, type PutResponse, WatchFilter } from '@cairn/proto';
import { metricSum, type NodeProcess, TestCluster, unaryCall, waitFor } from '@cairn/testkit';
import { WATCH_BUFFER_BYTES_MAX } from '../src/limits.js';
import { SseClient, WatchStreamClient } from './helpers/watch-client.js';

describe('WatchService and SSE watches', () => {
  let cluster: TestCluster;
  let leader: NodeProcess;
  let follower: NodeProcess;
  const streams: Array<{ close(): void }> = [];

  before(async () => {
    cluster = await TestCluster.start({ size: 3 });
    leader = await cluster.waitForLeader();
    follower = cluster.nodes.find((n) => n !== leader)!;
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await cluster?.stop();
  });

  const put = async (key: string, value: string): Promise<number> => {
    const reply = await unaryCall<PutResponse>((cb) =>
      leader.kv.put({ key: Buffer.from(key), value: Buffer.from(value), prevKv: false, lease: 0 }, new grpc.Metadata(), cb),
    );
    return reply.header!.revision;
  };
  const del = async (key: string): Promise<number> => {
    const reply = await unaryCall<DeleteResponse>((cb) =>
      leader.kv.delete({ key: Buffer.from(key), prevKv: false, prefix: false }, new grpc.Metadata(), cb),
    );
    return reply.header!.revision;
  };
  const watchOn = (node: NodeProcess): WatchStreamClient => {
    const client = new WatchStreamClient(node.grpcAddress);
    streams.push(client);
    return client;
  };
  const sse = (node: NodeProcess, path: string, headers?: Record<string, string>): SseClient => {
    const client = new SseClient(node.httpAddress, path, headers);
    streams.push(client);
    return client;
  };

  test('a follower serves a watch: created first, then each revision whole and in order; cancel answers canceled', async () => {
    const watch = watchOn(follower);
    watch.create({ key: Buffer.from('live/'), prefix: true });
    const created = await watch.next((r) => r.created, 'created');
    assert.equal(watch.responses[0], created, 'created is the first response');
    const id = created.watchId;
    assert.ok(id > 0, 'the node picked an id');
    assert.equal(created.header!.memberId, follower.id);
    const revisions = [await put('live/a', '1'), await put('other', 'x'), await put('live/b', '2'), await del('live/a')];
    await waitFor(() => watch.revisions(id).length === 3, { what: 'three revisions' });
    assert.deepEqual(watch.revisions(id), [revisions[0], revisions[2], revisions[3]]);
    const last = watch.responses.filter((r) => r.watchId === id && r.events.length > 0).at(-1)!;
    assert.equal(last.events[0]!.type, EventType.DELETE);
    assert.equal(last.header!.revision, revisions[3], 'header.revision: everything up to it was sent');
    assert.ok(created.header!.revision < revisions[0]!, 'created names the revision before the first event');
    watch.cancel(id);
    await watch.next((r) => r.watchId === id && r.canceled, 'canceled');
    await put('live/c', '3');
    watch.create({ key: Buffer.from('live/c'), watchId: 77 });
    await watch.next((r) => r.watchId === 77 && r.created, 'the client-chosen id');
    assert.deepEqual(watch.revisions(id).length, 3, 'nothing after the cancel');
  });

  test('an invalid create is a typed cancel and the stream stays open', async () => {
    const watch = watchOn(follower);
    watch.create({ key: Buffer.alloc(0) });
    const refused = await watch.next((r) => r.canceled, 'the refusal');
    assert.equal(refused.cancelCode, 'INVALID_ARGUMENT');
    assert.match(refused.cancelReason, /key must not be empty/);
    assert.equal(refused.created, false);
    watch.create({ key: Buffer.from('k'), watchId: 5 });
    await watch.next((r) => r.watchId === 5 && r.created, 'a valid create on the same stream');
    watch.create({ key: Buffer.from('k2'), watchId: 5 });
    const duplicate = await watch.next((r) => r.watchId === 5 && r.canceled, 'the duplicate refused');
    assert.match(duplicate.cancelReason, /already in use/);
    watch.create({ key: Buffer.alloc(5000) });
    await watch.next((r) => r.cancelCode === 'KEY_TOO_LARGE', 'a long key refused');
    assert.equal(watch.ended, undefined, 'the stream is still open');
  });

  test('a past start replays history with prevKv and filters; below the compacted revision: COMPACTED', async () => {
    const first = await put('past/k', 'v1');
    await put('past/k', 'v2');
    await del('past/k');
    const last = await put('past/k', 'v3');
    const watch = watchOn(follower);
    watch.create({ key: Buffer.from('past/k'), startRevision: first, prevKv: true, watchId: 1 });
    watch.create({ key: Buffer.from('past/'), prefix: true, startRevision: first, filters: [WatchFilter.NOPUT], watchId: 2 });
    await waitFor(() => watch.revisions(1).at(-1) === last, { what: 'the replay' });
    const events = watch.responses.filter((r) => r.watchId === 1).flatMap((r) => r.events);
    assert.deepEqual(
      events.map((e) => [e.type, e.kv!.value.toString(), e.prevKv?.value.toString()]),
      [
        [EventType.PUT, 'v1', undefined],
        [EventType.PUT, 'v2', 'v1'],
        [EventType.DELETE, '', 'v2'],
        [EventType.PUT, 'v3', undefined],
      ],
    );
    await waitFor(() => watch.revisions(2).length === 1, { what: 'the delete only' });
    await unaryCall<CompactResponse>((cb) => leader.kv.compact({ revision: last }, new grpc.Metadata(), cb));
    const compacted = await waitFor(
      async () => {
        const probe = watchOn(follower);
        probe.create({ key: Buffer.from('past/k'), startRevision: first });
        const answer = await probe.next((r) => r.canceled || r.events.length > 0, 'a cancel or the replay');
        probe.close();
        return answer.canceled ? probe : undefined;
      },
      { what: 'the follower to apply the compaction' },
    );
    const cancel = await compacted.next((r) => r.canceled, 'the cancel');
    assert.equal(cancel.cancelCode, 'COMPACTED');
    assert.equal(cancel.compactRevision, last);
    assert.ok(compacted.responses.findIndex((r) => r.created) < compacted.responses.indexOf(cancel), 'created, then cancelled');
  });

  test('a progress request answers each watch with a revision everything up to which was sent', async () => {
    const watch = watchOn(follower);
    watch.create({ key: Buffer.from('progress/k'), watchId: 3 });
    await watch.next((r) => r.created, 'created');
    const revision = await put('progress/other', 'x');
    await waitFor(
      async () => {
        watch.progress();
        const answers = watch.responses.filter((r) => r.watchId === 3 && !r.created && r.events.length === 0);
        return answers.some((r) => r.header!.revision >= revision);
      },
      { what: 'a progress answer at the write', intervalMs: 100 },
    );
  });

  test('SSE: one event per revision with id and JSON data, Last-Event-ID resumes, compacted sends event: cancel', async () => {
    const start = await put('sse/a', '1');
    const rev2 = await put('sse/b', 'two\nlines');
    const rev3 = await del('sse/a');
    const stream = sse(follower, `/watch/sse%2F?prefix=1&rev=${start}&prev_kv=1`);
    await waitFor(() => stream.revisions().length === 3, { what: 'three SSE events' });
    assert.equal(stream.status, 200);
    assert.match(String(stream.headers['content-type']), /^text\/event-stream/);
    assert.deepEqual(stream.revisions(), [start, rev2, rev3]);
    const data = stream.messages.filter((m) => m.data !== undefined).map((m) => JSON.parse(m.data!) as Record<string, unknown>);
    assert.deepEqual(data[1], {
      revision: rev2,
      events: [{ type: 'PUT', key: 'sse/b', value: 'two\nlines', version: 1, createRevision: rev2, modRevision: rev2, lease: 0 }],
    });
    assert.deepEqual((data[2]!.events as Array<Record<string, unknown>>)[0]!.prevKv, {
      key: 'sse/a',
      value: '1',
      version: 1,
      createRevision: start,
      modRevision: start,
      lease: 0,
    });
    stream.close();
    const rev4 = await put('sse/c', '4');
    const resumed = sse(follower, `/watch/sse%2F?prefix=1&rev=1`, { 'last-event-id': String(rev3) });
    await waitFor(() => resumed.revisions().length === 1, { what: 'the resumed event' });
    assert.deepEqual(resumed.revisions(), [rev4], 'resumed after Last-Event-ID, not from rev');
    const bad = sse(follower, '/watch/?rev=1');
    await waitFor(() => bad.ended, { what: 'the refusal' });
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body).code, 'INVALID_ARGUMENT');
    await unaryCall<CompactResponse>((cb) => leader.kv.compact({ revision: rev4 }, new grpc.Metadata(), cb));
    const old = await waitFor(
      async () => {
        const probe = sse(follower, `/watch/sse%2Fa?rev=${start}`);
        await waitFor(() => probe.messages.length > 1, { what: 'an answer' });
        return probe.messages.some((m) => m.event === 'cancel') ? probe : undefined;
      },
      { what: 'the follower to apply the compaction' },
    );
    const cancel = old.messages.find((m) => m.event === 'cancel')!;
    assert.deepEqual(JSON.parse(cancel.data!), {
      code: 'COMPACTED',
      reason: `revision ${start} is compacted (the oldest readable revision is ${rev4})`,
      compactRevision: rev4,
    });
    await waitFor(() => old.ended, { what: 'the response to end after the cancel' });
  });

  test('/keys lists with revisions and lease, /keyvalue serves the browser page', async () => {
    const revision = await put('browse/x', 'X');
    await waitFor(
      async () => {
        const list = (await (await fetch(`http://${follower.httpAddress}/keys/browse%2F`)).json()) as {
          revision: number;
          kvs: Array<Record<string, unknown>>;
        };
        return list.revision >= revision && list.kvs.some((kv) => kv.key === 'browse/x' && kv.modRevision === revision);
      },
      { what: 'the listing' },
    );
    const page = await fetch(`http://${follower.httpAddress}/keyvalue`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /new EventSource\('\/watch\//);
  });

  test('a client that does not read: queued bytes stay within the bound, then it catches up with no gap', async () => {
    const watch = watchOn(follower);
    watch.create({ key: Buffer.from('slow/'), prefix: true, watchId: 9 });
    await watch.next((r) => r.created, 'created');
    watch.call.pause();
    const value = 'x'.repeat(4096);
    const written: number[] = [];
    let queuedMax = 0;
    // Far more than the bound: the watch must switch to history rather than queue it all.
    const total = Math.ceil((WATCH_BUFFER_BYTES_MAX * 6) / value.length);
    for (let i = 0; i < total; i += 16) {
      written.push(...(await Promise.all(Array.from({ length: Math.min(16, total - i) }, (_, j) => put(`slow/${(i + j) % 50}`, value)))));
      if (i % 256 === 0) queuedMax = Math.max(queuedMax, await metricSum('cairn_watch_queued_bytes', follower.httpAddress));
    }
    queuedMax = Math.max(queuedMax, await metricSum('cairn_watch_queued_bytes', follower.httpAddress));
    assert.ok(queuedMax > 0, 'the client pushed back (else this test shows nothing)');
    // The bound is checked once a live output is queued, and one output holds a whole apply batch (at most 16 puts here).
    assert.ok(queuedMax <= WATCH_BUFFER_BYTES_MAX + 16 * (value.length + 256), `queued ${queuedMax} bytes`);
    watch.call.resume();
    written.sort((a, b) => a - b);
    await waitFor(() => watch.revisions(9).at(-1) === written.at(-1), { what: 'the watch to catch up', deadlineMs: 30_000 });
    assert.deepEqual(watch.revisions(9), written, 'every revision once, in order');
  });

  // Last: it stops the follower.
  test('a node that stops ends its watches with SHUTTING_DOWN (gRPC and SSE)', async () => {
    const watch = watchOn(follower);
    watch.create({ key: Buffer.from('stop/'), prefix: true, watchId: 4 });
    await watch.next((r) => r.created, 'created');
    const events = sse(follower, '/watch/stop%2F?prefix=1');
    await waitFor(() => events.messages.length > 0, { what: 'the SSE stream to open' });
    await cluster.terminate(follower);
    const cancel = await watch.next((r) => r.watchId === 4 && r.canceled, 'the cancel');
    assert.equal(cancel.cancelCode, 'SHUTTING_DOWN');
    await waitFor(() => watch.ended, { what: 'the stream to end' });
    await waitFor(() => events.ended, { what: 'the SSE response to end' });
    assert.equal(events.messages.find((m) => m.event === 'cancel')?.data?.includes('SHUTTING_DOWN'), true);
  });
});
