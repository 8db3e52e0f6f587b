// Goal: `kvctl txn` reads both documented input forms into the same
// transaction, and bad input is a usage error naming the line, never a crash.
// Method: parseTxn on inline inputs; parseArgs for the new commands' flags.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseTxn, type TxnInput } from '../src/txn-parse.js';
import { parseArgs } from '../src/commands.js';
import { UsageError } from '../src/errors.js';

const EXPECTED: TxnInput = {
  compare: [
    { key: 'cfg', target: 'mod', op: '=', operand: 5 },
    { key: 'cfg', target: 'value', op: '!=', operand: 'a b' },
  ],
  success: [
    { op: 'put', key: 'cfg', value: 'v 2', lease: 7 },
    { op: 'delete', key: 'old/', prefix: true },
  ],
  failure: [
    { op: 'get', key: 'cfg' },
    { op: 'range', prefix: 'p/' },
  ],
};

describe('txn input', () => {
  test('the text form: compares, blank line, success ops, blank line, failure ops', () => {
    const text = 'mod("cfg") = "5"\nvalue("cfg") != "a b"\n\nput cfg "v 2" --lease=7\ndel old/ --prefix\n\nget cfg\nget p/ --prefix\n';
    assert.deepEqual(parseTxn(text), EXPECTED);
  });

  test('the JSON form gives the same transaction', () => {
    const json = JSON.stringify({
      compare: [
        { key: 'cfg', target: 'mod', op: '=', operand: 5 },
        { key: 'cfg', target: 'value', op: '!=', operand: 'a b' },
      ],
      success: [
        { op: 'put', key: 'cfg', value: 'v 2', lease: 7 },
        { op: 'delete', key: 'old/', prefix: true },
      ],
      failure: [
        { op: 'get', key: 'cfg' },
        { op: 'range', prefix: 'p/' },
      ],
    });
    assert.deepEqual(parseTxn(`  ${json}`), EXPECTED);
  });

  test('no compares (leading blank line) and no failure block; etcdctl target abbreviations', () => {
    assert.deepEqual(parseTxn('\nput k v\n'), { compare: [], success: [{ op: 'put', key: 'k', value: 'v' }], failure: [] });
    assert.deepEqual(
      parseTxn('ver(k) > 0\nc(k) < 9\nm(k) = 3\nlease(k) = 0\n').compare.map((c) => c.target),
      ['version', 'create', 'mod', 'lease'],
    );
  });

  test('bad input is a usage error naming the line', () => {
    const cases: [string, RegExp][] = [
      ['size("k") = 1\n', /line 1: unknown compare target size/],
      ['mod("k") = "x"\n', /line 1: x is not a non-negative integer/],
      ['mod("k") == 1\n', /line 1: not a compare/],
      ['\nput k\n', /line 2: put takes 2 arguments/],
      ['\nincr k\n', /line 2: unknown op incr/],
      ['\nget k --rev=3\n', /line 2: unknown flag --rev=3/],
      ['\nput k v\n\nget k\n\nget j\n', /more than three blocks/],
      ['{"compare": [{"key": "k", "target": "mod", "op": "=", "operand": "5"}]}', /compare\[0\]\.operand must be a non-negative integer/],
      ['{"success": [{"op": "incr", "key": "k"}]}', /success\[0\]\.op must be put, get, range or delete/],
      ['{"success": ', /not valid JSON/],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => parseTxn(input),
        (error: unknown) => error instanceof UsageError && message.test(error.message),
        input,
      );
    }
  });
});

describe('coordination command arguments', () => {
  const commandOf = (argv: string[]) => {
    const parsed = parseArgs(argv);
    assert.equal(parsed.kind, 'command');
    return parsed.kind === 'command' ? parsed.command : undefined;
  };

  test('get --rev, del --prefix, put --lease (hex ids as etcdctl prints them)', () => {
    assert.deepEqual(commandOf(['get', 'k', '--rev', '12']), { kind: 'get', key: 'k', consistency: 'linearizable', revision: 12 });
    assert.deepEqual(commandOf(['del', 'p/', '--prefix']), { kind: 'delete', key: 'p/', prefix: true });
    assert.deepEqual(commandOf(['put', 'k', 'v', '--lease', '0x1f']), {
      kind: 'put',
      key: 'k',
      value: { from: 'literal', text: 'v' },
      lease: 31,
    });
  });

  test('watch, lease, lock -- command, elect, compact', () => {
    assert.deepEqual(commandOf(['watch', 'cfg/', '--prefix', '--rev', '3', '--prev-kv']), {
      kind: 'watch',
      key: 'cfg/',
      prefix: true,
      revision: 3,
      prevKv: true,
    });
    assert.deepEqual(commandOf(['lease', 'grant', '30']), { kind: 'lease-grant', ttl: 30 });
    assert.deepEqual(commandOf(['lease', 'ttl', '5', '--keys']), { kind: 'lease-ttl', id: 5, keys: true });
    assert.deepEqual(commandOf(['lease', 'keep-alive', '5', '--once']), { kind: 'lease-keep-alive', id: 5, once: true });
    assert.deepEqual(commandOf(['lock', 'jobs', '--', 'sh', '-c', 'echo hi']), {
      kind: 'lock',
      name: 'jobs',
      ttl: 60,
      command: ['sh', '-c', 'echo hi'],
    });
    assert.deepEqual(commandOf(['elect', 'leader', 'node-a', '--ttl', '10']), {
      kind: 'elect',
      name: 'leader',
      ttl: 10,
      proposal: 'node-a',
    });
    assert.deepEqual(commandOf(['compact', '100']), { kind: 'compact', revision: 100 });
    assert.throws(() => parseArgs(['lease', 'revoke', 'abc']), UsageError);
    assert.throws(() => parseArgs(['compact', '0']), UsageError);
  });

  test('txn --help documents both forms', () => {
    const parsed = parseArgs(['txn', '--help']);
    assert.equal(parsed.kind, 'help');
    if (parsed.kind === 'help') {
      assert.match(parsed.text, /Text form/);
      assert.match(parsed.text, /JSON form/);
    }
  });
});
