// Goal: the raw peer link delivers raft messages over the node's one port
// (shared with gRPC), refuses foreign senders, keeps a quiet but live link,
// and resets a link whose peer stops answering. A port held until its node is
// ready keeps client connections (gRPC and raw KV links) waiting, then serves
// them.
// Method: real RaftTransports on listenSharedPort over loopback (port 0).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { type Message, MessageType } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import { PEER_LINK_BUFFERED_BYTES_MAX } from '../src/limits.js';
import { listenSharedPort } from '../src/transport/shared-port.js';
import { heartbeat, startTransportNode, type TransportNode } from './helpers/transport-node.js';

type Node = TransportNode;

const nodes: Node[] = [];
after(async () => {
  for (const n of nodes) await n.close();
});

async function startNode(id: number, clusterId = 'peer-link-test'): Promise<Node> {
  const node = await startTransportNode(id, clusterId);
  nodes.push(node);
  return node;
}

describe('raw peer link on the shared port', () => {
  test('messages arrive in order over the raw link, and a snapshot over gRPC on the same port', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    a.transport.setPeer(2, b.address);
    for (let i = 1; i <= 100; i++) a.transport.send([heartbeat(1, 2, i)]);
    await waitFor(() => b.received.length >= 100, { what: '100 messages' });
    assert.deepEqual(
      b.received.map((m) => m.commit),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );

    const snapshot: Message = {
      ...heartbeat(1, 2, 0),
      type: MessageType.SNAP,
      snapshot: { data: Buffer.from('state'), metadata: { index: 5, term: 1, confState: undefined } },
    } as Message;
    a.transport.send([snapshot]);
    const got = await waitFor(() => b.received.find((m) => m.type === MessageType.SNAP), { what: 'the snapshot' });
    assert.equal(Buffer.from(got.snapshot!.data).toString(), 'state');
  });

  test('a sender from another cluster is refused and told so by a closed link', async () => {
    const b = await startNode(2);
    const stranger = await startNode(3, 'another-cluster');
    stranger.transport.setPeer(2, b.address);
    stranger.transport.send([heartbeat(3, 2, 1)]);
    await waitFor(() => b.logs.some((l) => l.includes('peer-batch-refused') && l.includes('cluster id mismatch')), { what: 'the refusal' });
    await waitFor(() => stranger.unreachable.includes(2), { what: 'the sender to see the link fail' });
    assert.equal(b.received.length, 0);
  });

  test('a quiet but live link is not reset: trailing batches are acked after a delay', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    a.transport.setPeer(2, b.address);
    // Batch 1 is acked at once, the rest only by the delayed ack. Without it,
    // the unacked batches would look stalled after 3 s and the link would reset.
    let sent = 0;
    const started = Date.now();
    await waitFor(
      () => {
        a.transport.send([heartbeat(1, 2, ++sent)]);
        return Date.now() - started > 4_500;
      },
      { intervalMs: 250, what: '4.5 s of a slow trickle' },
    );
    await waitFor(() => b.received.length === sent, { what: 'every message' });
    assert.deepEqual(a.unreachable, []);
    assert.ok(!a.logs.some((l) => l.includes('peer-stream-stalled')), 'the link was reset');
  });

  test('a peer that accepts the connection but never answers is reset and reported unreachable', async () => {
    const a = await startNode(1);
    const sink = net.createServer((socket) => socket.on('data', () => undefined));
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    after(() => sink.close());
    a.transport.setPeer(2, `127.0.0.1:${(sink.address() as net.AddressInfo).port}`);
    let commit = 0;
    await waitFor(
      () => {
        a.transport.send([heartbeat(1, 2, ++commit)]);
        return a.logs.some((l) => l.includes('peer-stream-stalled'));
      },
      { intervalMs: 100, deadlineMs: 20_000, what: 'the stalled link to be reset' },
    );
    assert.ok(a.unreachable.includes(2));
  });

  test('a peer that stops reading costs the sender a bounded buffer; the excess is dropped', async () => {
    const a = await startNode(1);
    // Reads the magic and then nothing: the kernel's buffers fill, then the link's.
    const sink = net.createServer((socket) => socket.pause());
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    after(() => sink.close());
    a.transport.setPeer(2, `127.0.0.1:${(sink.address() as net.AddressInfo).port}`);
    const entry = { term: 1, index: 1, type: 0, data: Buffer.alloc(1024 * 1024, 1) };
    let peak = 0;
    for (let i = 0; i < 64; i++) {
      a.transport.send([{ ...heartbeat(1, 2, i), type: MessageType.APP, entries: [entry] } as Message]);
      // Let each batch reach the socket before the next is queued.
      await new Promise<void>((resolve) => queueMicrotask(resolve));
      peak = Math.max(peak, a.transport.bufferedBytes());
    }
    // 64 MiB were sent; without the bound all of it beyond the kernel's share would be held.
    assert.ok(peak >= PEER_LINK_BUFFERED_BYTES_MAX, `the link filled up (peak ${peak})`);
    assert.ok(peak < PEER_LINK_BUFFERED_BYTES_MAX + 2 * 1024 * 1024, `held ${peak} bytes`);
  });

  test('a connection that is neither gRPC nor a peer link is closed; the port keeps serving', async () => {
    const b = await startNode(2);
    const junk = net.connect(b.port.port, '127.0.0.1');
    junk.on('error', () => undefined);
    junk.resume(); // read, so the server's close is seen
    junk.write('GET / HTTP/1.1\r\n\r\n');
    await new Promise<void>((resolve) => junk.on('close', () => resolve()));
    const a = await startNode(1);
    a.transport.setPeer(2, b.address);
    a.transport.send([heartbeat(1, 2, 42)]);
    await waitFor(() => b.received.some((m) => m.commit === 42), { what: 'a message after the junk connection' });
  });
});

describe('a port held until its node is ready', () => {
  const echo = {
    echo: {
      path: '/cairn.test.Echo/Echo',
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: Buffer) => value,
      requestDeserialize: (value: Buffer) => value,
      responseSerialize: (value: Buffer) => value,
      responseDeserialize: (value: Buffer) => value,
    },
  } as const;
  const EchoClient = grpc.makeGenericClientConstructor(echo, 'Echo');

  test('client connections wait for open() instead of meeting a service that is not registered yet', async () => {
    const grpcServer = new grpc.Server();
    const clientSockets: net.Socket[] = [];
    const port = await listenSharedPort(
      '127.0.0.1',
      0,
      grpcServer,
      (socket) => socket.destroy(),
      (socket) => clientSockets.push(socket),
      true,
    );
    const client = new EchoClient(`127.0.0.1:${port.port}`, grpc.credentials.createInsecure());
    try {
      const call = new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest(
          echo.echo.path,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.from('ping'),
          { deadline: Date.now() + 20_000 },
          (error, value) => (error ? reject(error) : resolve(value!)),
        ),
      );
      const raw = net.connect({ host: '127.0.0.1', port: port.port });
      raw.on('error', () => undefined);
      raw.write(Buffer.from('CAIRNKV1', 'latin1'));
      await waitFor(() => port.heldConnections === 2, { deadlineMs: 10_000, what: 'both connections to be held' });
      assert.equal(clientSockets.length, 0, 'a held raw link is not handed over');
      // Clients that give up while held (a FIN, a reset) free their places.
      const quitters = [net.connect({ host: '127.0.0.1', port: port.port }), net.connect({ host: '127.0.0.1', port: port.port })];
      for (const quitter of quitters) {
        quitter.on('error', () => undefined);
        quitter.write(Buffer.from('CAIRNKV1', 'latin1'));
      }
      await waitFor(() => port.heldConnections === 4, { deadlineMs: 10_000, what: 'the quitters to be held' });
      quitters[0]!.end();
      quitters[1]!.resetAndDestroy();
      await waitFor(() => port.heldConnections === 2, { deadlineMs: 10_000, what: 'the quitters to be dropped' });
      // Registered while the call waits: without the hold, the call would have met UNIMPLEMENTED.
      grpcServer.addService(echo, {
        echo: (c: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => callback(null, c.request),
      });
      port.open();
      assert.equal((await call).toString(), 'ping');
      assert.equal(clientSockets.length, 1, 'the raw link is handed over on open()');
      assert.equal(port.heldConnections, 0);
      raw.destroy();
    } finally {
      client.close();
      await port.close();
      grpcServer.forceShutdown();
    }
  });
});
