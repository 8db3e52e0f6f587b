// Goal: the linearizability checker accepts every history the Cairn register
// model allows and rejects each classic anomaly, naming exactly the culprit
// operations in its smallest failing window. Method: inline hand-made
// histories (times in ms on one clock), model and pairing unit checks, seeded
// random histories that are linearizable by construction, and a 10k-operation
// history run once for performance sanity (no time assertions).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory, HistoryFormatError, parseHistory, type CheckResult, type HistoryRecord } from '../src/index.js';
import { ABSENT, stepRegister, type ModelOperation, type OperationInput, type RegisterState } from '../src/model.js';
import { groundedFlags } from '../src/shrink.js';

const MS = 1_000_000;

interface Call {
  readonly p: string;
  readonly op: HistoryRecord['op'];
  readonly key?: string;
  readonly value?: string;
  readonly expected?: string;
  readonly expectedVersion?: number;
  /** [invoke, return] in ms; no return time = the history ends before it returns. */
  readonly at: readonly [number, number?];
  readonly out?: 'ok' | 'fail' | 'info';
  readonly result?: HistoryRecord['result'];
}

/** Builds records for calls; ids count per process in call order; records sorted by time (invokes first on ties). */
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
      key: call.key ?? 'k',
      ...(call.value !== undefined ? { value: call.value } : {}),
      ...(call.expected !== undefined ? { expected: call.expected } : {}),
      ...(call.expectedVersion !== undefined ? { expectedVersion: call.expectedVersion } : {}),
    };
    timed.push({ time: call.at[0] * MS, order: 0, record: { type: 'invoke', time: call.at[0] * MS, ...fields } });
    const returnAt = call.at[1];
    if (returnAt === undefined) continue;
    const out = call.out ?? 'ok';
    const outcome =
      out === 'ok'
        ? call.result !== undefined
          ? { result: call.result }
          : {}
        : { error: out === 'info' ? 'UNKNOWN_OUTCOME' : 'NO_LEADER' };
    timed.push({ time: returnAt * MS, order: 1, record: { type: out, time: returnAt * MS, ...fields, ...outcome } });
  }
  return timed.sort((a, b) => a.time - b.time || a.order - b.order).map((entry) => entry.record);
}

/** The failing window as "process#id op" strings, for exact culprit assertions. */
function windowOf(result: CheckResult): string[] {
  assert.equal(result.verdict, 'not-linearizable', result.reason);
  assert.ok(result.failure !== undefined);
  assert.equal(result.failure.minimal, true);
  return result.failure.window.map((operation) => `${operation.process}#${operation.id} ${operation.op}`);
}

describe('register model', () => {
  const operation = (input: OperationInput, output: ModelOperation['output']): ModelOperation => ({
    input,
    output,
    required: true,
    invokeTime: 0,
    returnTime: 1,
  });
  const run = (steps: [OperationInput, ModelOperation['output']][]): RegisterState | undefined =>
    steps.reduce<RegisterState | undefined>((state, [input, output]) => state && stepRegister(state, operation(input, output)), ABSENT);

  test('versions start at 1, grow per change, and restart after a delete', () => {
    assert.deepEqual(
      run([
        [{ kind: 'put', value: 'a' }, 1],
        [{ kind: 'append', suffix: 'b' }, 2],
      ]),
      { value: 'ab', version: 2 },
    );
    assert.deepEqual(
      run([
        [{ kind: 'put', value: 'a' }, 1],
        [{ kind: 'delete' }, true],
        [{ kind: 'put', value: 'c' }, 1],
      ]),
      { value: 'c', version: 1 },
    );
    assert.equal(
      run([
        [{ kind: 'put', value: 'a' }, 1],
        [{ kind: 'put', value: 'a' }, 1],
      ]),
      undefined,
      'a rewrite still bumps the version',
    );
    assert.equal(run([[{ kind: 'delete' }, true]]), undefined, 'nothing to delete');
  });

  test('cas compares the value (never matching an absent key) or the version (0 = absent)', () => {
    assert.equal(run([[{ kind: 'cas', expected: { value: '' }, newValue: 'x' }, true]]), undefined);
    assert.deepEqual(run([[{ kind: 'cas', expected: { version: 0 }, newValue: 'x' }, true]]), { value: 'x', version: 1 });
    assert.deepEqual(
      run([
        [{ kind: 'put', value: 'a' }, 1],
        [{ kind: 'cas', expected: { value: 'b' }, newValue: 'x' }, false],
      ]),
      { value: 'a', version: 1 },
    );
    assert.equal(
      run([
        [{ kind: 'put', value: 'a' }, 1],
        [{ kind: 'cas', expected: { version: 1 }, newValue: 'x' }, false],
      ]),
      undefined,
    );
  });

  test('an unknown outcome constrains nothing but still applies when linearized', () => {
    assert.deepEqual(
      run([
        [{ kind: 'append', suffix: 'z' }, undefined],
        [{ kind: 'get' }, 'z'],
      ]),
      { value: 'z', version: 1 },
    );
  });

  test('a window is grounded only when its observations come from its own writes', () => {
    const at = (input: OperationInput, output: ModelOperation['output'], invokeTime: number): ModelOperation => ({
      input,
      output,
      required: true,
      invokeTime,
      returnTime: invokeTime + 1,
    });
    assert.deepEqual(groundedFlags([at({ kind: 'get' }, 'a', 0)]), [false]);
    assert.deepEqual(groundedFlags([at({ kind: 'put', value: 'b' }, 2, 0)]), [false], 'version 2 needs two writes');
    assert.deepEqual(groundedFlags([at({ kind: 'append', suffix: 'x' }, 1, 0), at({ kind: 'get' }, 'xx', 2)]), [true, true]);
  });
});

describe('linearizable histories', () => {
  test('concurrent puts and gets may observe either order inside their overlap', () => {
    const result = checkHistory(
      history([
        { p: 'c1', op: 'put', value: 'a', at: [0, 10], result: 2 },
        { p: 'c2', op: 'put', value: 'b', at: [1, 9], result: 1 },
        { p: 'c3', op: 'get', at: [2, 3], result: 'b' },
        { p: 'c4', op: 'get', at: [4, 12], result: 'a' },
        { p: 'c3', op: 'get', at: [11, 13], result: 'a' },
      ]),
    );
    assert.equal(result.verdict, 'linearizable', result.reason);
    assert.equal(result.failure, undefined);
    assert.deepEqual(
      result.keys.map((key) => [key.key, key.operations, key.verdict]),
      [['k', 5, 'linearizable']],
    );
  });

  test('appends, cas success and failure, delete and re-creation', () => {
    const result = checkHistory(
      history([
        { p: 'c1', op: 'append', value: 'x', at: [0, 2], result: 1 },
        { p: 'c2', op: 'append', value: 'y', at: [1, 3], result: 2 },
        { p: 'c3', op: 'get', at: [4, 5], result: 'xy' },
        { p: 'c1', op: 'cas', expected: 'xy', value: 'z', at: [6, 8], result: true },
        { p: 'c2', op: 'cas', expectedVersion: 2, value: 'w', at: [7, 9], result: false },
        { p: 'c3', op: 'delete', at: [10, 11], result: true },
        { p: 'c3', op: 'cas', expectedVersion: 0, value: 'v', at: [12, 13], result: true },
        { p: 'c3', op: 'append', value: '!', at: [14, 15], result: 2 },
        { p: 'c1', op: 'get', at: [16, 17], result: 'v!' },
      ]),
    );
    assert.equal(result.verdict, 'linearizable', result.reason);
  });

  test('info writes may apply late or never; failed writes never apply', () => {
    const result = checkHistory(
      history([
        { p: 'c1', op: 'put', value: 'a', at: [0, 1], out: 'info' },
        { p: 'c2', op: 'get', at: [2, 3], result: null },
        { p: 'c3', op: 'get', at: [50, 51], result: 'a' }, // the info put applied long after its call ended
        { p: 'c1', op: 'put', key: 'other', value: 'x', at: [0, 1], out: 'info' },
        { p: 'c1', op: 'put', key: 'other', value: 'y', at: [2, 3], out: 'fail' },
        { p: 'c1', op: 'append', key: 'other', value: 'z', at: [4] }, // never returned
        { p: 'c2', op: 'get', key: 'other', at: [60, 61], result: null },
      ]),
    );
    assert.equal(result.verdict, 'linearizable', result.reason);
    assert.deepEqual(result.pairing, { records: 13, ok: 3, info: 2, failed: 1, unfinished: 1, unansweredReads: 0 });
    assert.deepEqual(
      result.keys.map((key) => key.info),
      [1, 2],
    );
  });

  test('calls of one process may overlap: records pair by (process, id), not by order', () => {
    const records = history([
      { p: 'c1', op: 'put', value: 'a', at: [0, 5], result: 1 },
      { p: 'c1', op: 'get', at: [1, 2], result: null },
    ]);
    assert.deepEqual(
      records.map((record) => `${record.type}#${record.id}`),
      ['invoke#1', 'invoke#2', 'ok#2', 'ok#1'],
    );
    assert.equal(checkHistory(records).verdict, 'linearizable');
  });

  test('keys recorded as base64 (binary) and as text are the same key', () => {
    const binaryPut: HistoryRecord[] = [
      { type: 'invoke', process: 'c1', op: 'put', id: 1, time: 0, key: Buffer.from('k').toString('base64'), value: '/w==', binary: true },
      {
        type: 'ok',
        process: 'c1',
        op: 'put',
        id: 1,
        time: MS,
        key: Buffer.from('k').toString('base64'),
        value: '/w==',
        binary: true,
        result: 1,
      },
    ];
    const textGet = history([{ p: 'c2', op: 'get', at: [2, 3], result: null }]);
    const result = checkHistory([...binaryPut, ...textGet]);
    assert.deepEqual(windowOf(result), ['c1#1 put', 'c2#1 get']);
    assert.equal(result.failure?.window[0]?.args, '"0xff"');
  });
});

describe('anomalies and their smallest failing window', () => {
  test('stale read: a get after a completed put returns the old value', () => {
    const result = checkHistory(
      history([
        { p: 'c1', op: 'put', value: 'a', at: [1, 2], result: 1 },
        { p: 'c2', op: 'get', at: [1.5, 2.5], result: 'a' },
        { p: 'c1', op: 'put', value: 'b', at: [3, 4], result: 2 },
        { p: 'c3', op: 'put', key: 'other', value: 'o', at: [3, 6], result: 1 },
        { p: 'c2', op: 'get', at: [5, 6], result: 'a' },
        { p: 'c3', op: 'get', at: [7, 8], result: 'b' },
      ]),
    );
    assert.deepEqual(windowOf(result), ['c1#1 put', 'c1#2 put', 'c2#2 get']);
    assert.equal(result.failure?.key, 'k');
    assert.deepEqual(
      result.keys.map((key) => [key.key, key.verdict]),
      [
        ['k', 'not-linearizable'],
        ['other', 'linearizable'],
      ],
    );
  });

  test('lost write: an acknowledged put is never visible', () => {
    const result = checkHistory(
      history([
        { p: 'c2', op: 'get', at: [0, 1], result: null },
        { p: 'c1', op: 'put', value: 'lost', at: [2, 3], result: 1 },
        { p: 'c2', op: 'get', at: [6, 7], result: null },
        { p: 'c3', op: 'get', at: [8, 9], result: null },
      ]),
    );
    assert.deepEqual(windowOf(result), ['c1#1 put', 'c2#2 get']);
  });

  test('double append: the suffix shows up twice', () => {
    const result = checkHistory(
      history([
        { p: 'c1', op: 'append', value: 'a', at: [1, 2], result: 1 },
        { p: 'c2', op: 'get', at: [1.5, 3], result: 'a' },
        { p: 'c1', op: 'append', value: 'x', at: [3, 5], result: 2 },
        { p: 'c2', op: 'get', at: [6, 7], result: 'axx' },
      ]),
    );
    assert.deepEqual(windowOf(result), ['c1#1 append', 'c1#2 append', 'c2#2 get']);
  });

  test('cas anomaly: two cas from the same expected value both succeed', () => {
    const result = checkHistory(
      history([
        { p: 'c1', op: 'put', value: 'a', at: [1, 2], result: 1 },
        { p: 'c2', op: 'cas', expected: 'a', value: 'b', at: [3, 6], result: true },
        { p: 'c3', op: 'cas', expected: 'a', value: 'c', at: [4, 7], result: true },
        { p: 'c1', op: 'get', at: [8, 9], result: 'c' },
      ]),
    );
    assert.deepEqual(windowOf(result), ['c1#1 put', 'c2#1 cas', 'c3#1 cas']);
    assert.deepEqual(
      result.failure?.window.map((operation) => [operation.args, operation.result]),
      [
        ['"a"', 'version 1'],
        ['"a" -> "b"', 'succeeded'],
        ['"a" -> "c"', 'succeeded'],
      ],
    );
    assert.deepEqual(
      result.failure?.window.map((operation) => [operation.invokeNs, operation.returnNs]),
      [
        [0, MS],
        [2 * MS, 5 * MS],
        [3 * MS, 6 * MS],
      ],
    );
  });

  test('a wrong returned version is a violation even when values look right', () => {
    const result = checkHistory(
      history([
        { p: 'c1', op: 'put', value: 'a', at: [0, 1], result: 1 },
        { p: 'c2', op: 'put', value: 'b', at: [2, 3], result: 1 },
      ]),
    );
    assert.deepEqual(windowOf(result), ['c1#1 put', 'c2#1 put']);
  });

  test('the window is cut from a long history: the violation hides among 300 good operations', () => {
    const calls: Call[] = [];
    for (let i = 0; i < 100; i++) {
      calls.push({ p: 'w', op: 'put', value: `v${i}`, at: [i * 10, i * 10 + 4], result: i + 1 });
      calls.push({ p: 'r', op: 'get', at: [i * 10 + 5, i * 10 + 6], result: i === 60 ? 'v58' : `v${i}` });
      calls.push({ p: 'q', op: 'get', at: [i * 10 + 2, i * 10 + 3], result: i === 0 ? null : `v${i - 1}` });
    }
    const result = checkHistory(history(calls));
    // put v58 (the value read), put v59 (completed before the read began), the stale read.
    assert.deepEqual(windowOf(result), ['w#59 put', 'w#60 put', 'r#61 get']);
    assert.equal(result.failure?.keyOperations, 300);
  });
});

describe('bounds and input errors', () => {
  test('a search bound turns a hard key into `unknown` with a reason instead of hanging', () => {
    const calls: Call[] = Array.from({ length: 40 }, (_unused, i): Call => ({
      p: `c${i}`,
      op: 'append',
      value: `${i},`,
      at: [0, 100],
      out: 'info',
    }));
    calls.push({ p: 'r', op: 'get', at: [200, 201], result: 'nope' });
    const result = checkHistory(history(calls), { maxStatesPerKey: 500 });
    assert.equal(result.verdict, 'unknown');
    assert.match(result.reason ?? '', /search bound of 500 states per key reached for "k"/);
    assert.equal(result.keys[0]!.statesExplored, 501);
  });

  test('parseHistory reports the line of a malformed record; pairing reports unpaired returns', () => {
    assert.throws(
      () => parseHistory('\n{"type":"invoke"}\n'),
      (error: unknown) => {
        assert.ok(error instanceof HistoryFormatError);
        assert.equal(error.code, 'HISTORY_MALFORMED');
        assert.equal(error.line, 2);
        return true;
      },
    );
    const withRange = parseHistory('{"type":"invoke","process":"c1","op":"range","id":1,"time":1,"key":"p"}\n');
    assert.deepEqual(withRange, [], 'range records are skipped');
    const orphan = parseHistory('{"type":"ok","process":"c1","op":"get","id":3,"time":5,"key":"k","result":null}');
    assert.throws(() => checkHistory(orphan), { code: 'HISTORY_UNPAIRED', message: /line 1: get c1#3 returns without an invoke/ });
  });
});

/** Deterministic xorshift32 so every run checks the same histories. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
}

/**
 * A history that is linearizable by construction: operations run one after
 * another in the model at increasing linearization points; each call's
 * interval is stretched randomly around its point. Some writes become `info`
 * (applied or not) or `fail` (not applied).
 */
function generateHistory(random: () => number, operations: number, keys: number, spreadMs: number): HistoryRecord[] {
  const states = new Map<string, RegisterState>();
  const calls: Call[] = [];
  for (let i = 0; i < operations; i++) {
    const key = `key-${Math.floor(random() * keys)}`;
    const state = states.get(key) ?? ABSENT;
    const point = i;
    const at: [number, number] = [point - random() * spreadMs, point + random() * spreadMs];
    const p = `c${i % 7}`;
    const draw = random();
    const input: OperationInput =
      draw < 0.35
        ? { kind: 'get' }
        : draw < 0.55
          ? { kind: 'put', value: `v${i}` }
          : draw < 0.7
            ? { kind: 'append', suffix: `${i % 10}` }
            : draw < 0.8
              ? { kind: 'delete' }
              : random() < 0.5
                ? {
                    kind: 'cas',
                    expected: { value: random() < 0.5 && state.value !== undefined ? state.value : `v${i - 1}` },
                    newValue: `c${i}`,
                  }
                : { kind: 'cas', expected: { version: random() < 0.6 ? state.version : state.version + 1 }, newValue: `c${i}` };
    const fate = input.kind === 'get' ? 'ok' : random() < 0.08 ? 'info' : random() < 0.05 ? 'fail' : 'ok';
    const applies = fate === 'ok' || (fate === 'info' && random() < 0.5);
    const next = applies ? stepRegister(state, { input, output: undefined, required: true, invokeTime: 0, returnTime: 0 })! : state;
    states.set(key, next);
    const result = fate !== 'ok' ? undefined : resultOf(input, state, next);
    calls.push({ p, op: input.kind, key, at: fate === 'ok' ? at : [at[0], at[1] + spreadMs * 10], out: fate, result, ...argsOf(input) });
  }
  return history(calls);
}

function resultOf(input: OperationInput, before: RegisterState, after: RegisterState): HistoryRecord['result'] {
  switch (input.kind) {
    case 'get':
      return before.value ?? null;
    case 'put':
    case 'append':
      return after.version;
    case 'delete':
      return before.version > 0;
    case 'cas':
      return after !== before;
    case 'txn':
      return undefined;
  }
}

function argsOf(input: OperationInput): Partial<Call> {
  switch (input.kind) {
    case 'put':
      return { value: input.value };
    case 'append':
      return { value: input.suffix };
    case 'cas':
      return 'version' in input.expected
        ? { expectedVersion: input.expected.version, value: input.newValue }
        : { expected: input.expected.value, value: input.newValue };
    default:
      return {};
  }
}

describe('generated histories', () => {
  test('seeded histories that are linearizable by construction pass', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const records = generateHistory(seededRandom(seed), 120, 3, 4);
      const result = checkHistory(records);
      assert.equal(result.verdict, 'linearizable', `seed ${seed}: ${result.reason}`);
    }
  });

  test('a corrupted read in a generated history is caught (seeded)', () => {
    let caught = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const records = generateHistory(seededRandom(seed), 80, 2, 1.5);
      const read = records.findLast((record) => record.type === 'ok' && record.op === 'get');
      assert.ok(read !== undefined);
      const corrupted = records.map((record) => (record === read ? { ...record, result: 'never-written' } : record));
      const result = checkHistory(corrupted);
      assert.equal(result.verdict, 'not-linearizable', `seed ${seed}`);
      if (result.failure!.window.some((operation) => operation.result === '"never-written"')) caught++;
    }
    assert.equal(caught, 20);
  });

  test('a 10k-operation history over 100 keys is checked (performance sanity)', () => {
    const result = checkHistory(generateHistory(seededRandom(2026), 10_000, 100, 6));
    assert.equal(result.verdict, 'linearizable', result.reason);
    assert.equal(result.keys.length, 100);
  });
});
