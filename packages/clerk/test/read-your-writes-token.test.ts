// Goal: the clerk's read-your-writes token. Every write reply names the log index it was applied
// at; the clerk keeps the largest (per clerk) and sends it as min_index on its serializable reads
// (get and range) only; linearizable reads send none, and a node's UNAVAILABLE for a read that
// it could not catch up in time sends the read to another node with the same token.
// Method: a ScriptedTransport replays canned replies and logs every request; a FakeClock makes
// sleeps instant. Assertions are on the requests the clerk sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Clerk } from '../src/index.js';
import { FakeClock, reply, ScriptedTransport, type ScriptStep, seededRandom } from '../src/testing.js';

const A = '10.0.0.1:7001';
const B = '10.0.0.2:7001';

const header = { header: { memberId: 1, term: 1, appliedIndex: 1, leaderId: 1 } };

function setup(steps: ScriptStep[]) {
  const clock = new FakeClock();
  const transport = new ScriptedTransport({ steps, clock });
  const clerk = Clerk.lazy(
    { endpoints: [A, B], membersRefreshMs: 0, clientId: 'token-client', deadlineMs: 5_000, requestTimeoutMs: 1_000 },
    { transport, clock, random: seededRandom(3) },
  );
  return { transport, clerk };
}

const minIndexes = (transport: ScriptedTransport, method: 'get' | 'range') =>
  transport.callsOf(method).map((call) => (call.request as { minIndex?: number }).minIndex);

test('serializable reads carry the largest index of the writes acknowledged so far; linearizable ones carry none', async () => {
  const { transport, clerk } = setup([
    { method: 'get', reply: reply.ok({ ...header }) },
    { method: 'put', reply: reply.ok({ ...header, version: 1, index: 7 }) },
    { method: 'append', reply: reply.ok({ ...header, version: 2, length: 2, index: 9 }) },
    { method: 'get', reply: reply.ok({ ...header }) },
    { method: 'range', reply: reply.ok({ ...header, kvs: [], more: false }) },
    { method: 'get', reply: reply.ok({ ...header }) },
    // A reply from a node that predates the token (no index) leaves it as it was.
    { method: 'delete', reply: reply.ok({ ...header, deleted: true }) },
    { method: 'cas', reply: reply.ok({ ...header, succeeded: false, index: 8 }) },
    { method: 'get', reply: reply.ok({ ...header }) },
  ]);
  await clerk.get('k', { consistency: 'serializable' });
  await clerk.put('k', 'a');
  await clerk.append('k', 'b');
  await clerk.get('k', { consistency: 'serializable' });
  await clerk.range('k', { consistency: 'serializable' });
  await clerk.get('k');
  await clerk.delete('k');
  await clerk.cas('k', { expectedVersion: 1 }, 'c');
  await clerk.get('k', { consistency: 'serializable', endpoint: B });
  assert.deepEqual(
    minIndexes(transport, 'get'),
    [undefined, 9, undefined, 9],
    'none before any write; none on a linearizable read; never lowered',
  );
  assert.deepEqual(minIndexes(transport, 'range'), [9]);
  assert.equal(transport.remaining(), 0);
});

test('each clerk keeps its own token', async () => {
  const first = setup([{ method: 'put', reply: reply.ok({ ...header, version: 1, index: 40 }) }]);
  const second = setup([{ method: 'get', reply: reply.ok({ ...header }) }]);
  await first.clerk.put('k', 'v');
  await second.clerk.get('k', { consistency: 'serializable' });
  assert.deepEqual(minIndexes(second.transport, 'get'), [undefined]);
});

test('a node that cannot reach min_index in time answers UNAVAILABLE: the read goes to another node with the same token', async () => {
  const { transport, clerk } = setup([
    { method: 'put', reply: reply.ok({ ...header, version: 1, index: 12 }) },
    { method: 'get', reply: reply.serverError('UNAVAILABLE', "node 1 has applied up to 10, short of the read's min_index 12") },
    {
      method: 'get',
      reply: reply.ok({ ...header, kv: { key: Buffer.from('k'), value: Buffer.from('v'), version: 1, createIndex: 12, modIndex: 12 } }),
    },
  ]);
  await clerk.put('k', 'v');
  const kv = await clerk.get('k', { consistency: 'serializable' });
  assert.equal(kv?.value.toString(), 'v');
  const gets = transport.callsOf('get');
  assert.deepEqual(minIndexes(transport, 'get'), [12, 12]);
  assert.notEqual(gets[0]!.address, gets[1]!.address, 'the retry asks another node');
});
