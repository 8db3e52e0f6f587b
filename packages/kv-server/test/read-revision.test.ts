// Goal: a read of the latest state names exactly the revision it saw, so a
// client that lists and then watches from header.revision + 1 misses nothing
// and sees nothing twice, even when a write is applied during the read.
// Method: KvApi over a fake reader whose revision moves while a read is out.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Consistency, type KeyValue } from '@cairn/proto';
import { KvApi } from '../src/api/kv-api.js';
import type { NodeLoop } from '../src/loop/node-loop.js';
import type { KvReader } from '../src/state-machine/ports.js';
import type { RaftTransport } from '../src/transport/raft-transport.js';

const loop = {
  options: { id: 1 },
  term: 1,
  readableIndex: 1,
  currentLeaderId: 1,
  readBarrier: () => Promise.resolve(),
} as unknown as NodeLoop<RaftTransport>;

const kv = (key: string, modRevision: number): KeyValue => ({
  key: Buffer.from(key),
  value: Buffer.from('v'),
  version: 1,
  createIndex: 1,
  modIndex: 1,
  createRevision: modRevision,
  modRevision,
  lease: 0,
});

/** A reader at revision `before` whose reads of the latest state see `after` (a write applied meanwhile). */
function movingReader(before: number, after: number, latest: { get?: KeyValue; range: KeyValue[] }) {
  let revision = before;
  const reads: number[] = [];
  const reader: KvReader = {
    revision: () => revision,
    get: (_key, at = 0) => {
      reads.push(at);
      if (at === 0) revision = after;
      return Promise.resolve(at === 0 ? latest.get : kv('k', 1));
    },
    range: (_prefix, _startAfter, _limit, _keysOnly, at = 0) => {
      reads.push(at);
      if (at === 0) revision = after;
      return Promise.resolve({ kvs: at === 0 ? latest.range : [kv('a', 1)], more: false });
    },
  };
  return { reader, reads };
}

const limits = { keyBytesMax: 100, valueBytesMax: 100 };
const linearizable = Consistency.LINEARIZABLE;

describe('reads of the latest state name the revision they saw', () => {
  test('a range that raced a write is served at the revision it started from, from history', async () => {
    const { reader, reads } = movingReader(5, 6, { range: [kv('a', 1), kv('b', 6)] });
    let calls = 0;
    // Every read of the latest state races a write, so the api settles on history at the starting revision.
    const racing: KvReader = {
      ...reader,
      revision: () => 5 + calls,
      range: (...args) => {
        if ((args[4] ?? 0) === 0) calls += 1;
        return reader.range(...args);
      },
    };
    const api = new KvApi(loop, racing, limits);
    const response = await api.range({
      prefix: Buffer.from(''),
      startAfter: Buffer.alloc(0),
      limit: 10,
      consistency: linearizable,
      keysOnly: false,
    });
    const revision = response.header!.revision;
    assert.ok(reads.includes(revision), `served at ${revision}, reads were ${reads.join(',')}`);
    assert.deepEqual(
      response.kvs.map((k) => k.key.toString()),
      ['a'],
      'the history read at the start revision, not the raced result',
    );
  });

  test('a range that did not race keeps its result and names the revision it started from', async () => {
    const { reader } = movingReader(5, 5, { range: [kv('a', 1), kv('b', 5)] });
    const api = new KvApi(loop, reader, limits);
    const response = await api.range({
      prefix: Buffer.from(''),
      startAfter: Buffer.alloc(0),
      limit: 10,
      consistency: linearizable,
      keysOnly: false,
    });
    assert.equal(response.header!.revision, 5);
    assert.equal(response.kvs.length, 2);
  });

  test('a get that raced a write names the later of its start revision and the value mod revision', async () => {
    const older = movingReader(5, 6, { get: kv('k', 3), range: [] });
    const olderAnswer = await new KvApi(loop, older.reader, limits).get({ key: Buffer.from('k'), consistency: linearizable });
    assert.equal(olderAnswer.header!.revision, 5, 'a value last changed before the read began was the value at the start revision');
    const newer = movingReader(5, 6, { get: kv('k', 6), range: [] });
    const newerAnswer = await new KvApi(loop, newer.reader, limits).get({ key: Buffer.from('k'), consistency: linearizable });
    assert.equal(newerAnswer.header!.revision, 6, 'a value changed during the read is named by its own revision');
  });
});
