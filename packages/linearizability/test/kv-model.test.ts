// Goal: the kv model (transactions and revisions over all keys) accepts
// histories a Cairn store can produce and rejects each anomaly: a txn branch
// that the state contradicts, a read that misses a txn's write, a revision
// skipped or reused, a torn multi-key txn, lost counter increments. Method:
// small hand-made histories (times in ms on one clock) through checkHistory.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory, checkResultText, parseHistory, type HistoryRecord, type HistoryTxn, type HistoryTxnResult } from '../src/index.js';

const MS = 1_000_000;

interface Call {
  readonly p: string;
  readonly op: HistoryRecord['op'];
  readonly key?: string;
  readonly value?: string;
  readonly txn?: HistoryTxn;
  readonly at: readonly [number, number?];
  readonly out?: 'ok' | 'info';
  readonly result?: HistoryRecord['result'];
  readonly revision?: number;
  readonly meta?: HistoryRecord['meta'];
  readonly txnResult?: HistoryTxnResult;
}

function history(calls: readonly Call[]): HistoryRecord[] {
  const ids = new Map<string, number>();
  const timed: { time: number; order: number; record: HistoryRecord }[] = [];
  for (const call of calls) {
    const id = (ids.get(call.p) ?? 0) + 1;
    ids.set(call.p, id);
    const fields = {
      process: call.p,
      op: call.op,
      id,
      key: call.key ?? (call.op === 'txn' ? '' : 'k'),
      ...(call.value !== undefined ? { value: call.value } : {}),
      ...(call.txn !== undefined ? { txn: call.txn } : {}),
    };
    timed.push({ time: call.at[0] * MS, order: 0, record: { type: 'invoke', time: call.at[0] * MS, ...fields } });
    const returnAt = call.at[1];
    if (returnAt === undefined) continue;
    const observed =
      call.out === 'info'
        ? { error: 'UNKNOWN_OUTCOME' }
        : {
            ...(call.result !== undefined ? { result: call.result } : {}),
            ...(call.revision !== undefined ? { revision: call.revision } : {}),
            ...(call.meta !== undefined ? { meta: call.meta } : {}),
            ...(call.txnResult !== undefined ? { txnResult: call.txnResult } : {}),
          };
    timed.push({ time: returnAt * MS, order: 1, record: { type: call.out ?? 'ok', time: returnAt * MS, ...fields, ...observed } });
  }
  return timed.sort((a, b) => a.time - b.time || a.order - b.order).map((entry) => entry.record);
}

const verdictOf = (calls: readonly Call[], startRevision?: number): string =>
  checkHistory(history(calls), { model: 'kv', ...(startRevision !== undefined ? { startRevision } : {}) }).verdict;

/** A counter increment: if mod(key) = seen then put key value. */
const increment = (key: string, seen: number, value: string): HistoryTxn => ({
  compare: [{ key, target: 'mod', op: '=', operand: seen }],
  success: [{ op: 'put', key, value }],
  failure: [{ op: 'get', key }],
});

/** Moves one unit from a to b when a's value is `from`. */
const transfer = (fromA: string, toA: string, fromB: string, toB: string): HistoryTxn => ({
  compare: [
    { key: 'a', target: 'value', op: '=', operand: fromA },
    { key: 'b', target: 'value', op: '=', operand: fromB },
  ],
  success: [
    { op: 'put', key: 'a', value: toA },
    { op: 'put', key: 'b', value: toB },
  ],
  failure: [{ op: 'range', key: '' }],
});

describe('kv model: revisions on plain operations', () => {
  test('each change gets the next revision; reads see the key revisions', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'x', value: '1', at: [0, 1], result: 1, revision: 11 },
      { p: 'c1', op: 'put', key: 'y', value: '1', at: [2, 3], result: 1, revision: 12 },
      { p: 'c2', op: 'delete', key: 'z', at: [4, 5], result: false, revision: 12 },
      { p: 'c2', op: 'put', key: 'x', value: '2', at: [6, 7], result: 2, revision: 13 },
      { p: 'c1', op: 'get', key: 'x', at: [8, 9], result: '2', revision: 13, meta: { version: 2, createRevision: 11, modRevision: 13 } },
    ];
    assert.equal(verdictOf(calls), 'linearizable');
    assert.equal(verdictOf(calls, 10), 'linearizable');
    assert.equal(verdictOf(calls, 9), 'not-linearizable', 'the first change after revision 9 is 10, not 11');
  });

  test('a skipped revision is rejected', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'x', value: '1', at: [0, 1], revision: 5 },
      { p: 'c2', op: 'put', key: 'y', value: '1', at: [2, 3], revision: 7 },
    ];
    assert.equal(verdictOf(calls), 'not-linearizable');
  });

  test('a revision given to two changes is rejected', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'x', value: '1', at: [0, 3], revision: 5 },
      { p: 'c2', op: 'put', key: 'y', value: '1', at: [1, 2], revision: 5 },
    ];
    assert.equal(verdictOf(calls), 'not-linearizable');
  });

  test('a delete of an absent key must not move the revision', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'x', value: '1', at: [0, 1], revision: 5 },
      { p: 'c1', op: 'delete', key: 'gone', at: [2, 3], result: false, revision: 6 },
    ];
    assert.equal(verdictOf(calls), 'not-linearizable');
  });

  test('a stale mod revision on a read is rejected', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'x', value: '1', at: [0, 1], revision: 5 },
      { p: 'c1', op: 'put', key: 'x', value: '1', at: [2, 3], revision: 6 },
      { p: 'c2', op: 'get', key: 'x', at: [4, 5], result: '1', meta: { version: 2, createRevision: 5, modRevision: 5 } },
    ];
    assert.equal(verdictOf(calls), 'not-linearizable', 'same value, but the read names the first write');
  });

  test('concurrent writes may take their revisions in either order', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'x', value: 'a', at: [0, 10], revision: 21 },
      { p: 'c2', op: 'put', key: 'x', value: 'b', at: [1, 9], revision: 20 },
      { p: 'c3', op: 'get', key: 'x', at: [11, 12], result: 'a', meta: { version: 2, createRevision: 20, modRevision: 21 } },
    ];
    assert.equal(verdictOf(calls), 'linearizable');
  });

  test('an unknown-outcome write may fill a revision gap, or not happen', () => {
    const filled: Call[] = [
      { p: 'c1', op: 'put', key: 'x', value: '1', at: [0, 1], revision: 5 },
      { p: 'c2', op: 'put', key: 'y', value: '1', at: [2, 3], out: 'info' },
      { p: 'c1', op: 'put', key: 'x', value: '2', at: [4, 5], revision: 7 },
    ];
    assert.equal(verdictOf(filled), 'linearizable');
    const twoGaps: Call[] = [...filled.slice(0, 2), { p: 'c1', op: 'put', key: 'x', value: '2', at: [4, 5], revision: 8 }];
    assert.equal(verdictOf(twoGaps), 'not-linearizable', 'one unknown write cannot fill two revisions');
  });
});

describe('kv model: transactions', () => {
  test('counter increments by compare mod revision: each success builds on the last', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'n', value: '0', at: [0, 1], result: 1, revision: 3 },
      {
        p: 'c1',
        op: 'txn',
        txn: increment('n', 3, '1'),
        at: [2, 6],
        txnResult: { succeeded: true, results: [{ op: 'put' }] },
        revision: 4,
      },
      {
        p: 'c2',
        op: 'txn',
        txn: increment('n', 3, '1'),
        at: [3, 7],
        txnResult: {
          succeeded: false,
          results: [{ op: 'get', kv: { key: 'n', value: '1', version: 2, createRevision: 3, modRevision: 4 } }],
        },
        revision: 4,
      },
    ];
    assert.equal(verdictOf(calls), 'linearizable');
  });

  test('lost update: two increments from the same mod revision both succeed', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'n', value: '0', at: [0, 1], revision: 3 },
      {
        p: 'c1',
        op: 'txn',
        txn: increment('n', 3, '1'),
        at: [2, 6],
        txnResult: { succeeded: true, results: [{ op: 'put' }] },
        revision: 4,
      },
      {
        p: 'c2',
        op: 'txn',
        txn: increment('n', 3, '1'),
        at: [3, 7],
        txnResult: { succeeded: true, results: [{ op: 'put' }] },
        revision: 5,
      },
    ];
    const result = checkHistory(history(calls), { model: 'kv' });
    assert.equal(result.verdict, 'not-linearizable');
    assert.ok(result.failure?.prefix);
    assert.match(checkResultText(result, { verbose: false }), /shortest failing prefix, 3 of 3 operations/);
  });

  test('a txn that changed several keys uses one revision; reads inside see its earlier writes', () => {
    const txn: HistoryTxn = {
      compare: [{ key: 'a', target: 'version', op: '=', operand: 0 }],
      success: [
        { op: 'put', key: 'a', value: '1' },
        { op: 'put', key: 'b', value: '2' },
        { op: 'get', key: 'a' },
        { op: 'range', key: '' },
      ],
      failure: [],
    };
    const kv = (key: string, value: string) => ({ key, value, version: 1, createRevision: 8, modRevision: 8 });
    const results: HistoryTxnResult = {
      succeeded: true,
      results: [{ op: 'put' }, { op: 'put' }, { op: 'get', kv: kv('a', '1') }, { op: 'range', kvs: [kv('a', '1'), kv('b', '2')] }],
    };
    const ok: Call[] = [
      { p: 'c1', op: 'txn', txn, at: [0, 1], txnResult: results, revision: 8 },
      { p: 'c1', op: 'put', key: 'c', value: '1', at: [2, 3], revision: 9 },
    ];
    assert.equal(verdictOf(ok), 'linearizable');
    const twoRevisions: Call[] = [ok[0]!, { ...ok[1]!, revision: 10 }];
    assert.equal(verdictOf(twoRevisions), 'not-linearizable');
  });

  test('a failed compare runs the failure branch; claiming success against the state is rejected', () => {
    const guard: HistoryTxn = {
      compare: [{ key: 'k', target: 'value', op: '=', operand: 'v' }],
      success: [{ op: 'delete', key: 'k' }],
      failure: [{ op: 'put', key: 'k', value: 'v' }],
    };
    const linearizable: Call[] = [
      { p: 'c1', op: 'txn', txn: guard, at: [0, 1], txnResult: { succeeded: false, results: [{ op: 'put' }] }, revision: 2 },
      { p: 'c1', op: 'txn', txn: guard, at: [2, 3], txnResult: { succeeded: true, results: [{ op: 'delete', deleted: 1 }] }, revision: 3 },
      { p: 'c1', op: 'get', key: 'k', at: [4, 5], result: null, revision: 3 },
    ];
    assert.equal(verdictOf(linearizable), 'linearizable');
    const wrongBranch: Call[] = [{ ...linearizable[0]!, txnResult: { succeeded: true, results: [{ op: 'delete', deleted: 0 }] } }];
    assert.equal(verdictOf(wrongBranch), 'not-linearizable', 'an absent key never equals a value');
  });

  test('torn transfer: a reader sees only half of a two-key txn', () => {
    const kv = (key: string, value: string, revision: number, version: number) => ({
      key,
      value,
      version,
      createRevision: 1,
      modRevision: revision,
    });
    const setup: Call[] = [
      {
        p: 'c1',
        op: 'txn',
        txn: {
          compare: [],
          success: [
            { op: 'put', key: 'a', value: '10' },
            { op: 'put', key: 'b', value: '0' },
          ],
          failure: [],
        },
        at: [0, 1],
        txnResult: { succeeded: true, results: [{ op: 'put' }, { op: 'put' }] },
        revision: 1,
      },
      {
        p: 'c1',
        op: 'txn',
        txn: transfer('10', '9', '0', '1'),
        at: [2, 10],
        txnResult: { succeeded: true, results: [{ op: 'put' }, { op: 'put' }] },
        revision: 2,
      },
    ];
    const atomic: Call[] = [
      ...setup,
      {
        p: 'c2',
        op: 'txn',
        txn: { compare: [], success: [{ op: 'range', key: '' }], failure: [] },
        at: [3, 4],
        txnResult: { succeeded: true, results: [{ op: 'range', kvs: [kv('a', '9', 2, 2), kv('b', '1', 2, 2)] }] },
      },
    ];
    assert.equal(verdictOf(atomic), 'linearizable');
    const torn: Call[] = [
      ...setup,
      {
        p: 'c2',
        op: 'txn',
        txn: { compare: [], success: [{ op: 'range', key: '' }], failure: [] },
        at: [3, 4],
        txnResult: { succeeded: true, results: [{ op: 'range', kvs: [kv('a', '9', 2, 2), kv('b', '0', 1, 1)] }] },
      },
    ];
    assert.equal(verdictOf(torn), 'not-linearizable');
  });

  test('delete --prefix in a txn removes every matching key in one revision', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'p/1', value: 'x', at: [0, 1], revision: 1 },
      { p: 'c1', op: 'put', key: 'p/2', value: 'x', at: [2, 3], revision: 2 },
      {
        p: 'c1',
        op: 'txn',
        txn: { compare: [], success: [{ op: 'delete', key: 'p/', prefix: true }], failure: [] },
        at: [4, 5],
        txnResult: { succeeded: true, results: [{ op: 'delete', deleted: 2 }] },
        revision: 3,
      },
      { p: 'c2', op: 'get', key: 'p/2', at: [6, 7], result: null, revision: 3 },
    ];
    assert.equal(verdictOf(calls), 'linearizable');
    const miscounted: Call[] = calls.map((call) =>
      call.op === 'txn' ? { ...call, txnResult: { succeeded: true, results: [{ op: 'delete' as const, deleted: 1 }] } } : call,
    );
    assert.equal(verdictOf(miscounted), 'not-linearizable');
  });

  test('auto picks the kv model when a txn is present, and the JSON lines round-trip', () => {
    const calls: Call[] = [
      { p: 'c1', op: 'put', key: 'n', value: '0', at: [0, 1], revision: 3 },
      {
        p: 'c1',
        op: 'txn',
        txn: increment('n', 3, '1'),
        at: [2, 6],
        txnResult: { succeeded: true, results: [{ op: 'put' }] },
        revision: 4,
      },
    ];
    const text = history(calls)
      .map((record) => JSON.stringify(record))
      .join('\n');
    const result = checkHistory(parseHistory(text));
    assert.equal(result.model, 'kv');
    assert.equal(result.verdict, 'linearizable');
    assert.equal(checkHistory(parseHistory(text).filter((record) => record.op !== 'txn')).model, 'register');
  });

  test('a txn record without its txn field is a format error', () => {
    assert.throws(() => parseHistory('{"type":"invoke","process":"c1","op":"txn","id":1,"time":0,"key":""}'), /needs txn/);
  });
});
