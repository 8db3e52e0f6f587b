// Goal: KV calls over the gRPC Pipeline stream (`rawLink: false`) keep unary
// semantics: calls issued in one turn share one message, results answered out
// of order reach the right callers, a stream the node cuts fails its calls as
// retryable (the retry runs on a fresh stream with the same session), an
// unanswered call times out —
// as an unknown outcome for a write, a plain timeout for a read — and
// `pipeline: false` goes unary. A stream silent past a call's timeout is
// cancelled and replaced; closing the clerk cancels its stream, and so does
// an idle period, so a process that never closes its clerk still exits.
// Method: in-test gRPC servers on 127.0.0.1:0 implementing only what each test needs.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { KVServiceService, type PipelineOp, type PipelineRequest, type PipelineResponse, type PipelineResult } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import { Clerk, GrpcTransport, TimeoutError, UnknownOutcomeError } from '../src/index.js';
import { CLERK_ENTRY, runClerkScript } from './child-script.js';
import { answer as answerWith, header } from './fake-results.js';

type PipelineCall = grpc.ServerDuplexStream<PipelineRequest, PipelineResponse>;
const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback({ code: grpc.status.UNIMPLEMENTED });
const UNARY_UNIMPLEMENTED = {
  put: unimplemented,
  get: unimplemented,
  append: unimplemented,
  delete: unimplemented,
  cas: unimplemented,
  range: unimplemented,
};

/** The fake's answer: a put gets version 7. */
const answer = (op: PipelineOp): PipelineResult => answerWith(op, 7);

/** The clerk's dependencies for these tests: the pipeline over gRPC, not the raw link. */
const overGrpc = () => ({ transport: new GrpcTransport({ rawLink: false }) });

const servers: grpc.Server[] = [];
async function serve(pipeline: (call: PipelineCall) => void, unary: Partial<typeof UNARY_UNIMPLEMENTED> = {}): Promise<string> {
  const server = new grpc.Server();
  server.addService(KVServiceService, { ...UNARY_UNIMPLEMENTED, ...unary, pipeline });
  servers.push(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return `127.0.0.1:${port}`;
}

describe('KV calls over the pipeline stream', () => {
  after(() => {
    for (const server of servers) server.forceShutdown();
  });

  test('calls issued in one turn share a message, and reversed answers reach the right callers', async () => {
    const messageSizes: number[] = [];
    const address = await serve((call) => {
      call.on('data', (request: PipelineRequest) => {
        messageSizes.push(request.ops.length);
        for (const op of [...request.ops].reverse()) call.write({ results: [answer(op)] });
      });
    });
    const clerk = Clerk.lazy({ endpoints: [address], deadlineMs: 5_000, membersRefreshMs: 0 }, overGrpc());
    try {
      const keys = ['a', 'bb', 'ccc', 'dddd'];
      const values = await Promise.all(keys.map((key) => clerk.get(key, { consistency: 'serializable' })));
      assert.deepEqual(
        values.map((kv) => kv?.value.toString()),
        keys.map((key) => [...key].reverse().join('')),
      );
      assert.deepEqual(messageSizes, [4]);
    } finally {
      clerk.close();
    }
  });

  test('a stream the node cuts fails its calls as retryable; the retry runs on a new stream with the same session', async () => {
    const seen: Array<{ stream: number; clientId: string; seq: number }> = [];
    let streams = 0;
    const address = await serve((call) => {
      const stream = ++streams;
      call.on('data', (request: PipelineRequest) => {
        for (const op of request.ops) seen.push({ stream, clientId: op.put!.session!.clientId, seq: op.put!.session!.seq });
        if (stream === 1) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'cut by the test' });
        else call.write({ results: request.ops.map(answer) });
      });
    });
    const clerk = Clerk.lazy(
      { endpoints: [address], deadlineMs: 5_000, membersRefreshMs: 0, retry: { initialMs: 10, maxMs: 20 } },
      overGrpc(),
    );
    try {
      assert.equal((await clerk.put('k', 'v')).version, 7);
      assert.equal(streams, 2);
      assert.equal(seen.length, 2);
      assert.deepEqual(
        seen.map((s) => s.stream),
        [1, 2],
      );
      assert.deepEqual({ ...seen[1], stream: 0 }, { ...seen[0], stream: 0 }, 'the retry reuses the session');
    } finally {
      clerk.close();
    }
  });

  test('an unanswered write ends as an unknown outcome, an unanswered read as a timeout', async () => {
    const address = await serve((call) => call.on('data', () => {}));
    const clerk = Clerk.lazy(
      { endpoints: [address], deadlineMs: 400, requestTimeoutMs: 150, membersRefreshMs: 0, retry: { initialMs: 10, maxMs: 20 } },
      overGrpc(),
    );
    try {
      await assert.rejects(clerk.put('k', 'v'), UnknownOutcomeError);
      await assert.rejects(clerk.get('k'), TimeoutError);
    } finally {
      clerk.close();
    }
  });

  test("a stream that answers nothing within a call's timeout is cancelled; the retry opens a new one", async () => {
    let streams = 0;
    let firstCancelled = false;
    const address = await serve((call) => {
      const stream = ++streams;
      if (stream === 1) {
        call.on('cancelled', () => (firstCancelled = true));
        return; // stalled: reads nothing, answers nothing
      }
      call.on('data', (request: PipelineRequest) => call.write({ results: request.ops.map(answer) }));
    });
    const clerk = Clerk.lazy(
      { endpoints: [address], deadlineMs: 5_000, requestTimeoutMs: 150, membersRefreshMs: 0, retry: { initialMs: 10, maxMs: 20 } },
      overGrpc(),
    );
    try {
      assert.equal((await clerk.put('k', 'v')).version, 7);
      assert.equal(streams, 2);
      await waitFor(() => firstCancelled, { deadlineMs: 5_000, what: 'the stalled stream is cancelled' });
    } finally {
      clerk.close();
    }
  });

  test('close cancels the open stream instead of waiting for the node to end it', async () => {
    let cancelled = false;
    let opened = false;
    const address = await serve((call) => {
      opened = true;
      call.on('cancelled', () => (cancelled = true));
    });
    const clerk = Clerk.lazy({ endpoints: [address], deadlineMs: 5_000, membersRefreshMs: 0 }, overGrpc());
    const pending = clerk.get('k', { consistency: 'serializable' }).catch((error: unknown) => error);
    await waitFor(() => opened, { deadlineMs: 5_000, what: 'the stream reached the node' });
    clerk.close();
    assert.ok((await pending) instanceof Error);
    await waitFor(() => cancelled, { deadlineMs: 5_000, what: 'the node sees the stream cancelled' });
  });

  test('a stream left idle is cancelled; the next call opens a new one', async () => {
    let streams = 0;
    let cancelled = 0;
    const address = await serve((call) => {
      streams += 1;
      call.on('cancelled', () => (cancelled += 1));
      call.on('data', (request: PipelineRequest) => call.write({ results: request.ops.map(answer) }));
    });
    const clerk = Clerk.lazy({ endpoints: [address], deadlineMs: 5_000, membersRefreshMs: 0 }, overGrpc());
    try {
      assert.equal((await clerk.put('a', '1')).version, 7);
      await waitFor(() => cancelled === 1, { deadlineMs: 5_000, what: 'the idle stream is cancelled' });
      assert.equal((await clerk.put('b', '2')).version, 7);
      assert.equal(streams, 2);
    } finally {
      clerk.close();
    }
  });

  test('a process that never closes its clerk still exits', async () => {
    const address = await serve((call) => {
      call.on('data', (request: PipelineRequest) => call.write({ results: request.ops.map(answer) }));
    });
    const script = `import { Clerk, GrpcTransport } from ${CLERK_ENTRY};
      const clerk = Clerk.lazy({ endpoints: [${JSON.stringify(address)}], membersRefreshMs: 0 }, { transport: new GrpcTransport({ rawLink: false }) });
      process.stdout.write('version ' + String((await clerk.put('k', 'v')).version) + '\\n');`;
    const { code, output } = await runClerkScript(script);
    assert.equal(code, 0, `the child exits by itself: ${output}`);
    assert.match(output, /version 7/);
  });

  test('pipeline: false sends unary calls', async () => {
    let pipelines = 0;
    const address = await serve(
      (call) => {
        pipelines += 1;
        call.end();
      },
      { put: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { header, version: 3 }) },
    );
    const clerk = Clerk.lazy(
      { endpoints: [address], deadlineMs: 2_000, membersRefreshMs: 0 },
      { transport: new GrpcTransport({ pipeline: false }) },
    );
    try {
      assert.equal((await clerk.put('k', 'v')).version, 3);
      assert.equal(pipelines, 0);
    } finally {
      clerk.close();
    }
  });
});
