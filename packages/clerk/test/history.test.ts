// Goal: the history recorder writes exactly the documented JSON-lines format: one invoke and one
// return record per KV operation, paired by id, with ok / fail / info chosen honestly.
// Method: run operations through a clerk on a scripted transport and a fake clock, collect the
// lines written by JsonLinesHistory, parse them and compare whole records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Clerk, JsonLinesHistory } from '../src/index.js';
import { FakeClock, reply, ScriptedTransport, type ScriptStep, seededRandom } from '../src/testing.js';

const header = { header: { memberId: 1, term: 1, appliedIndex: 1, leaderId: 1 } };

function setup(steps: ScriptStep[]) {
  const clock = new FakeClock(1);
  const lines: string[] = [];
  const transport = new ScriptedTransport({ steps, clock });
  const clerk = Clerk.lazy(
    {
      endpoints: ['127.0.0.1:7001'],
      clientId: 'p1',
      membersRefreshMs: 0,
      deadlineMs: 2_000,
      history: new JsonLinesHistory({ write: (line: string) => lines.push(line) }),
    },
    { transport, clock, random: seededRandom(3) },
  );
  const records = () =>
    lines.map((line) => {
      assert.ok(line.endsWith('\n'));
      assert.equal(line.indexOf('\n'), line.length - 1, 'one record per line');
      return JSON.parse(line) as Record<string, unknown>;
    });
  return { clerk, records };
}

test('successful operations produce invoke/ok pairs with results', async () => {
  const { clerk, records } = setup([
    { reply: reply.ok({ ...header, version: 1 }) },
    { reply: reply.ok({ ...header, kv: { key: Buffer.from('k'), value: Buffer.from('v'), version: 1, createIndex: 2, modIndex: 2 } }) },
    { reply: reply.ok({ ...header, version: 2, length: 2 }) },
    { reply: reply.ok({ ...header, succeeded: false }) },
    { reply: reply.ok({ ...header, deleted: true }) },
    { reply: reply.ok({ ...header }) },
  ]);
  await clerk.put('k', 'v');
  await clerk.get('k');
  await clerk.append('k', 'w');
  await clerk.cas('k', { expectedValue: 'x' }, 'y');
  await clerk.delete('k');
  await clerk.get('k');
  const time = 1_000_000;
  assert.deepEqual(records(), [
    { type: 'invoke', process: 'p1', op: 'put', id: 1, time, key: 'k', value: 'v' },
    { type: 'ok', process: 'p1', op: 'put', id: 1, time, key: 'k', value: 'v', result: 1 },
    { type: 'invoke', process: 'p1', op: 'get', id: 2, time, key: 'k' },
    { type: 'ok', process: 'p1', op: 'get', id: 2, time, key: 'k', result: 'v' },
    { type: 'invoke', process: 'p1', op: 'append', id: 3, time, key: 'k', value: 'w' },
    { type: 'ok', process: 'p1', op: 'append', id: 3, time, key: 'k', value: 'w', result: 2 },
    { type: 'invoke', process: 'p1', op: 'cas', id: 4, time, key: 'k', value: 'y', expected: 'x' },
    { type: 'ok', process: 'p1', op: 'cas', id: 4, time, key: 'k', value: 'y', expected: 'x', result: false },
    { type: 'invoke', process: 'p1', op: 'delete', id: 5, time, key: 'k' },
    { type: 'ok', process: 'p1', op: 'delete', id: 5, time, key: 'k', result: true },
    { type: 'invoke', process: 'p1', op: 'get', id: 6, time, key: 'k' },
    { type: 'ok', process: 'p1', op: 'get', id: 6, time, key: 'k', result: null },
  ]);
});

test('a write with an unknown outcome is recorded as info, a definite failure as fail', async () => {
  const hangs = Array.from({ length: 10 }, () => ({ reply: reply.hang() }));
  const { clerk, records } = setup([{ reply: reply.serverError('KEY_TOO_LARGE') }, ...hangs]);
  await assert.rejects(clerk.put('k', 'v'));
  await assert.rejects(clerk.cas('k', { expectedVersion: 0 }, 'v'));
  const returns = records().filter((record) => record.type !== 'invoke');
  assert.deepEqual(
    returns.map((record) => [record.op, record.type, record.error]),
    [
      ['put', 'fail', 'KEY_TOO_LARGE'],
      ['cas', 'info', 'UNKNOWN_OUTCOME'],
    ],
  );
  assert.equal(records()[2]?.expectedVersion, 0);
  const [invoke, info] = records().slice(2);
  assert.ok(typeof invoke?.time === 'number' && typeof info?.time === 'number' && info.time > invoke.time);
});

test('a read that times out is recorded as fail, since reads have no effect', async () => {
  const { clerk, records } = setup(Array.from({ length: 10 }, () => ({ reply: reply.hang() })));
  await assert.rejects(clerk.get('k'));
  assert.deepEqual(
    records().map((record) => record.type),
    ['invoke', 'fail'],
  );
});

test('non-UTF-8 bytes switch the whole record to base64 with binary: true', async () => {
  const { clerk, records } = setup([{ reply: reply.ok({ ...header, version: 1 }) }]);
  await clerk.put('k', new Uint8Array([0xff, 0x00]));
  assert.deepEqual(records()[0], {
    type: 'invoke',
    process: 'p1',
    op: 'put',
    id: 1,
    time: 1_000_000,
    key: 'aw==',
    value: '/wA=',
    binary: true,
  });
});
