// Goal: parseArgs turns every kvctl command line into the right Command, applies
// defaults (endpoints from flag, env or built-in), and rejects bad input with a
// UsageError. Method: pure calls to parseArgs with argv arrays and env objects.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_ENDPOINTS, parseArgs, type Command, type GlobalOptions } from '../src/commands.js';
import { UsageError } from '../src/errors.js';

function parse(argv: string[], env: Record<string, string> = {}): { global: GlobalOptions; command: Command } {
  const parsed = parseArgs(argv, env);
  assert.equal(parsed.kind, 'command', `expected a command for ${argv.join(' ')}`);
  if (parsed.kind !== 'command') throw new Error('unreachable');
  return parsed;
}

function commandOf(argv: string[]): Command {
  return parse(argv).command;
}

function assertUsageError(argv: string[], pattern: RegExp, env: Record<string, string> = {}): void {
  assert.throws(
    () => parseArgs(argv, env),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, `expected UsageError for ${argv.join(' ')}`);
      assert.equal(error.code, 'USAGE');
      assert.match(error.message, pattern);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    },
  );
}

describe('key-value commands', () => {
  test('get is linearizable unless --serializable', () => {
    assert.deepEqual(commandOf(['get', 'a/b']), { kind: 'get', key: 'a/b', consistency: 'linearizable' });
    assert.deepEqual(commandOf(['get', 'a/b', '--serializable']), { kind: 'get', key: 'a/b', consistency: 'serializable' });
  });

  test('put and append take a literal value, or stdin for -', () => {
    assert.deepEqual(commandOf(['put', 'k', 'v 1']), { kind: 'put', key: 'k', value: { from: 'literal', text: 'v 1' } });
    assert.deepEqual(commandOf(['put', 'k', '-']), { kind: 'put', key: 'k', value: { from: 'stdin' } });
    assert.deepEqual(commandOf(['append', 'k', 'x']), { kind: 'append', key: 'k', value: { from: 'literal', text: 'x' } });
  });

  test('delete', () => {
    assert.deepEqual(commandOf(['delete', 'k']), { kind: 'delete', key: 'k' });
  });

  test('cas needs exactly one expectation', () => {
    assert.deepEqual(commandOf(['cas', 'k', 'new', '--expect-value', 'old']), {
      kind: 'cas',
      key: 'k',
      newValue: { from: 'literal', text: 'new' },
      expected: { expectedValue: 'old' },
    });
    assert.deepEqual(commandOf(['cas', 'k', 'new', '--expect-version', '0']), {
      kind: 'cas',
      key: 'k',
      newValue: { from: 'literal', text: 'new' },
      expected: { expectedVersion: 0 },
    });
    assertUsageError(['cas', 'k', 'new'], /one of --expect-value or --expect-version is required/);
    assertUsageError(['cas', 'k', 'new', '--expect-value', 'a', '--expect-version', '1'], /not both/);
    assertUsageError(['cas', 'k', 'new', '--expect-version', '-1'], /non-negative integer/);
  });

  test('range with defaults and with every option', () => {
    assert.deepEqual(commandOf(['range', 'p/']), { kind: 'range', prefix: 'p/', limit: undefined, startAfter: undefined, keysOnly: false });
    assert.deepEqual(commandOf(['range', 'p/', '--limit', '10', '--keys-only', '--start-after', 'p/3']), {
      kind: 'range',
      prefix: 'p/',
      limit: 10,
      startAfter: 'p/3',
      keysOnly: true,
    });
    assertUsageError(['range', 'p/', '--limit', '0'], /positive integer/);
    assertUsageError(['range', 'p/', '--limit', 'ten'], /positive integer/);
  });
});

describe('cluster commands', () => {
  test('status, snapshot, leader transfer', () => {
    assert.deepEqual(commandOf(['status']), { kind: 'status' });
    assert.deepEqual(commandOf(['snapshot']), { kind: 'snapshot' });
    assert.deepEqual(commandOf(['leader', 'transfer', '2']), { kind: 'leader-transfer', id: 2 });
  });

  test('member subcommands', () => {
    assert.deepEqual(commandOf(['member', 'list']), { kind: 'member-list' });
    assert.deepEqual(commandOf(['member', 'add', '4', '127.0.0.1:7104', '127.0.0.1:7004']), {
      kind: 'member-add',
      id: 4,
      peerAddress: '127.0.0.1:7104',
      clientAddress: '127.0.0.1:7004',
    });
    assert.deepEqual(commandOf(['member', 'promote', '4']), { kind: 'member-promote', id: 4 });
    assert.deepEqual(commandOf(['member', 'remove', '4']), { kind: 'member-remove', id: 4 });
    assertUsageError(['member', 'add', 'four', 'a:1', 'b:2'], /positive integer/);
    assertUsageError(['member', 'add', '4', 'nohost', 'b:2'], /host:port/);
    assertUsageError(['member', 'remove', '0'], /positive integer/);
  });

  test('a group without its subcommand shows help as an error', () => {
    const parsed = parseArgs(['member'], {});
    assert.equal(parsed.kind, 'help');
    if (parsed.kind === 'help') {
      assert.equal(parsed.isError, true);
      assert.match(parsed.text, /promote/);
    }
  });

  test('cluster up defaults to 3 nodes and bounds --nodes', () => {
    assert.deepEqual(commandOf(['cluster', 'up']), {
      kind: 'cluster-up',
      nodes: 3,
      basePort: 7001,
      dataDir: './data',
      fresh: false,
      demo: false,
    });
    assert.deepEqual(commandOf(['cluster', 'up', '--nodes', '5', '--demo', '--data-dir', '/tmp/x', '--base-port', '9001', '--fresh']), {
      kind: 'cluster-up',
      nodes: 5,
      basePort: 9001,
      dataDir: '/tmp/x',
      fresh: true,
      demo: true,
    });
    assertUsageError(['cluster', 'up', '--nodes', '0'], /positive integer/);
    assertUsageError(['cluster', 'up', '--nodes', '10'], /at most 9/);
    assertUsageError(['cluster', 'up', '--base-port', '70000'], /1\.\.65535/);
    assertUsageError(['cluster', 'up', '--nodes', '3', '--base-port', '65434'], /needs port 65536/);
    assertUsageError(['cluster', 'up', '--data-dir', ' '], /must not be empty/);
  });

  test('check takes a history file', () => {
    assert.deepEqual(commandOf(['check', 'run.jsonl']), { kind: 'check', historyPath: 'run.jsonl' });
  });
});

describe('bench', () => {
  test('defaults: 16 workers for 10 s over 1000 keys, 128-byte values, half reads', () => {
    assert.deepEqual(commandOf(['bench']), {
      kind: 'bench',
      concurrency: 16,
      durationMs: 10_000,
      count: undefined,
      keys: 1000,
      valueBytes: 128,
      readRatio: 0.5,
      json: false,
    });
  });

  test('every option', () => {
    assert.deepEqual(
      commandOf(['bench', '--concurrency', '4', '--count', '100', '--keys', '10', '--value-size', '0', '--read-ratio', '1', '--json']),
      {
        kind: 'bench',
        concurrency: 4,
        durationMs: undefined,
        count: 100,
        keys: 10,
        valueBytes: 0,
        readRatio: 1,
        json: true,
      },
    );
    assert.equal((commandOf(['bench', '--duration', '1.5']) as { durationMs: number }).durationMs, 1500);
  });

  test('invalid bench input', () => {
    assertUsageError(['bench', '--duration', '1', '--count', '5'], /not both/);
    assertUsageError(['bench', '--read-ratio', '1.5'], /between 0 and 1/);
    assertUsageError(['bench', '--duration', '0'], /positive number/);
    assertUsageError(['bench', '--concurrency', '0'], /positive integer/);
  });
});

describe('global options', () => {
  test('defaults', () => {
    assert.deepEqual(parse(['status']).global, {
      endpoints: DEFAULT_ENDPOINTS,
      clusterId: undefined,
      timeoutMs: undefined,
      output: 'table',
      verbose: false,
    });
  });

  test('the cluster id comes from the flag, then CAIRN_CLUSTER_ID, else none', () => {
    const env = { CAIRN_CLUSTER_ID: 'cairn/0123456789abcdef' };
    assert.equal(parse(['status'], env).global.clusterId, 'cairn/0123456789abcdef');
    assert.equal(parse(['--cluster-id', 'test/fedcba9876543210', 'status'], env).global.clusterId, 'test/fedcba9876543210');
    assert.equal(parse(['status'], { CAIRN_CLUSTER_ID: ' ' }).global.clusterId, undefined);
    assertUsageError(['--cluster-id', ' ', 'status'], /--cluster-id must not be empty/);
  });

  test('endpoints come from the flag, then CAIRN_ENDPOINTS, then the default', () => {
    const env = { CAIRN_ENDPOINTS: '10.0.0.1:7001,10.0.0.2:7001' };
    assert.deepEqual(parse(['status'], env).global.endpoints, ['10.0.0.1:7001', '10.0.0.2:7001']);
    assert.deepEqual(parse(['--endpoints', 'h:1', 'status'], env).global.endpoints, ['h:1']);
    assert.deepEqual(parse(['status', '--endpoints', 'h:1,h:2'], env).global.endpoints, ['h:1', 'h:2']);
    assert.deepEqual(parse(['status'], { CAIRN_ENDPOINTS: '  ' }).global.endpoints, DEFAULT_ENDPOINTS);
  });

  test('timeout, output and verbose, before or after the command', () => {
    assert.deepEqual(parse(['--timeout', '250', 'get', 'k', '--output', 'json', '--verbose']).global, {
      endpoints: DEFAULT_ENDPOINTS,
      clusterId: undefined,
      timeoutMs: 250,
      output: 'json',
      verbose: true,
    });
  });

  test('invalid global input', () => {
    assertUsageError(['--endpoints', 'h:1,,h:2', 'status'], /'' is not a host:port/);
    assertUsageError(['status'], /CAIRN_ENDPOINTS: 'nope' is not a host:port/, { CAIRN_ENDPOINTS: 'nope' });
    assertUsageError(['--timeout', 'soon', 'status'], /positive integer/);
    assertUsageError(['--output', 'yaml', 'status'], /yaml/);
  });
});

describe('help and usage errors', () => {
  test('--help for the program and for every command', () => {
    const top = parseArgs(['--help'], {});
    assert.equal(top.kind, 'help');
    if (top.kind === 'help') {
      assert.equal(top.isError, false);
      for (const name of [
        'get',
        'put',
        'append',
        'delete',
        'cas',
        'range',
        'status',
        'member',
        'leader',
        'snapshot',
        'bench',
        'cluster',
        'check',
      ]) {
        assert.match(top.text, new RegExp(`\\n  ${name}\\b`), `top-level help lists ${name}`);
      }
      assert.match(top.text, /Exit codes:\n  0  ok .*\n  1  not found/);
    }
    const every = [
      ['get'],
      ['put'],
      ['append'],
      ['delete'],
      ['cas'],
      ['range'],
      ['status'],
      ['member'],
      ['member', 'list'],
      ['member', 'add'],
      ['member', 'promote'],
      ['member', 'remove'],
      ['leader'],
      ['leader', 'transfer'],
      ['snapshot'],
      ['bench'],
      ['cluster'],
      ['cluster', 'up'],
      ['check'],
    ];
    for (const argv of every.map((path) => [...path, '--help'])) {
      const parsed = parseArgs(argv, {});
      assert.equal(parsed.kind, 'help', argv.join(' '));
      if (parsed.kind === 'help') assert.match(parsed.text, new RegExp(`Usage: kvctl ${argv.slice(0, -1).join(' ')}`));
    }
  });

  test('no arguments shows help as an error', () => {
    const parsed = parseArgs([], {});
    assert.equal(parsed.kind, 'help');
    if (parsed.kind === 'help') assert.equal(parsed.isError, true);
  });

  test('unknown commands, missing and extra arguments, unknown options', () => {
    assertUsageError(['frob'], /unknown command 'frob'/);
    assertUsageError(['get'], /missing required argument 'key'/);
    assertUsageError(['get', 'a', 'b'], /too many arguments/);
    assertUsageError(['get', 'a', '--bogus'], /unknown option '--bogus'/);
  });
});
