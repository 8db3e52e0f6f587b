// Goal: the pipeline service's bounds of src/limits.ts that limits.test.ts
// cannot reach through a node: results settled together leave in messages cut
// at PIPELINE_MESSAGE_BYTES_TARGET; a raw link the node ended is destroyed
// CLIENT_LINK_CLOSE_GRACE_MS later when its client never reads its last
// results; a raw link's socket arms keepalive at CLIENT_LINK_KEEPALIVE_MS.
// Method: PipelineStreams over a fake KvApi whose gets answer at once with a
// large value (so that the results of one request settle in the same run),
// fed a fake gRPC call or real loopback sockets; the kernel's socket table
// for the keepalive timer. Timers are waited on with deadlines, never measured.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { Consistency, encodeFrame, type PipelineOp, PipelineRequest, type PipelineResponse } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import type { KvApi } from '../src/api/kv-api.js';
import { PipelineStreams } from '../src/api/pipeline-service.js';
import { CLIENT_LINK_CLOSE_GRACE_MS, CLIENT_LINK_KEEPALIVE_MS, PIPELINE_MESSAGE_BYTES_TARGET } from '../src/limits.js';
import { createLogger } from '../src/logger.js';
import { tcpTimers, tcpTimersReadable } from '@cairn/testkit';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** PipelineStreams whose every get answers at once with `value`. */
function streams(value: Buffer): PipelineStreams {
  const api = {
    get: (request: { key: Buffer }) =>
      Promise.resolve({
        header: undefined,
        kv: { key: request.key, value, version: 1, createIndex: 1, modIndex: 1, createRevision: 1, modRevision: 1, lease: 0 },
      }),
  };
  return new PipelineStreams(api as unknown as KvApi, (_op, handler) => handler(), createLogger('error', {}));
}

function gets(count: number): PipelineOp[] {
  return Array.from({ length: count }, (_, i) => ({ id: i + 1, get: { key: Buffer.from('k'), consistency: Consistency.SERIALIZABLE } }));
}

/** A loopback server handing each socket to `pipelines` as the shared port would (half-open allowed); the sockets it accepted. */
async function rawServer(pipelines: PipelineStreams): Promise<{ port: number; accepted: net.Socket[] }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    accepted.push(socket);
    pipelines.acceptSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const socket of accepted) socket.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, accepted };
}

function client(port: number): net.Socket {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  cleanups.push(() => socket.destroy());
  return socket;
}

describe('pipeline service bounds', () => {
  test('PIPELINE_MESSAGE_BYTES_TARGET: results settled together are cut into messages once they reach the target', async () => {
    // Three results reach the target, two do not.
    const value = Buffer.alloc(Math.ceil(PIPELINE_MESSAGE_BYTES_TARGET / 2.5), 1);
    const written: PipelineResponse[] = [];
    const call = Object.assign(new EventEmitter(), { write: (response: PipelineResponse) => written.push(response), end: () => undefined });
    streams(value).handler(call as unknown as Parameters<PipelineStreams['handler']>[0]);
    call.emit('data', { ops: gets(8) } satisfies PipelineRequest);
    await waitFor(() => written.reduce((n, r) => n + r.results.length, 0) === 8, { deadlineMs: 10_000, what: 'eight results' });
    // Settled in one run, all eight would leave as one message without the cut.
    assert.deepEqual(
      written.map((r) => r.results.length),
      [3, 3, 2],
    );
  });

  test('CLIENT_LINK_CLOSE_GRACE_MS: a raw link the node ended, whose client never reads its last results, is destroyed', async () => {
    const server = await rawServer(streams(Buffer.alloc(1024 * 1024, 2)));
    const socket = client(server.port);
    // 32 MiB of results: more than the kernel's buffers take, less than CLIENT_LINK_BUFFERED_BYTES_MAX.
    socket.write(encodeFrame(PipelineRequest.encode({ ops: gets(32) }).finish()));
    socket.end(); // its last op: the node ends the link once every op is answered
    socket.pause(); // and never reads
    await waitFor(() => server.accepted.length === 1, { deadlineMs: 10_000, what: 'the link to be accepted' });
    const accepted = server.accepted[0]!;
    await waitFor(() => accepted.writableEnded, { deadlineMs: 10_000, what: 'the node to end the link' });
    // Ended, its results unread: only the grace timer closes it.
    await waitFor(() => accepted.closed, { deadlineMs: CLIENT_LINK_CLOSE_GRACE_MS + 10_000, what: 'the node to destroy the link' });
  });

  test('CLIENT_LINK_KEEPALIVE_MS: a raw link arms TCP keepalive with that delay', { skip: !tcpTimersReadable }, async () => {
    const server = await rawServer(streams(Buffer.from('v')));
    client(server.port);
    await waitFor(() => server.accepted.length === 1, { deadlineMs: 10_000, what: 'the link to be accepted' });
    const armed = await waitFor(async () => (await tcpTimers()).find((s) => s.localPort === server.port && s.timer === 2), {
      deadlineMs: 10_000,
      what: "the node's keepalive timer",
    });
    assert.ok(armed.whenMs <= CLIENT_LINK_KEEPALIVE_MS, `armed for ${armed.whenMs} ms`);
  });
});
