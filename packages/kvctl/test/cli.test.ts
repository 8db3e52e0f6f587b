// Goal: main() wires parse → execute → render and sets the exit code: plain
// text off a TTY, JSON with --output json, one-line errors with mapped exit
// codes and never a stack trace. Method: main() in-process with collecting
// streams (not a TTY) and a fake clerk connector.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { main } from '../src/cli.js';
import type { ConnectOptions } from '../src/connect.js';
import { FakeClerk, FakeClerkError } from './fake-clerk.js';

class Collector extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  connects: ConnectOptions[];
}

async function kvctl(
  argv: string[],
  clerk: FakeClerk = new FakeClerk(),
  options: { stdin?: Buffer; connectError?: Error; env?: Record<string, string> } = {},
): Promise<Run> {
  const stdout = new Collector();
  const stderr = new Collector();
  const connects: ConnectOptions[] = [];
  const exitCode = await main(argv, {
    stdout,
    stderr,
    stdin: Readable.from([options.stdin ?? Buffer.alloc(0)]),
    env: options.env ?? {},
    connect: async (connectOptions) => {
      connects.push(connectOptions);
      if (options.connectError !== undefined) throw options.connectError;
      return clerk;
    },
  });
  return { exitCode, stdout: stdout.text, stderr: stderr.text, connects };
}

describe('kvctl main', () => {
  test('put then get, plain text; the clerk is closed after each command', async () => {
    const clerk = new FakeClerk();
    const put = await kvctl(['put', 'greeting', 'hello'], clerk);
    assert.deepEqual([put.exitCode, put.stdout, put.stderr], [0, 'OK (version 1)\n', '']);
    assert.equal(clerk.closed, true);
    const get = await kvctl(['get', 'greeting'], clerk);
    assert.deepEqual([get.exitCode, get.stdout], [0, 'hello\n']);
  });

  test('endpoints and timeout reach the connector', async () => {
    const run = await kvctl(['--timeout', '300', 'status'], new FakeClerk(), { env: { CAIRN_ENDPOINTS: 'h:1,h:2' } });
    assert.deepEqual(run.connects, [{ endpoints: ['h:1', 'h:2'], clusterId: undefined, timeoutMs: 300 }]);
  });

  test('put - reads the value from stdin', async () => {
    const clerk = new FakeClerk();
    const run = await kvctl(['put', 'k', '-'], clerk, { stdin: Buffer.from('from stdin\n') });
    assert.equal(run.exitCode, 0);
    assert.equal(clerk.store.get('k')?.value.toString(), 'from stdin\n');
  });

  test('a missing key exits 1 with nothing on stdout', async () => {
    const run = await kvctl(['get', 'nope']);
    assert.deepEqual([run.exitCode, run.stdout, run.stderr], [1, '', 'not found: nope\n']);
  });

  test('--output json prints one JSON document', async () => {
    const clerk = new FakeClerk();
    await kvctl(['put', 'k', 'v'], clerk);
    const run = await kvctl(['get', 'k', '--output', 'json'], clerk);
    assert.equal(run.exitCode, 0);
    assert.deepEqual(JSON.parse(run.stdout), { found: true, key: 'k', value: 'v', version: 1, createIndex: 1, modIndex: 1 });
  });

  test('usage errors exit 2 with one line and never connect', async () => {
    const run = await kvctl(['get']);
    assert.equal(run.exitCode, 2);
    assert.equal(run.stderr.split('\n')[0], "error: USAGE: missing required argument 'key'");
    assert.equal(run.connects.length, 0);
    const json = await kvctl(['--output', 'json', 'frob']);
    assert.equal(json.exitCode, 2);
    assert.equal(JSON.parse(json.stderr).error.code, 'USAGE');
  });

  test('--help prints help and exits 0; no arguments prints help and exits 2', async () => {
    const help = await kvctl(['--help']);
    assert.equal(help.exitCode, 0);
    assert.match(help.stdout, /Usage: kvctl/);
    const bare = await kvctl([]);
    assert.equal(bare.exitCode, 2);
    assert.match(bare.stderr, /Usage: kvctl/);
  });

  test('clerk errors print CODE and one line, exit with the mapped code, no stack', async () => {
    const clerk = new FakeClerk();
    clerk.failWith = new FakeClerkError('VALUE_TOO_LARGE', 'value is 2000000 bytes\n    at validate (x.ts:1:1)');
    const run = await kvctl(['put', 'k', 'v'], clerk);
    assert.equal(run.exitCode, 4);
    assert.equal(run.stderr.split('\n')[0], 'error: VALUE_TOO_LARGE: value is 2000000 bytes');
    assert.doesNotMatch(run.stderr, /x\.ts/);
    assert.equal(clerk.closed, true);
  });

  test('an unreachable cluster exits 3', async () => {
    const run = await kvctl(['status'], new FakeClerk(), { connectError: new FakeClerkError('UNAVAILABLE', 'no endpoint answered') });
    assert.equal(run.exitCode, 3);
    assert.equal(run.stderr, 'error: UNAVAILABLE: no endpoint answered\n');
  });

  test('a failed cas exits 5', async () => {
    const run = await kvctl(['cas', 'k', 'v', '--expect-version', '3']);
    assert.equal(run.exitCode, 5);
    assert.equal(run.stdout, 'precondition failed: the key does not exist\n');
  });

  test('bench --json prints one summary', async () => {
    const clerk = new FakeClerk();
    const run = await kvctl(['bench', '--count', '20', '--concurrency', '2', '--keys', '5', '--json'], clerk);
    assert.equal(run.exitCode, 0);
    const summary = JSON.parse(run.stdout);
    assert.equal(summary.ops, 20);
    assert.equal(summary.done, true);
    assert.equal(clerk.calls.length, 20);
  });

  test('check of a missing history file is a usage error (exit 2) and needs no cluster', async () => {
    const run = await kvctl(['check', 'no-such-history.jsonl']);
    assert.equal(run.exitCode, 2);
    assert.match(run.stderr, /^error: USAGE: cannot read history no-such-history.jsonl \(ENOENT\)/);
    assert.equal(run.connects.length, 0);
  });
});
