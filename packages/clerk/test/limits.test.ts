// Goal: each bound in src/limits.ts is enforced where it is read: an option,
// a queue or a retry loop just over it is refused (InvalidArgumentError,
// TooManyRequestsError), trimmed (the oldest status event, a discovered
// endpoint) or stopped (a call's attempts), and one at the bound is taken.
// The pipeline's idle and parked-link timers are tested with smaller values
// in pipeline-link.test.
// Method: Clerk.lazy over a ScriptedTransport and a FakeClock (sleeps are
// instant); the enforcing parts (StatusHub, WriteLanes, LeaderTracker,
// PipelineLink over a recording carrier) on their own; the raw KV link to a
// loopback server playing the node, and the kernel's socket table for its
// keepalive timer.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { CLIENT_LINK_MAGIC, type PipelineRequest } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import { Clerk, type ClerkOptions, type ClerkStatus, InvalidArgumentError, TimeoutError, TooManyRequestsError } from '../src/index.js';
import { LeaderTracker } from '../src/leader-tracker.js';
import {
  ATTEMPTS_MAX,
  CLIENT_ID_CHARS_MAX,
  CLIENT_LINK_FRAME_BYTES_MAX,
  CLIENT_LINK_KEEPALIVE_MS,
  ENDPOINTS_MAX,
  PIPELINE_MESSAGE_BYTES_TARGET,
  STATUS_EVENTS_BUFFERED_MAX,
  WRITE_LANES_MAX,
  WRITES_WAITING_MAX,
} from '../src/limits.js';
import { PipelineLink } from '../src/pipeline.js';
import { rawCarrier } from '../src/pipeline-carriers.js';
import { StatusHub } from '../src/status.js';
import { FakeClock, reply, ScriptedTransport, seededRandom } from '../src/testing.js';
import { WriteLanes } from '../src/write-lanes.js';
import { answer } from './fake-results.js';
import { tcpTimers, tcpTimersReadable } from '@cairn/testkit';

const cleanups: Array<() => unknown> = [];
after(() => {
  for (const cleanup of cleanups.reverse()) cleanup();
});

const A = '10.0.0.1:7001';
const endpoints = (count: number) => Array.from({ length: count }, (_, i) => `10.1.${i >> 8}.${i & 255}:7001`);

/** Whether a lazy clerk accepts `options` (it connects to nothing). */
function accepts(options: ClerkOptions): boolean {
  try {
    Clerk.lazy(options, { transport: new ScriptedTransport(), clock: new FakeClock(), random: seededRandom(1) }).close();
    return true;
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError, String(error));
    return false;
  }
}

describe('option bounds', () => {
  test('ENDPOINTS_MAX: one endpoint more is refused', () => {
    assert.equal(accepts({ endpoints: endpoints(ENDPOINTS_MAX) }), true);
    assert.equal(accepts({ endpoints: endpoints(ENDPOINTS_MAX + 1) }), false);
  });

  test('WRITE_LANES_MAX: one write lane more is refused', () => {
    assert.equal(accepts({ endpoints: [A], writesInflightMax: WRITE_LANES_MAX }), true);
    assert.equal(accepts({ endpoints: [A], writesInflightMax: WRITE_LANES_MAX + 1 }), false);
  });

  test('CLIENT_ID_CHARS_MAX: a client id one character longer is refused', () => {
    assert.equal(accepts({ endpoints: [A], clientId: 'c'.repeat(CLIENT_ID_CHARS_MAX) }), true);
    assert.equal(accepts({ endpoints: [A], clientId: 'c'.repeat(CLIENT_ID_CHARS_MAX + 1) }), false);
  });
});

describe('runtime bounds', () => {
  test('ATTEMPTS_MAX: a call whose attempts never succeed stops at the bound, deadline or not', async () => {
    const clock = new FakeClock();
    const transport = new ScriptedTransport({ clock, respond: () => reply.noLeader() });
    // Each attempt backs off 1 ms: the deadline would allow twice as many attempts.
    const clerk = Clerk.lazy(
      {
        endpoints: [A],
        membersRefreshMs: 0,
        deadlineMs: 2 * ATTEMPTS_MAX,
        requestTimeoutMs: 1_000,
        retry: { initialMs: 1, maxMs: 1, factor: 1, jitter: 0 },
      },
      { transport, clock, random: seededRandom(1) },
    );
    try {
      await assert.rejects(
        clerk.get('k'),
        (error) => error instanceof TimeoutError && error.message.includes(`after ${ATTEMPTS_MAX} attempts`),
      );
      assert.equal(transport.callsOf('get').length, ATTEMPTS_MAX);
    } finally {
      clerk.close();
    }
  });

  test('WRITES_WAITING_MAX: the write past it waiting for a lane is refused at once; those within it get the lane in turn', async () => {
    const lanes = new WriteLanes('c', 1);
    const held = await lanes.acquire(undefined);
    const waiting = Array.from({ length: WRITES_WAITING_MAX }, () => lanes.acquire(undefined));
    await assert.rejects(lanes.acquire(undefined), TooManyRequestsError);
    lanes.release(held);
    for (const next of waiting) lanes.release(await next);
    // Room again once the waiters have had their turn.
    lanes.release(await lanes.acquire(undefined));
  });

  test('STATUS_EVENTS_BUFFERED_MAX: a subscriber that does not read keeps the latest events, the oldest dropped', async () => {
    const hub = new StatusHub();
    const events = hub.subscribe();
    const redirect = (n: number): ClerkStatus => ({ type: 'redirect', from: String(n), to: A });
    for (let n = 1; n <= STATUS_EVENTS_BUFFERED_MAX + 1; n++) hub.emit(redirect(n));
    const read: string[] = [];
    for (let i = 0; i < STATUS_EVENTS_BUFFERED_MAX; i++) read.push(((await events.next()).value as { from: string }).from);
    assert.equal(read[0], '2', 'the oldest event was dropped');
    assert.equal(read.at(-1), String(STATUS_EVENTS_BUFFERED_MAX + 1));
    // Nothing else was buffered: the next event read is the next one emitted.
    hub.emit(redirect(0));
    assert.equal(((await events.next()).value as { from: string }).from, '0');
    hub.close();
  });

  test('ENDPOINTS_MAX: the pool does not grow past the bound, from members or from a redirect (which is still followed)', () => {
    const members = new LeaderTracker([A], new StatusHub());
    members.updateMembers(
      endpoints(ENDPOINTS_MAX + 10).map((clientAddress, id) => ({ id: id + 1, clientAddress })),
      0,
    );
    assert.equal(members.endpoints().length, ENDPOINTS_MAX);
    assert.equal(members.endpoints()[0], A, 'seeds come first');
    const seeds = endpoints(ENDPOINTS_MAX);
    const tracker = new LeaderTracker(seeds, new StatusHub());
    assert.equal(tracker.redirect(seeds[0]!, { leaderId: 9, leaderAddress: '10.9.9.9:7001' }), '10.9.9.9:7001');
    assert.equal(tracker.endpoints().length, ENDPOINTS_MAX);
    assert.ok(!tracker.endpoints().includes('10.9.9.9:7001'));
    // Below the bound, the same hint is added.
    const small = new LeaderTracker(seeds.slice(0, ENDPOINTS_MAX - 1), new StatusHub());
    small.redirect(seeds[0]!, { leaderId: 9, leaderAddress: '10.9.9.9:7001' });
    assert.ok(small.endpoints().includes('10.9.9.9:7001'));
  });
});

describe('pipeline and raw link bounds', () => {
  /** A loopback server playing a node: `greet` is what it writes to each connection; the sockets it accepted. */
  async function fakeNode(greet: Buffer): Promise<{ port: number; accepted: net.Socket[] }> {
    const accepted: net.Socket[] = [];
    const server = net.createServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => undefined);
      socket.write(greet);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of accepted) socket.destroy();
      server.close();
    });
    return { port: (server.address() as net.AddressInfo).port, accepted };
  }

  const attempt = () => ({ timeoutMs: 10_000, signal: new AbortController().signal });

  test('PIPELINE_MESSAGE_BYTES_TARGET: calls issued together leave in one message until their ops reach the target', async () => {
    const written: number[] = [];
    const link = new PipelineLink({
      open: (events) => ({
        write: (request: PipelineRequest) => {
          written.push(request.ops.length);
          queueMicrotask(() => events.response({ results: request.ops.map((op) => answer(op, 1)) }));
        },
        cancel: () => queueMicrotask(() => events.ended('cancelled')),
        sawReady: () => true,
      }),
    });
    try {
      // Three such puts reach the target, two do not.
      const value = Buffer.alloc(Math.ceil(PIPELINE_MESSAGE_BYTES_TARGET / 2.5));
      const calls = Array.from({ length: 5 }, (_, i) => link.call('put', { key: Buffer.from(`k${i}`), value, prevKv: false }, attempt()));
      for (const result of await Promise.all(calls)) assert.ok(result.ok);
      assert.deepEqual(written, [3, 2]);
    } finally {
      link.close();
    }
  });

  test('CLIENT_LINK_FRAME_BYTES_MAX: a raw link whose node announces a frame a byte larger is closed', async () => {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(CLIENT_LINK_FRAME_BYTES_MAX + 1);
    const node = await fakeNode(Buffer.concat([CLIENT_LINK_MAGIC, header]));
    let ended: string | undefined;
    const carrier = rawCarrier({ host: '127.0.0.1', port: node.port })({ response: () => undefined, ended: (reason) => (ended = reason) });
    cleanups.push(() => carrier.cancel());
    // Without the bound, the link would wait for the 64 MiB frame.
    await waitFor(() => ended, { deadlineMs: 10_000, what: 'the link to close' });
    assert.match(ended!, new RegExp(`exceeds the ${CLIENT_LINK_FRAME_BYTES_MAX}-byte limit`));
  });

  test('CLIENT_LINK_KEEPALIVE_MS: the raw link arms TCP keepalive with that delay', { skip: !tcpTimersReadable }, async () => {
    const node = await fakeNode(CLIENT_LINK_MAGIC);
    const carrier = rawCarrier({ host: '127.0.0.1', port: node.port })({ response: () => undefined, ended: () => undefined });
    cleanups.push(() => carrier.cancel());
    await waitFor(() => carrier.sawReady(), { deadlineMs: 10_000, what: 'the link to be ready' });
    const armed = await waitFor(async () => (await tcpTimers()).find((s) => s.remotePort === node.port && s.timer === 2), {
      deadlineMs: 10_000,
      what: "the clerk's keepalive timer",
    });
    assert.ok(armed.whenMs <= CLIENT_LINK_KEEPALIVE_MS, `armed for ${armed.whenMs} ms`);
  });
});
