// Goal: checkWatchStreams accepts a correct recording and names each kind of
// violation: a duplicate, a gap, a split revision, a wrong prevKv, an event
// never written, an unknown-outcome write that did apply.
// Method: hand-made streams over a small writer record.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Event, EventType, type KeyValue } from '@cairn/proto';
import { checkWatchStreams, type RecordedWatch, type WriterRecord } from '../src/index.js';

function kv(key: string, value: string, modRevision: number): KeyValue {
  return {
    key: Buffer.from(key),
    value: Buffer.from(value),
    version: 1,
    createIndex: 0,
    modIndex: 0,
    createRevision: modRevision,
    modRevision,
    lease: 0,
  };
}
const put = (key: string, value: string, revision: number, prev?: KeyValue): Event => ({
  type: EventType.PUT,
  kv: kv(key, value, revision),
  prevKv: prev,
});
const del = (key: string, revision: number, prev?: KeyValue): Event => ({
  type: EventType.DELETE,
  kv: kv(key, '', revision),
  prevKv: prev,
});

const writer: WriterRecord = {
  known: [
    { key: 'a', type: 'put', value: '1', revision: 1 },
    { key: 'b', type: 'put', value: '2', revision: 2 },
    { key: 'a', type: 'put', value: '3', revision: 3 },
    { key: 'a', type: 'delete', revision: 4 },
  ],
  unknown: [{ key: 'b', type: 'put', value: 'maybe' }],
};
const watch = (responses: Event[][], extra: Partial<RecordedWatch> = {}): RecordedWatch => ({
  name: 'w',
  key: '',
  prefix: true,
  prevKv: true,
  startRevision: 1,
  until: 4,
  responses: responses.map((events) => ({ events })),
  ...extra,
});
const good = [[put('a', '1', 1)], [put('b', '2', 2)], [put('a', '3', 3, kv('a', '1', 1))], [del('a', 4, kv('a', '3', 3))]];

test('a correct recording passes; an applied unknown write is accepted', () => {
  assert.deepEqual(checkWatchStreams(writer, [watch(good)]), []);
  const more = [...good, [put('b', 'maybe', 5, kv('b', '2', 2))]];
  assert.deepEqual(checkWatchStreams(writer, [watch(more, { until: 5 })]), []);
});

test('each violation is named', () => {
  const dup = checkWatchStreams(writer, [watch([...good.slice(0, 2), good[1]!, ...good.slice(2)])]);
  assert.ok(
    dup.some((v) => /revision 2 after 2/.test(v)),
    dup.join('\n'),
  );
  const gap = checkWatchStreams(writer, [watch([good[0]!, good[2]!, good[3]!])]);
  assert.ok(
    gap.some((v) => /revision 2 .* is missing/.test(v)),
    gap.join('\n'),
  );
  const wrongPrev = checkWatchStreams(writer, [watch([good[0]!, good[1]!, [put('a', '3', 3, kv('a', '9', 1))], good[3]!])]);
  assert.ok(
    wrongPrev.some((v) => /prevKv 9@1, expected 1@1/.test(v)),
    wrongPrev.join('\n'),
  );
  const invented = checkWatchStreams(writer, [watch([...good, [put('c', 'x', 5)]], { until: 5 })]);
  assert.ok(
    invented.some((v) => /revision 5 put c=x was never written/.test(v)),
    invented.join('\n'),
  );
  const twoKeys: WriterRecord = {
    known: [...writer.known, { key: 'c', type: 'put', value: 'y', revision: 5 }, { key: 'd', type: 'put', value: 'z', revision: 5 }],
    unknown: [],
  };
  const split = checkWatchStreams(twoKeys, [watch([...good, [put('c', 'y', 5)], [put('d', 'z', 5)]], { until: 5 })]);
  assert.ok(
    split.some((v) => /revision 5 is split/.test(v)),
    split.join('\n'),
  );
  const unordered = checkWatchStreams(writer, [watch([good[1]!, good[0]!, good[2]!, good[3]!])]);
  assert.ok(
    unordered.some((v) => /revision 1 after 2/.test(v)),
    unordered.join('\n'),
  );
});
