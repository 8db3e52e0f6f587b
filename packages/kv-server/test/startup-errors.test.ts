// Goal: a refusal to start is reported with a stable code decided by the
// error's class and errno code, never by words in its message. Method: build
// the errors a failed listen or a bad flag gives and describe them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNodeArgs } from '../src/config.js';
import { ClusterMismatchError } from '../src/errors.js';
import {
  AddressInUseError,
  ConfigError,
  describeStartupError,
  ListenFailedError,
  listenError,
  StartupError,
} from '../src/startup-errors.js';

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

test('a failed listen is ADDRESS_IN_USE by its errno code, whatever its message says', () => {
  const inUse = listenError('--addr', '127.0.0.1:7001', errno('EADDRINUSE', 'listen failed'));
  assert.ok(inUse instanceof AddressInUseError && inUse instanceof StartupError);
  assert.deepEqual(describeStartupError(inUse), { code: 'ADDRESS_IN_USE', message: '--addr 127.0.0.1:7001: the port is already in use' });
  const denied = listenError('--client-addr', '0.0.0.0:80', errno('EACCES', 'address already in use'));
  assert.ok(denied instanceof ListenFailedError);
  assert.deepEqual(describeStartupError(denied), { code: 'LISTEN_FAILED', message: '--client-addr 0.0.0.0:80: cannot listen (EACCES)' });
});

test('a bad flag is a ConfigError, one of the startup errors, with code CONFIG_INVALID', () => {
  const error = (() => {
    try {
      parseNodeArgs(['--id', 'x', '--addr', '127.0.0.1:0', '--data-dir', '/tmp/none']);
    } catch (thrown) {
      return thrown;
    }
    return undefined;
  })();
  assert.ok(error instanceof ConfigError && error instanceof StartupError);
  assert.equal(error.name, 'ConfigError');
  assert.equal(describeStartupError(error).code, 'CONFIG_INVALID');
});

test('a refusal found in the data dir keeps its own code', () => {
  const mismatch = new ClusterMismatchError('/srv/n1', {
    stored: { clusterId: 'a', voters: [1] },
    flags: { clusterId: 'b', voters: undefined },
  });
  assert.equal(describeStartupError(mismatch).code, 'CLUSTER_MISMATCH');
  assert.equal(describeStartupError(new Error('port in use, data dir locked\n    at x (y.ts:1:1)')).code, 'INTERNAL');
});
