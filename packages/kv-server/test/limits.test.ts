// Goal: each bound in src/limits.ts is enforced where it is read: a request,
// link or queue just over it gets the typed error (or the link is closed),
// and one at the bound is served. Bounds tested elsewhere:
// - the peer transport's, the shared port's and the snapshot sender's:
//   transport-limits.test; the pipeline service's message cut, close grace
//   and keepalive: pipeline-limits.test;
// - with a smaller injected value: SESSIONS_MAX (state-machine.test),
//   VALUE_CACHE_BYTES (value-cache.test), PENDING_READS_MAX (proposals.test),
//   PEER_INBOX_MESSAGES_MAX (peer-inbox.test), COMPACTION_HOLD_MAX_FACTOR
//   (compaction-policy.test);
// - the lease bounds: LEASE_TTL_SECONDS_MAX and LEASES_MAX (lease-api.test,
//   lease-state.test), LEASE_REVOKES_IN_FLIGHT_MAX (lease-keeper.test);
// - through a cluster: MIN_INDEX_WAIT_MS_MAX (min-index.test),
//   INFLIGHT_BATCHES_MAX and the reconnect backoff (peer-rejoin.test),
//   PEER_LINK_BUFFERED_BYTES_MAX, PEER_LINK_SILENT_MS and ACK_DELAY_MS
//   (peer-link.test).
// Method: one real node started with default flags, spoken to over gRPC,
// HTTP and a plain socket on the raw KV link; the state machine on a real
// LevelDB in a temp dir; AppliedIndexWaiters and the Proposer on their own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CLIENT_LINK_MAGIC,
  Command,
  Consistency,
  encodeFrame,
  EntryType,
  FrameReader,
  type PipelineOp,
  PipelineRequest,
  PipelineResponse,
  type PipelineResult,
  type RangeResponse,
} from '@cairn/proto';
import { type CallError, metricSum, TestCluster, unaryCall, waitFor } from '@cairn/testkit';
import {
  CLIENT_ID_BYTES_MAX,
  CLIENT_LINK_BUFFERED_BYTES_MAX,
  CLIENT_LINK_FRAME_BYTES_MAX,
  KEY_BYTES_MAX,
  MIN_INDEX_WAITERS_MAX,
  PENDING_PROPOSALS_MAX,
  PIPELINE_OPS_IN_FLIGHT_MAX,
  RANGE_LIMIT_DEFAULT,
  RANGE_LIMIT_MAX,
  SESSION_TTL_MS_DEFAULT,
  SNAPSHOT_CHUNK_BYTES,
  VALUE_BYTES_MAX,
} from '../src/limits.js';
import { AppliedIndexWaiters } from '../src/loop/applied-waiters.js';
import { Proposer } from '../src/loop/proposer.js';
import { KvStateMachine } from '../src/state-machine/kv-state-machine.js';
import { NodeDatabase } from '../src/storage/database.js';

const code = (promise: Promise<unknown>): Promise<string | undefined> =>
  promise.then(
    () => 'OK',
    (e: CallError) => e.detail?.code,
  );

/** Speaks the raw KV link with a plain socket; results are collected by id. */
function rawLink(address: string): { socket: net.Socket; results: Map<number, PipelineResult>; closed: () => boolean } {
  const colon = address.lastIndexOf(':');
  const socket = net.connect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
  const results = new Map<number, PipelineResult>();
  const reader = new FrameReader(CLIENT_LINK_FRAME_BYTES_MAX);
  let head: Buffer | undefined = Buffer.alloc(0);
  let closed = false;
  socket.write(CLIENT_LINK_MAGIC);
  socket.on('data', (chunk: Buffer) => {
    let data = chunk;
    if (head !== undefined) {
      head = Buffer.concat([head, chunk]);
      if (head.length < CLIENT_LINK_MAGIC.length) return;
      data = head.subarray(CLIENT_LINK_MAGIC.length);
      head = undefined;
    }
    for (const frame of reader.push(data)) for (const result of PipelineResponse.decode(frame).results) results.set(result.id, result);
  });
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  return { socket, results, closed: () => closed };
}

describe('a node with default limits', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await TestCluster.start({ size: 1 });
    await cluster.waitForLeader();
  });
  after(async () => {
    await cluster?.stop();
  });

  const put = (key: Buffer, value: Buffer, clientId = ''): Promise<string | undefined> =>
    code(
      unaryCall((cb) =>
        cluster.node(1).kv.put({ key, value, prevKv: false, session: clientId === '' ? undefined : { clientId, seq: 1 } }, cb),
      ),
    );

  test('KEY_BYTES_MAX: a key (or range prefix) one byte longer gets KEY_TOO_LARGE', async () => {
    assert.equal(await put(Buffer.alloc(KEY_BYTES_MAX, 107), Buffer.from('v')), 'OK');
    assert.equal(await put(Buffer.alloc(KEY_BYTES_MAX + 1, 107), Buffer.from('v')), 'KEY_TOO_LARGE');
    const range = (prefix: Buffer) =>
      code(
        unaryCall((cb) =>
          cluster
            .node(1)
            .kv.range({ prefix, startAfter: Buffer.alloc(0), limit: 1, keysOnly: true, consistency: Consistency.SERIALIZABLE }, cb),
        ),
      );
    assert.equal(await range(Buffer.alloc(KEY_BYTES_MAX + 1, 107)), 'KEY_TOO_LARGE');
  });

  test('VALUE_BYTES_MAX: a value, an append result or an HTTP body one byte larger gets VALUE_TOO_LARGE', async () => {
    assert.equal(await put(Buffer.from('big'), Buffer.alloc(VALUE_BYTES_MAX, 1)), 'OK');
    assert.equal(await put(Buffer.from('big'), Buffer.alloc(VALUE_BYTES_MAX + 1, 1)), 'VALUE_TOO_LARGE');
    // The append is checked where it is applied, against the proposer's limit.
    const append = code(unaryCall((cb) => cluster.node(1).kv.append({ key: Buffer.from('big'), value: Buffer.from('x') }, cb)));
    assert.equal(await append, 'VALUE_TOO_LARGE');
    const response = await fetch(`http://${cluster.node(1).httpAddress}/kv/big-http`, {
      method: 'PUT',
      body: Buffer.alloc(VALUE_BYTES_MAX + 1, 1),
    });
    assert.equal(((await response.json()) as { code: string }).code, 'VALUE_TOO_LARGE');
  });

  test('CLIENT_ID_BYTES_MAX: a session client id one byte longer gets INVALID_ARGUMENT', async () => {
    assert.equal(await put(Buffer.from('k'), Buffer.from('v'), 'c'.repeat(CLIENT_ID_BYTES_MAX)), 'OK');
    assert.equal(await put(Buffer.from('k'), Buffer.from('v'), 'c'.repeat(CLIENT_ID_BYTES_MAX + 1)), 'INVALID_ARGUMENT');
  });

  test('RANGE_LIMIT_MAX and RANGE_LIMIT_DEFAULT: a larger limit is refused; limit 0 returns the default page', async () => {
    const stream = cluster.node(1).kv.pipeline();
    const answered = new Set<number>();
    stream.on('data', (response: PipelineResponse) => {
      for (const r of response.results) {
        assert.equal(r.error, undefined, `op ${r.id}: ${r.error?.message}`);
        answered.add(r.id);
      }
    });
    const keys = RANGE_LIMIT_DEFAULT + 1;
    const ops: PipelineOp[] = [];
    for (let i = 0; i < keys; i++) ops.push({ id: i, put: { key: Buffer.from(`r/${i}`), value: Buffer.from('v'), prevKv: false } });
    stream.write({ ops });
    await waitFor(() => answered.size === keys, { deadlineMs: 30_000, what: `${keys} puts` });
    stream.end();
    const range = (limit: number) =>
      unaryCall<RangeResponse>((cb) =>
        cluster
          .node(1)
          .kv.range(
            { prefix: Buffer.from('r/'), startAfter: Buffer.alloc(0), limit, keysOnly: true, consistency: Consistency.LINEARIZABLE },
            cb,
          ),
      );
    const page = await range(0);
    assert.equal(page.kvs.length, RANGE_LIMIT_DEFAULT);
    assert.equal(page.more, true);
    assert.equal(await code(range(RANGE_LIMIT_MAX)), 'OK');
    assert.equal(await code(range(RANGE_LIMIT_MAX + 1)), 'INVALID_ARGUMENT');
  });

  test('PIPELINE_OPS_IN_FLIGHT_MAX: the op past it on one stream gets TOO_MANY_REQUESTS, the others are served', async () => {
    const stream = cluster.node(1).kv.pipeline();
    const results = new Map<number, PipelineResult>();
    stream.on('data', (response: PipelineResponse) => {
      for (const r of response.results) results.set(r.id, r);
    });
    const ops: PipelineOp[] = [];
    // All ops of one message start before any is answered (puts wait for raft).
    for (let id = 1; id <= PIPELINE_OPS_IN_FLIGHT_MAX + 1; id++)
      ops.push({ id, put: { key: Buffer.from(`p/${id}`), value: Buffer.from('v'), prevKv: false } });
    stream.write({ ops });
    await waitFor(() => results.size === ops.length, { deadlineMs: 30_000, what: `${ops.length} results` });
    stream.end();
    const refused = [...results.values()].filter((r) => r.error !== undefined);
    assert.deepEqual(
      refused.map((r) => [r.id, r.error!.code]),
      [[PIPELINE_OPS_IN_FLIGHT_MAX + 1, 'TOO_MANY_REQUESTS']],
    );
  });

  test('CLIENT_LINK_FRAME_BYTES_MAX: a raw link announcing a frame one byte larger is closed; the node keeps serving', async () => {
    const link = rawLink(cluster.node(1).grpcAddress);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(CLIENT_LINK_FRAME_BYTES_MAX + 1);
    link.socket.write(header);
    await waitFor(() => link.closed(), { deadlineMs: 10_000, what: 'the node to close the link' });
    const good = rawLink(cluster.node(1).grpcAddress);
    good.socket.write(
      encodeFrame(
        PipelineRequest.encode({ ops: [{ id: 1, get: { key: Buffer.from('k'), consistency: Consistency.SERIALIZABLE } }] }).finish(),
      ),
    );
    await waitFor(() => good.results.has(1), { deadlineMs: 10_000, what: 'an answer on a good link' });
    good.socket.destroy();
  });

  test('CLIENT_LINK_BUFFERED_BYTES_MAX: a raw link whose client never reads is closed once its unsent results pass the bound', async () => {
    const httpAddress = cluster.node(1).httpAddress;
    const link = rawLink(cluster.node(1).grpcAddress);
    const key = Buffer.from('buffered');
    assert.equal(await put(key, Buffer.alloc(VALUE_BYTES_MAX, 3)), 'OK');
    // Past the bound plus what the kernel's socket buffers absorb.
    const gets = Math.ceil(CLIENT_LINK_BUFFERED_BYTES_MAX / VALUE_BYTES_MAX) + 32;
    const ops: PipelineOp[] = [];
    for (let id = 1; id <= gets; id++) ops.push({ id, get: { key, consistency: Consistency.SERIALIZABLE } });
    await waitFor(async () => (await metricSum('cairn_pipeline_streams_raw', httpAddress)) === 1, {
      deadlineMs: 10_000,
      what: 'the node to hold the link',
    });
    link.socket.pause();
    link.socket.write(encodeFrame(PipelineRequest.encode({ ops }).finish()));
    // The client reads nothing from here on; the node gives the link up.
    await waitFor(async () => (await metricSum('cairn_pipeline_streams_raw', httpAddress)) === 0, {
      deadlineMs: 30_000,
      what: 'the node to close the link that does not read',
    });
    assert.ok(link.results.size < gets, 'the client read nothing, so it cannot have every result');
    link.socket.destroy();
  });
});

describe('state machine defaults', () => {
  let dir: string;
  let database: NodeDatabase;
  let machine: KvStateMachine;
  let index = 0;
  const entry = (command: Partial<Command>) => ({
    index: ++index,
    term: 1,
    type: EntryType.NORMAL,
    data: Buffer.from(Command.encode({ proposedAtMs: 0, valueBytesMax: 0, ...command }).finish()),
  });
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cairn-limits-'));
    database = await NodeDatabase.open(dir, { clusterId: 'limits', nodeId: 1 });
    machine = await KvStateMachine.open(database);
  });
  after(async () => {
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('SESSION_TTL_MS_DEFAULT: a session idle for one millisecond longer expires', async () => {
    const start = 1_000_000;
    await machine.applyEntries([
      entry({
        put: { key: Buffer.from('s'), value: Buffer.from('1'), prevKv: false },
        session: { clientId: 'idle', seq: 1 },
        proposedAtMs: start,
      }),
    ]);
    await machine.applyEntries([entry({ delete: { key: Buffer.from('other') }, proposedAtMs: start + SESSION_TTL_MS_DEFAULT })]);
    assert.equal(machine.sessionSeq('idle'), 1);
    await machine.applyEntries([entry({ delete: { key: Buffer.from('other') }, proposedAtMs: start + SESSION_TTL_MS_DEFAULT + 1 })]);
    assert.equal(machine.sessionSeq('idle'), undefined);
  });

  test('VALUE_BYTES_MAX and SNAPSHOT_CHUNK_BYTES: an append past the value bound is refused; snapshot chunks are never larger than the chunk bound', async () => {
    const big = Buffer.alloc(VALUE_BYTES_MAX, 2);
    const [applied] = await machine.applyEntries([
      entry({ put: { key: Buffer.from('a'), value: big, prevKv: false } }),
      entry({ put: { key: Buffer.from('b'), value: big, prevKv: false } }),
    ]);
    assert.ok(!(applied!.result instanceof Error));
    const [appended] = await machine.applyEntries([entry({ append: { key: Buffer.from('a'), value: Buffer.from('x') } })]);
    assert.equal((appended!.result as Error & { code?: string }).code, 'VALUE_TOO_LARGE');
    const chunks: Buffer[] = [];
    for await (const chunk of machine.snapshot()) chunks.push(Buffer.from(chunk));
    assert.ok(chunks.length >= 3, `two values of the chunk size need three chunks or more, got ${chunks.length}`);
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.length, SNAPSHOT_CHUNK_BYTES);
    assert.ok(chunks.at(-1)!.length <= SNAPSHOT_CHUNK_BYTES);
  });
});

test('MIN_INDEX_WAITERS_MAX: the read past it is refused at once; those within it wait', async () => {
  const tooMany = new Error('too many');
  const waiters = new AppliedIndexWaiters(
    60_000,
    MIN_INDEX_WAITERS_MAX,
    () => new Error('timeout'),
    () => tooMany,
  );
  const waiting: Promise<void>[] = [];
  for (let i = 0; i < MIN_INDEX_WAITERS_MAX; i++) waiting.push(waiters.wait(10));
  assert.equal(waiters.size, MIN_INDEX_WAITERS_MAX);
  await assert.rejects(waiters.wait(10), (error) => error === tooMany);
  waiters.advance(10);
  await Promise.all(waiting);
  assert.equal(waiters.size, 0);
});

test('PENDING_PROPOSALS_MAX: writes queued and proposed count together; at the bound the next one is refused', () => {
  const proposer = new Proposer(60_000, () => new Error('not leader'));
  let lastIndex = 0;
  const leader = {
    proposeMany: (datas: readonly Uint8Array[]) => {
      lastIndex += datas.length;
      return { ok: true as const };
    },
    proposeConfChange: () => ({ ok: true as const }),
    lastIndexAndTerm: () => ({ lastIndex, term: 1 }),
  };
  const waiter = { resolve: () => undefined, reject: () => undefined };
  for (let i = 0; i < PENDING_PROPOSALS_MAX - 1; i++) proposer.command(Buffer.from('w'), waiter);
  proposer.proposeQueued(leader);
  assert.equal(proposer.pending.size, PENDING_PROPOSALS_MAX - 1);
  assert.equal(proposer.full(), false);
  proposer.command(Buffer.from('w'), waiter);
  assert.equal(proposer.full(), true, 'one queued plus the proposed ones reach the bound');
  proposer.rejectAll(() => new Error('done'));
  assert.equal(proposer.full(), false);
});
