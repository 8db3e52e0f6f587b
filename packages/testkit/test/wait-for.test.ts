// Goal: waitFor returns the first truthy value and fails with a clear message
// at its deadline. Method: conditions driven by a counter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, waitFor } from '../src/index.js';

test('waitFor returns the first truthy value', async () => {
  let calls = 0;
  const value = await waitFor(() => (++calls >= 3 ? calls : undefined), { intervalMs: 1 });
  assert.equal(value, 3);
});

test('waitFor names what it waited for at the deadline', async () => {
  await assert.rejects(waitFor(() => false, { deadlineMs: 20, intervalMs: 5, what: 'the impossible' }), /timed out after 20 ms waiting for the impossible/);
});

test('freePort returns a usable port number', async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536);
});
