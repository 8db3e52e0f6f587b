// Goal: every bad flag or config file gives a ConfigError with a one-line
// message naming the problem; good input yields the documented defaults, and
// flags override the YAML file. Method: parseNodeArgs on argv arrays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNodeArgs, splitHostPort, type NodeOptions } from '../src/config.js';
import { ConfigError } from '../src/startup-errors.js';

const base = ['--id', '1', '--addr', '127.0.0.1:7001', '--data-dir', '/tmp/x'];

function options(argv: string[]): NodeOptions {
  const parsed = parseNodeArgs(argv);
  assert.equal(parsed.help, false);
  return (parsed as { options: NodeOptions }).options;
}

function refused(argv: string[], pattern: RegExp): void {
  assert.throws(
    () => parseNodeArgs(argv),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes('\n'), 'one line');
      return true;
    },
  );
}

test('defaults are filled in', () => {
  const o = options(base);
  assert.equal(o.id, 1);
  assert.equal(o.clusterId, 'cairn');
  assert.equal(o.keyBytesMax, 4096);
  assert.equal(o.valueBytesMax, 1024 * 1024);
  assert.equal(o.electionTicks, 10);
  assert.deepEqual(o.peers, []);
});

test('peers are parsed, and listing yourself with the same address is allowed', () => {
  const o = options([...base, '--peer', '1=127.0.0.1:7001', '--peer', '2=127.0.0.1:7002', '--peer', '3=localhost:7003']);
  assert.deepEqual(o.peers, [
    { id: 2, address: '127.0.0.1:7002' },
    { id: 3, address: 'localhost:7003' },
  ]);
});

test('bad flags are refused with a clear message', () => {
  refused(['--addr', '127.0.0.1:1', '--data-dir', 'd'], /--id is required/);
  refused([...base.slice(2), '--id', '0'], /--id: expected a positive integer/);
  refused([...base.slice(2), '--id', 'abc'], /--id: expected a positive integer/);
  refused(['--id', '1', '--addr', 'nohostport', '--data-dir', 'd'], /--addr: expected HOST:PORT/);
  refused(['--id', '1', '--addr', '127.0.0.1:99999', '--data-dir', 'd'], /--addr: expected HOST:PORT/);
  refused([...base, '--peer', 'two=127.0.0.1:7002'], /--peer: expected a positive integer/);
  refused([...base, '--peer', '127.0.0.1:7002'], /--peer: expected ID=HOST:PORT/);
  refused([...base, '--peer', '1=127.0.0.1:9999'], /node 1 is this node/);
  refused([...base, '--bogus'], /Unknown option '--bogus'/);
  refused([...base, '--log-level', 'loud'], /--log-level/);
  refused([...base, '--heartbeat-ticks', '10'], /must be smaller than --election-ticks/);
  refused([...base, '--join', '--peer', '2=127.0.0.1:7002'], /--join and --peer/);
  refused([...base, '--cluster-id', 'bad id!'], /--cluster-id/);
});

test('a YAML config file is read and flags override it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-config-'));
  const file = join(dir, 'cluster.yaml');
  writeFileSync(
    file,
    'id: 2\naddr: 127.0.0.1:7002\ndata-dir: /tmp/n2\npeer:\n  - 1=127.0.0.1:7001\ncluster-id: prod\nelection-ticks: 20\n',
  );
  const o = options(['--config', file, '--election-ticks', '30']);
  assert.equal(o.id, 2);
  assert.equal(o.clusterId, 'prod');
  assert.equal(o.electionTicks, 30);
  assert.deepEqual(o.peers, [{ id: 1, address: '127.0.0.1:7001' }]);
});

test('a bad config file is refused with a clear message', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-config-'));
  const unknown = join(dir, 'unknown.yaml');
  writeFileSync(unknown, 'id: 1\nspeed: fast\n');
  refused(['--config', unknown], /unknown option 'speed'/);
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'id: [1\n');
  refused(['--config', broken], /not valid YAML/);
  refused(['--config', join(dir, 'missing.yaml')], /cannot read/);
});

test('--help is recognised', () => {
  assert.deepEqual(parseNodeArgs(['--help']), { help: true });
});

test('splitHostPort gives listen/connect a bare host and a numeric port', () => {
  assert.deepEqual(splitHostPort('127.0.0.1:7001'), { host: '127.0.0.1', port: 7001 });
  assert.deepEqual(splitHostPort('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(splitHostPort('node-a.example:443'), { host: 'node-a.example', port: 443 });
});
