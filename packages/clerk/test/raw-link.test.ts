// Goal: the clerk's pipeline uses the raw KV link, with the pipeline's
// semantics: a server that answers the link in HTTP/2 fails the call at once
// as unreachable, having run nothing; calls of one turn share one frame,
// answers reach the right callers, a link cut after the echo fails its calls
// as retryable (the retry keeps the session), an unanswered write after the
// echo is an unknown outcome, a link that never echoes gets
// no op (an abort or a closed link is "never reached", not an unknown
// outcome), an idle link stops holding the process and is reused by the next
// call, and `rawLink: false`, explicit credentials or an HTTP proxy keep the
// clerk on gRPC.
// Method: in-test raw-link nodes (net servers on 127.0.0.1:0) that speak
// the link's framing and behave as each test needs; a bare grpc-js server.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  CLIENT_LINK_MAGIC,
  encodeFrame,
  FrameReader,
  KVServiceService,
  type PipelineOp,
  PipelineRequest,
  PipelineResponse,
  type PipelineResult,
} from '@cairn/proto';
import { AbortedError, Clerk, GrpcTransport, UnavailableError, UnknownOutcomeError } from '../src/index.js';
import { rawLinkTarget } from '../src/pipeline-carriers.js';
import { waitFor } from '@cairn/testkit';
import { CLERK_ENTRY, runClerkScript } from './child-script.js';
import { answer as answerWith } from './fake-results.js';

/** The fake's answer: a put gets version 9. */
const answer = (op: PipelineOp): PipelineResult => answerWith(op, 9);

/** One accepted link, after its magic. */
interface FakeLink {
  readonly index: number;
  readonly socket: net.Socket;
  echo(): void;
  answer(results: PipelineResult[]): void;
  onRequest(handler: (request: PipelineRequest) => void): void;
  closed(): boolean;
}

interface FakeNode {
  readonly address: string;
  /** Connections, and how many of them opened with the magic. */
  connections: number;
  magics: number;
  requests: PipelineRequest[];
}

const servers: net.Server[] = [];
async function serveRaw(behave: (link: FakeLink) => void): Promise<FakeNode> {
  const node: FakeNode = { address: '', connections: 0, magics: 0, requests: [] };
  const server = net.createServer((socket) => {
    node.connections += 1;
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    let link: FakeLink | undefined;
    let handler: (request: PipelineRequest) => void = () => undefined;
    let closed = false;
    socket.on('close', () => (closed = true));
    const reader = new FrameReader(1024 * 1024);
    socket.on('data', (chunk: Buffer) => {
      if (link === undefined) {
        head = Buffer.concat([head, chunk]);
        if (head.length < CLIENT_LINK_MAGIC.length) return;
        if (!head.subarray(0, CLIENT_LINK_MAGIC.length).equals(CLIENT_LINK_MAGIC)) return socket.destroy();
        node.magics += 1;
        chunk = head.subarray(CLIENT_LINK_MAGIC.length);
        link = {
          index: node.magics,
          socket,
          echo: () => socket.write(CLIENT_LINK_MAGIC),
          answer: (results) => socket.write(encodeFrame(PipelineResponse.encode({ results }).finish())),
          onRequest: (h) => (handler = h),
          closed: () => closed,
        };
        behave(link);
      }
      for (const frame of reader.push(chunk)) {
        const request = PipelineRequest.decode(frame);
        node.requests.push(request);
        handler(request);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(node, { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` });
}

/** The usual fake: echoes, then answers every op. */
function serving(link: FakeLink): void {
  link.echo();
  link.onRequest((request) => link.answer(request.ops.map(answer)));
}

const grpcServers: grpc.Server[] = [];

describe('KV calls over the raw link', () => {
  after(() => {
    for (const server of servers) server.close();
    for (const server of grpcServers) server.forceShutdown();
  });

  test('a server that answers the raw link in HTTP/2 fails the call at once as unreachable, and runs no op', async () => {
    const server = new grpc.Server();
    grpcServers.push(server);
    const received: string[] = [];
    const record = (_call: unknown, callback: grpc.sendUnaryData<unknown>) => {
      received.push('unary');
      callback({ code: grpc.status.INTERNAL });
    };
    server.addService(KVServiceService, {
      put: record,
      get: record,
      append: record,
      delete: record,
      cas: record,
      range: record,
      pipeline: (call: grpc.ServerDuplexStream<PipelineRequest, PipelineResponse>) =>
        call.on('data', (request: PipelineRequest) => {
          received.push(...request.ops.map(() => 'pipeline'));
          call.write({ results: request.ops.map(answer) });
        }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const address = `127.0.0.1:${port}`;
    const message = new RegExp(`node at ${address} did not answer the raw KV link \\(is it a Cairn node of this version\\?\\)`);
    // One attempt with a timeout far beyond the test's: it ends because the link failed, not by timing out.
    const connection = new GrpcTransport().connect(address);
    try {
      const request = { key: Buffer.from('k'), value: Buffer.from('v'), session: { clientId: 'c', seq: 1 }, prevKv: false };
      const result = await connection.call('put', request, { timeoutMs: 3_600_000, signal: new AbortController().signal });
      assert.ok(!result.ok);
      assert.ok(result.error instanceof UnavailableError, String(result.error));
      assert.match(result.error.message, message);
      assert.deepEqual([result.fromServer, result.mayHaveReachedServer], [false, false]);
    } finally {
      connection.close();
    }
    // Through the Clerk: a definite UNAVAILABLE (never an unknown outcome), and no op ran, over either carrier.
    const clerk = Clerk.lazy({ endpoints: [address], deadlineMs: 400, membersRefreshMs: 0, retry: { initialMs: 10, maxMs: 20 } });
    try {
      await assert.rejects(clerk.put('k', 'v'), (error: unknown) => error instanceof UnavailableError && message.test(error.message));
    } finally {
      clerk.close();
    }
    assert.deepEqual(received, []);
  });

  test('calls issued in one turn share one frame, and answers reach the right callers', async () => {
    const node = await serveRaw(serving);
    const clerk = Clerk.lazy({ endpoints: [node.address], deadlineMs: 5_000, membersRefreshMs: 0 });
    try {
      const keys = ['a', 'bb', 'ccc'];
      const values = await Promise.all(keys.map((key) => clerk.get(key, { consistency: 'serializable' })));
      assert.deepEqual(
        values.map((kv) => kv?.value.toString()),
        keys.map((key) => [...key].reverse().join('')),
      );
      assert.deepEqual(
        node.requests.map((r) => r.ops.length),
        [3],
      );
      assert.equal((await clerk.put('k', 'v')).version, 9);
      assert.equal(node.magics, 1, 'one link carries every call');
    } finally {
      clerk.close();
    }
  });

  test('a link cut after the echo fails its calls as retryable; the retry runs on a new link with the same session', async () => {
    const node = await serveRaw((link) => {
      link.echo();
      link.onRequest((request) => {
        if (link.index === 1) link.socket.destroy();
        else link.answer(request.ops.map(answer));
      });
    });
    const clerk = Clerk.lazy({ endpoints: [node.address], deadlineMs: 5_000, membersRefreshMs: 0, retry: { initialMs: 10, maxMs: 20 } });
    try {
      assert.equal((await clerk.put('k', 'v')).version, 9);
      assert.equal(node.magics, 2);
      const sessions = node.requests.map((r) => r.ops[0]!.put!.session);
      assert.equal(sessions.length, 2);
      assert.deepEqual(sessions[1], sessions[0], 'the retry reuses the session');
    } finally {
      clerk.close();
    }
  });

  test('a node that closes the link before echoing gets no op, and a write fails as never sent, not as an unknown outcome', async () => {
    const node = await serveRaw((link) => link.socket.destroy());
    const clerk = Clerk.lazy({
      endpoints: [node.address],
      deadlineMs: 400,
      requestTimeoutMs: 150,
      membersRefreshMs: 0,
      retry: { initialMs: 10, maxMs: 20 },
    });
    try {
      const error = await clerk.put('k', 'v').then(
        () => assert.fail('the put cannot succeed'),
        (e: unknown) => e,
      );
      assert.ok(!(error instanceof UnknownOutcomeError), `expected a definite failure, got ${String(error)}`);
      assert.ok(node.magics >= 1);
      assert.equal(node.requests.length, 0);
    } finally {
      clerk.close();
    }
  });

  test('a write sent after the echo and never answered ends as an unknown outcome', async () => {
    const node = await serveRaw((link) => link.echo()); // echoes, then answers nothing
    const clerk = Clerk.lazy({
      endpoints: [node.address],
      deadlineMs: 400,
      requestTimeoutMs: 150,
      membersRefreshMs: 0,
      retry: { initialMs: 10, maxMs: 20 },
    });
    try {
      await assert.rejects(clerk.put('k', 'v'), UnknownOutcomeError);
      assert.ok(node.requests.length >= 1, 'the put reached the node');
    } finally {
      clerk.close();
    }
  });

  test('an op aborted while the link waits for the echo never leaves', async () => {
    let opened: FakeLink | undefined;
    const node = await serveRaw((link) => (opened = link)); // never echoes
    const clerk = Clerk.lazy({ endpoints: [node.address], deadlineMs: 5_000, membersRefreshMs: 0 });
    try {
      const controller = new AbortController();
      const put = clerk.put('k', 'v', { signal: controller.signal }).catch((e: unknown) => e);
      await waitFor(() => opened !== undefined, { deadlineMs: 5_000, what: 'the link to open' });
      controller.abort();
      assert.ok((await put) instanceof AbortedError);
      // The link is dropped with its unsent op; a late echo sends nothing.
      await waitFor(() => opened!.closed(), { deadlineMs: 5_000, what: 'the link to be closed' });
      assert.equal(node.requests.length, 0);
    } finally {
      clerk.close();
    }
  });

  test('a link left idle stops holding the process, and the next call reuses it', async () => {
    const node = await serveRaw(serving);
    // The child never closes its clerk; its second put comes after an idle period (PIPELINE_IDLE_CLOSE_MS).
    const script = `import { Clerk } from ${CLERK_ENTRY};
      const clerk = Clerk.lazy({ endpoints: [${JSON.stringify(node.address)}], membersRefreshMs: 0 });
      const first = (await clerk.put('a', '1')).version;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const second = (await clerk.put('b', '2')).version;
      process.stdout.write('versions ' + first + ' ' + second + '\\n');`;
    const { code, output } = await runClerkScript(script);
    assert.equal(code, 0, `the child exits by itself: ${output}`);
    assert.match(output, /versions 9 9/);
    assert.equal(node.magics, 1, 'both calls went over one raw link');
  });

  test('no raw link where grpc-js would use an HTTP proxy, or for addresses it cannot dial', () => {
    assert.deepEqual(rawLinkTarget('127.0.0.1:7001', {}), { host: '127.0.0.1', port: 7001 });
    assert.deepEqual(rawLinkTarget('[::1]:7001', {}), { host: '::1', port: 7001 });
    assert.equal(rawLinkTarget('127.0.0.1:7001', { https_proxy: 'http://proxy:3128' }), undefined);
    assert.deepEqual(rawLinkTarget('127.0.0.1:7001', { http_proxy: 'http://proxy:3128', no_proxy: 'example.com, 127.0.0.1' }), {
      host: '127.0.0.1',
      port: 7001,
    });
    assert.equal(rawLinkTarget('db.internal:7001', { grpc_proxy: 'http://proxy:3128', no_proxy: 'example.com' }), undefined);
    assert.equal(rawLinkTarget('dns:///db.internal:7001', {}), undefined);
    assert.equal(rawLinkTarget('db.internal:0', {}), undefined);
  });

  test('rawLink: false, or explicit credentials, keep the clerk off the raw link', async () => {
    const node = await serveRaw(serving);
    for (const options of [{ rawLink: false }, { credentials: grpc.credentials.createInsecure() }]) {
      const clerk = Clerk.lazy(
        { endpoints: [node.address], deadlineMs: 300, requestTimeoutMs: 100, membersRefreshMs: 0 },
        { transport: new GrpcTransport(options) },
      );
      try {
        // The fake speaks only the raw link, so a gRPC call cannot succeed.
        await assert.rejects(clerk.get('k', { consistency: 'serializable' }));
      } finally {
        clerk.close();
      }
    }
    assert.ok(node.connections >= 2, 'gRPC connected');
    assert.equal(node.magics, 0);
  });
});
