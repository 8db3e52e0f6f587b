// Goal: the non-TTY text and --output json renderings are stable and script
// friendly (values only for get, bytes never mangled, errors as CODE + hint).
// Method: render fixed Result values and compare strings.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyValueLike } from '../src/clerk-like.js';
import { describeError } from '../src/errors.js';
import { renderErrorJson, renderErrorPlain, renderJson, renderPlain } from '../src/output/plain.js';
import type { Result } from '../src/run.js';
import { FakeClerkError } from './fake-clerk.js';

const kv = (key: string, value: Buffer | string, version = 1): KeyValueLike => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  version,
  createIndex: 5,
  modIndex: 9,
});

describe('renderPlain', () => {
  test('get prints only the value; --verbose adds metadata on stderr', () => {
    const result: Result = { kind: 'get', key: 'k', kv: kv('k', 'hello', 3) };
    assert.deepEqual(renderPlain(result, { verbose: false }), { stdout: 'hello\n', stderr: undefined });
    assert.deepEqual(renderPlain(result, { verbose: true }), { stdout: 'hello\n', stderr: 'version 3, created at 5, modified at 9\n' });
  });

  test('a missing key prints nothing on stdout', () => {
    assert.deepEqual(renderPlain({ kind: 'get', key: 'k', kv: undefined }, { verbose: false }), { stdout: '', stderr: 'not found: k\n' });
  });

  test('binary values print as hex rather than raw control bytes', () => {
    const output = renderPlain({ kind: 'get', key: 'k', kv: kv('k', Buffer.from([0, 1, 0xff])) }, { verbose: false });
    assert.equal(output.stdout, '0x0001ff\n');
  });

  test('range prints key<TAB>value lines, or keys only, and a paging note', () => {
    const kvs = [kv('p/1', 'a'), kv('p/2', 'b')];
    assert.equal(
      renderPlain({ kind: 'range', prefix: 'p/', kvs, more: false, keysOnly: false }, { verbose: false }).stdout,
      'p/1\ta\np/2\tb\n',
    );
    const keysOnly = renderPlain({ kind: 'range', prefix: 'p/', kvs, more: true, keysOnly: true }, { verbose: false });
    assert.equal(keysOnly.stdout, 'p/1\np/2\n');
    assert.match(keysOnly.stderr ?? '', /--start-after 'p\/2'/);
  });

  test('simple results', () => {
    const cases: [Result, string][] = [
      [{ kind: 'put', key: 'k', version: 2 }, 'OK (version 2)\n'],
      [{ kind: 'put', key: 'k', version: undefined }, 'OK\n'],
      [{ kind: 'append', key: 'k' }, 'OK\n'],
      [{ kind: 'delete', key: 'k', deleted: true }, 'deleted\n'],
      [{ kind: 'delete', key: 'k', deleted: false }, 'not found (nothing deleted)\n'],
      [{ kind: 'cas', key: 'k', succeeded: false, kv: kv('k', 'v', 4) }, 'precondition failed: current version is 4\n'],
      [{ kind: 'cas', key: 'k', succeeded: false, kv: undefined }, 'precondition failed: the key does not exist\n'],
      [{ kind: 'snapshot', index: 10, term: 2, sizeBytes: 300 }, 'snapshot at index 10, term 2 (300 bytes)\n'],
      [{ kind: 'leader-transfer', targetId: 2, leaderId: 2 }, 'leader is now 2\n'],
    ];
    for (const [result, expected] of cases) assert.equal(renderPlain(result, { verbose: false }).stdout, expected);
  });

  test('status is an aligned table with the leader starred', () => {
    const text = renderPlain(
      {
        kind: 'status',
        rows: [
          {
            id: 1,
            clientAddress: '127.0.0.1:7001',
            learner: false,
            isLeader: true,
            health: 'ok',
            role: 'leader',
            term: 3,
            commitIndex: 10,
            appliedIndex: 10,
            lag: 0,
          },
          { id: 2, clientAddress: '127.0.0.1:7002', learner: false, isLeader: false, health: 'UNAVAILABLE' },
        ],
      },
      { verbose: false },
    ).stdout;
    assert.equal(
      text,
      [
        'ID  ADDRESS         ROLE    TERM  COMMIT  APPLIED  LAG  HEALTH',
        '★1  127.0.0.1:7001  leader  3     10      10       0    ok',
        ' 2  127.0.0.1:7002  -       -     -       -        -    UNAVAILABLE',
        '',
      ].join('\n'),
    );
  });

  test('members table marks learners', () => {
    const text = renderPlain(
      {
        kind: 'members',
        action: 'list',
        leaderId: 1,
        members: [
          { id: 2, peerAddress: 'p:2', clientAddress: 'c:2', httpAddress: '', learner: true },
          { id: 1, peerAddress: 'p:1', clientAddress: 'c:1', httpAddress: '', learner: false },
        ],
      },
      { verbose: false },
    ).stdout;
    assert.match(text, /^ID +PEER ADDRESS +CLIENT ADDRESS +KIND\n★1 +p:1 +c:1 +voter\n 2 +p:2 +c:2 +learner\n$/);
  });
});

describe('renderJson', () => {
  test('get as one JSON document; non-UTF-8 bytes as base64', () => {
    assert.deepEqual(JSON.parse(renderJson({ kind: 'get', key: 'k', kv: kv('k', 'v', 2) })), {
      found: true,
      key: 'k',
      value: 'v',
      version: 2,
      createIndex: 5,
      modIndex: 9,
    });
    assert.deepEqual(JSON.parse(renderJson({ kind: 'get', key: 'k', kv: kv('k', Buffer.from([0xff, 0xfe])) })).value, { base64: '//4=' });
    assert.deepEqual(JSON.parse(renderJson({ kind: 'get', key: 'k', kv: undefined })), { found: false, key: 'k' });
  });

  test('range omits values with keys-only', () => {
    const json = JSON.parse(renderJson({ kind: 'range', prefix: 'p', kvs: [kv('p1', 'v')], more: true, keysOnly: true }));
    assert.deepEqual(json, { prefix: 'p', more: true, kvs: [{ key: 'p1', version: 1, createIndex: 5, modIndex: 9 }] });
  });

  test('every output is a single line', () => {
    const text = renderJson({ kind: 'snapshot', index: 1, term: 1, sizeBytes: 1 });
    assert.equal(text.split('\n').length, 2);
    assert.deepEqual(JSON.parse(text), { kind: 'snapshot', index: 1, term: 1, sizeBytes: 1 });
  });
});

describe('errors', () => {
  test('plain: one line with the code and the first line of the message; no stack', () => {
    const error = new FakeClerkError('NO_LEADER', 'no leader elected\n    at Object.<anonymous> (file.ts:1:1)');
    assert.equal(renderErrorPlain(describeError(error)), 'error: NO_LEADER: no leader elected\n');
  });

  test('plain for a person (stderr is a terminal): a hint line follows', () => {
    const text = renderErrorPlain(describeError(new FakeClerkError('NO_LEADER', 'no leader elected')), { withHint: true });
    assert.equal(text.split('\n')[0], 'error: NO_LEADER: no leader elected');
    assert.match(text.split('\n')[1]!, /^hint: /);
  });

  test('json: code, message and exit code', () => {
    assert.deepEqual(JSON.parse(renderErrorJson(describeError(new FakeClerkError('VALUE_TOO_LARGE', 'too big')))), {
      error: { code: 'VALUE_TOO_LARGE', message: 'too big', exitCode: 4 },
    });
  });
});
