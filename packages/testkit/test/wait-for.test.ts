// Goal: waitFor returns the first truthy value and fails with a clear message
// at its deadline; freePort gives ports a server can bind, away from outgoing
// connections. Method: conditions driven by a counter; binding the ports.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, waitFor } from '../src/index.js';

test('waitFor returns the first truthy value', async () => {
  let calls = 0;
  const value = await waitFor(() => (++calls >= 3 ? calls : undefined), { intervalMs: 1 });
  assert.equal(value, 3);
});

test('waitFor names what it waited for at the deadline', async () => {
  await assert.rejects(
    waitFor(() => false, { deadlineMs: 20, intervalMs: 5, what: 'the impossible' }),
    /timed out after 20 ms waiting for the impossible/,
  );
});

test('freePort returns distinct ports below the ephemeral range that a server can then bind', async () => {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const seen = new Set<number>();
  for (let i = 0; i < 50; i++) {
    const port = await freePort();
    assert.ok(!seen.has(port), `port ${port} was handed out twice`);
    seen.add(port);
    assert.ok(port >= 20_000 && port < ephemeralLow!, `port ${port} is outside [20000, ${ephemeralLow})`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  }
});
