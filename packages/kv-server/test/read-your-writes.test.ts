// Goal: a client sees its own acknowledged writes at every consistency
// level. A write used to be answered before its apply batch reached LevelDB,
// and a serializable read does not wait, so a get sent right after the put's
// reply returned the old value most of the time. Method: a 3-node cluster;
// rounds of put-then-get on the leader (where a client's writes are
// acknowledged and where the Clerk sends its reads), through gRPC and HTTP,
// at both levels; every get must return the value just written. Each round
// writes a new value to the same key, so a stale read is always visible.
// The first test pins the cause without timing: reads issued from inside the
// state machine's answer callback, i.e. between the answer and the write.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command, Consistency, EntryType, type GetResponse, type KeyValue, type RangeResponse } from '@cairn/proto';
import { type NodeProcess, TestCluster, unaryCall } from '@cairn/testkit';
import { KvStateMachine, type RangeResult } from '../src/state-machine/kv-state-machine.js';
import { NodeDatabase } from '../src/storage/database.js';

const ROUNDS = 150;

test('reads issued when a write is answered, before its batch is written, see the write', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'cairn-ryw-'));
  const database = await NodeDatabase.open(dir, { clusterId: 'ryw', nodeId: 1 });
  try {
    const machine = await KvStateMachine.open(database);
    const entry = (index: number, key: string, value: string) => ({
      index,
      term: 1,
      type: EntryType.NORMAL,
      data: Buffer.from(
        Command.encode({
          proposedAtMs: 1,
          valueBytesMax: 0,
          put: { key: Buffer.from(key), value: Buffer.from(value), prevKv: false },
        }).finish(),
      ),
    });
    await machine.applyEntries([entry(1, 'k', 'old'), entry(2, 'other', 'x')]);
    let reads: [Promise<KeyValue | undefined>, Promise<KeyValue | undefined>, Promise<RangeResult>] | undefined;
    await machine.applyEntries([entry(3, 'k', 'new'), entry(4, 'gone-and-back', 'y')], undefined, () => {
      reads = [machine.get(Buffer.from('k')), machine.get(Buffer.from('other')), machine.range(Buffer.alloc(0), undefined, 10, false)];
    });
    assert.ok(reads !== undefined, 'the answer callback ran');
    const [k, other, all] = await Promise.all(reads);
    assert.equal(k?.value.toString(), 'new');
    assert.equal(other?.value.toString(), 'x', 'a key the batch does not touch reads as before');
    assert.deepEqual(
      all.kvs.map((kv) => `${kv.key.toString()}=${kv.value.toString()}`),
      ['gone-and-back=y', 'k=new', 'other=x'],
    );
  } finally {
    await database.close();
    await rm(dir, { recursive: true, force: true });
  }
});

describe('read your own writes', () => {
  let cluster: TestCluster;
  let leader: NodeProcess;
  before(async () => {
    cluster = await TestCluster.start({ size: 3 });
    leader = await cluster.waitForLeader();
  });
  after(async () => {
    await cluster?.stop();
  });

  for (const [name, consistency] of [
    ['serializable', Consistency.SERIALIZABLE],
    ['linearizable', Consistency.LINEARIZABLE],
  ] as const) {
    test(`gRPC: a ${name} get right after a put returns the value just written, ${ROUNDS} rounds`, async () => {
      const key = Buffer.from(`ryw/grpc/${name}`);
      const stale: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const value = `v${round}`;
        await unaryCall((cb) => leader.kv.put({ key, value: Buffer.from(value), prevKv: false }, cb));
        const got = await unaryCall<GetResponse>((cb) => leader.kv.get({ key, consistency }, cb));
        const read = got.kv?.value.toString() ?? '<absent>';
        if (read !== value) stale.push(`${value} read as ${read}`);
      }
      assert.deepEqual(stale, [], `${stale.length} of ${ROUNDS} reads missed the write just acknowledged`);
    });
  }

  test(`gRPC: a serializable range right after a put includes the value just written, ${ROUNDS} rounds`, async () => {
    const prefix = Buffer.from('ryw/range/');
    const stale: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const value = `v${round}`;
      await unaryCall((cb) => leader.kv.put({ key: Buffer.from('ryw/range/k'), value: Buffer.from(value), prevKv: false }, cb));
      const got = await unaryCall<RangeResponse>((cb) =>
        leader.kv.range({ prefix, startAfter: Buffer.alloc(0), limit: 10, consistency: Consistency.SERIALIZABLE, keysOnly: false }, cb),
      );
      const read = got.kvs[0]?.value.toString() ?? '<absent>';
      if (read !== value) stale.push(`${value} read as ${read}`);
    }
    assert.deepEqual(stale, [], `${stale.length} of ${ROUNDS} ranges missed the write just acknowledged`);
  });

  test(`HTTP: GET ?consistency=serializable right after a PUT returns the value just written, ${ROUNDS} rounds`, async () => {
    const url = `http://${leader.httpAddress}/kv/ryw-http`;
    const stale: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const value = `v${round}`;
      const put = await fetch(url, { method: 'PUT', body: value });
      assert.equal(put.status, 200);
      await put.arrayBuffer();
      const got = await fetch(`${url}?consistency=serializable`);
      const read = got.status === 200 ? await got.text() : `<status ${got.status}>`;
      if (read !== value) stale.push(`${value} read as ${read}`);
    }
    assert.deepEqual(stale, [], `${stale.length} of ${ROUNDS} reads missed the write just acknowledged`);
  });
});
