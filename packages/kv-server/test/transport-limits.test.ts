// Goal: each bound of src/limits.ts that the peer transport and the shared
// port read is enforced: a frame just over a size bound closes the link, a
// queue just over its bound drops the excess, and each timer has its effect
// (a connect that hangs is abandoned and redialled, a silent incoming link is
// closed, a connection that never names its protocol is dropped, keepalive is
// armed with its delay).
// Method: real RaftTransports on listenSharedPort over loopback (port 0),
// plain sockets playing a peer or a client, a child process whose listener
// never accepts (its full accept queue makes connects hang), and the kernel's
// socket table for keepalive timers. Timers are waited on with deadlines,
// never measured; PEER_LINK_INCOMING_IDLE_MS is injected smaller.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { crc32 } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import {
  BatchAck,
  CLIENT_LINK_MAGIC,
  encodeMessageFrame,
  type Message,
  MessageBatch,
  MessageType,
  RaftTransportServiceClient,
  RaftTransportServiceService,
  type SnapshotAck,
  type SnapshotChunk,
} from '@cairn/proto';
import { waitFor } from '@cairn/testkit';
import {
  ACK_FRAME_BYTES_MAX,
  GRPC_MESSAGE_BYTES_MAX,
  HELD_CONNECTIONS_MAX,
  PEER_CONNECT_TIMEOUT_MS,
  PEER_LINK_KEEPALIVE_MS,
  PEER_QUEUED_MESSAGES_MAX,
  PORT_SNIFF_TIMEOUT_MS,
  SNAPSHOT_SEND_CHUNK_BYTES,
} from '../src/limits.js';
import { createLogger } from '../src/logger.js';
import { GRPC_CHANNEL_OPTIONS } from '../src/transport/grpc-options.js';
import { PEER_LINK_MAGIC } from '../src/transport/peer-frames.js';
import { PeerListener } from '../src/transport/peer-listener.js';
import { listenSharedPort } from '../src/transport/shared-port.js';
import { peerService } from '../src/transport/peer-service.js';
import { sendSnapshot } from '../src/transport/snapshot-sender.js';
import { tcpTimers, tcpTimersReadable } from '@cairn/testkit';
import { heartbeat, startTransportNode, type TransportNode } from './helpers/transport-node.js';

const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function startNode(id: number): Promise<TransportNode> {
  const node = await startTransportNode(id, 'transport-limits');
  cleanups.push(() => node.close());
  return node;
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

function connect(port: number): { socket: net.Socket; closed: () => boolean } {
  const socket = net.connect({ host: '127.0.0.1', port });
  let closed = false;
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  socket.resume(); // read, so that the other end's close is seen
  cleanups.push(() => socket.destroy());
  return { socket, closed: () => closed };
}

function frameHeader(bytes: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(bytes);
  return header;
}

const linkTo = (node: TransportNode, peer: number) => node.transport.linkStates().find((l) => l.peer === peer);

describe('peer link bounds', () => {
  test('ACK_FRAME_BYTES_MAX: an ack frame of the bound is taken; one a byte larger resets the link', async () => {
    const a = await startNode(1);
    let peer: net.Socket | undefined;
    // A peer that acks the first batch with an ack frame exactly at the bound (padded with an unknown field).
    const fake = net.createServer((socket) => {
      peer = socket;
      socket.once('data', () => {
        const ack = Buffer.from(BatchAck.encode({ sequence: 1 }).finish());
        const pad = ACK_FRAME_BYTES_MAX - ack.length - 3; // tag (1 byte) and length (2 bytes) of field 15
        const padded = Buffer.concat([ack, Buffer.from([(15 << 3) | 2, (pad & 0x7f) | 0x80, pad >> 7]), Buffer.alloc(pad)]);
        assert.equal(padded.length, ACK_FRAME_BYTES_MAX);
        socket.write(Buffer.concat([frameHeader(padded.length), padded]));
      });
      socket.on('error', () => undefined);
    });
    a.transport.setPeer(2, `127.0.0.1:${await listen(fake)}`);
    a.transport.send([heartbeat(1, 2, 1)]);
    await waitFor(() => linkTo(a, 2)?.up, { deadlineMs: 10_000, what: 'the link to come up on an ack of the bound' });
    peer!.write(frameHeader(ACK_FRAME_BYTES_MAX + 1));
    await waitFor(() => linkTo(a, 2)?.up === false, { deadlineMs: 10_000, what: 'the link to be reset' });
    assert.match(linkTo(a, 2)!.reason!, new RegExp(`exceeds the ${ACK_FRAME_BYTES_MAX}-byte limit`));
  });

  test('PEER_QUEUED_MESSAGES_MAX: of one run of messages to a peer, those past the bound are dropped', async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    a.transport.setPeer(2, b.address);
    a.transport.send([heartbeat(1, 2, 1)]);
    await waitFor(() => linkTo(a, 2)?.up, { deadlineMs: 10_000, what: 'the link to come up' });
    const run = [];
    for (let i = 1; i <= PEER_QUEUED_MESSAGES_MAX + 1; i++) run.push(heartbeat(1, 2, 1_000_000 + i));
    a.transport.send(run);
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Sent after the run on the same link: once it arrives, all of the run that was sent has.
    a.transport.send([heartbeat(1, 2, 2)]);
    await waitFor(() => b.received.some((m) => m.commit === 2), { deadlineMs: 10_000, what: 'the message after the run' });
    const delivered = b.received.filter((m) => m.commit > 1_000_000).map((m) => m.commit - 1_000_000);
    assert.equal(delivered.length, PEER_QUEUED_MESSAGES_MAX);
    assert.equal(delivered.at(-1), PEER_QUEUED_MESSAGES_MAX, 'the last message of the run is the one dropped');
  });

  test('PEER_CONNECT_TIMEOUT_MS: a connect that hangs is abandoned, and the link dials again', async () => {
    const a = await startNode(1);
    // A listener whose process never accepts: once its accept queue (backlog 1) is full, SYNs are dropped.
    const child: ChildProcess = spawn(process.execPath, [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n');
         setImmediate(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0));
       });`,
    ]);
    cleanups.push(() => child.kill('SIGKILL'));
    const port = await new Promise<number>((resolve) =>
      child.stdout!.once('data', (data: Buffer) => resolve(Number(data.toString().trim()))),
    );
    const fillers = Array.from({ length: 16 }, () => connect(port));
    let connected = 0;
    for (const filler of fillers) filler.socket.once('connect', () => (connected += 1));
    await waitFor(() => connected >= 2, { deadlineMs: 10_000, what: 'the accept queue to fill' });
    a.transport.setPeer(2, `127.0.0.1:${port}`);
    a.transport.send([heartbeat(1, 2, 1)]);
    const timedOut = () =>
      a.logs.filter((l) => l.includes('peer-stream-broken') && l.includes(`not connected within ${PEER_CONNECT_TIMEOUT_MS} ms`)).length;
    // Without the timeout the kernel would retry the SYN for about two minutes.
    await waitFor(() => timedOut() >= 2, { deadlineMs: 20_000, what: 'a hung connect abandoned, redialled and abandoned again' });
    assert.ok(a.unreachable.includes(2), 'raft is told the peer is unreachable');
  });

  test('GRPC_MESSAGE_BYTES_MAX: an incoming peer link announcing a batch a byte larger is closed', async () => {
    const b = await startNode(2);
    const link = connect(b.port.port);
    link.socket.write(Buffer.concat([PEER_LINK_MAGIC, frameHeader(GRPC_MESSAGE_BYTES_MAX + 1)]));
    await waitFor(() => link.closed(), { deadlineMs: 10_000, what: 'the node to close the link' });
    assert.ok(b.logs.some((l) => l.includes('peer-batch-refused') && l.includes(`exceeds the ${GRPC_MESSAGE_BYTES_MAX}-byte limit`)));
  });

  test('PEER_LINK_INCOMING_IDLE_MS: an incoming link that sends nothing is closed; one that probes is kept', async () => {
    const listener = new PeerListener(createLogger('error', {}), () => undefined, 300);
    cleanups.push(() => listener.close());
    const port = await listen(net.createServer((socket) => listener.acceptSocket(socket)));
    const silent = connect(port);
    const probing = connect(port);
    const probe = encodeMessageFrame(MessageBatch, {
      clusterId: 'c',
      from: 3,
      to: 1,
      sequence: 1,
      messages: [],
      senderHttpAddress: '',
      senderPeerAddress: '',
      senderIncarnation: 0,
    });
    const timer = setInterval(() => probing.socket.write(probe), 50);
    cleanups.push(() => clearInterval(timer));
    await waitFor(() => listener.size === 2, { deadlineMs: 10_000, what: 'both links to be accepted' });
    await waitFor(() => silent.closed(), { deadlineMs: 10_000, what: 'the silent link to be closed' });
    assert.equal(probing.closed(), false, 'a link as old but not silent stays open');
    assert.equal(listener.size, 1);
  });

  test('PEER_LINK_KEEPALIVE_MS: both ends of a peer link arm TCP keepalive with that delay', { skip: !tcpTimersReadable }, async () => {
    const a = await startNode(1);
    const b = await startNode(2);
    a.transport.setPeer(2, b.address);
    a.transport.send([heartbeat(1, 2, 1)]);
    await waitFor(() => linkTo(a, 2)?.up, { deadlineMs: 10_000, what: 'the link to come up' });
    const ends = async () => (await tcpTimers()).filter((s) => s.localPort === b.port.port || s.remotePort === b.port.port);
    // A socket with data in flight shows its retransmit timer instead; between batches, the keepalive one.
    const dialled = await waitFor(async () => (await ends()).find((s) => s.remotePort === b.port.port && s.timer === 2), {
      deadlineMs: 10_000,
      what: "the dialler's keepalive timer",
    });
    const accepted = await waitFor(async () => (await ends()).find((s) => s.localPort === b.port.port && s.timer === 2), {
      deadlineMs: 10_000,
      what: "the acceptor's keepalive timer",
    });
    for (const end of [dialled, accepted]) assert.ok(end.whenMs <= PEER_LINK_KEEPALIVE_MS, `armed for ${end.whenMs} ms`);
  });
  test('PEER_INCOMING_LINKS_MAX: an incoming peer link past the bound is closed at once; those under it stay', async () => {
    const listener = new PeerListener(createLogger('error', {}), () => undefined, 60_000, 2);
    cleanups.push(() => listener.close());
    const port = await listen(net.createServer((socket) => listener.acceptSocket(socket)));
    const first = connect(port);
    const second = connect(port);
    await waitFor(() => listener.size === 2, { deadlineMs: 10_000, what: 'two links to be accepted' });
    const third = connect(port);
    await waitFor(() => third.closed(), { deadlineMs: 10_000, what: 'the link past the bound to be closed' });
    assert.equal(listener.size, 2);
    assert.equal(first.closed() || second.closed(), false, 'the links under the bound stay open');
  });
});

describe('shared port bounds', () => {
  test('PORT_SNIFF_TIMEOUT_MS: a connection that sends nothing, or half a magic, is dropped', async () => {
    const b = await startNode(2);
    const silent = connect(b.port.port);
    const partial = connect(b.port.port);
    partial.socket.write(PEER_LINK_MAGIC.subarray(0, 4));
    await waitFor(() => silent.closed() && partial.closed(), {
      deadlineMs: PORT_SNIFF_TIMEOUT_MS + 10_000,
      what: 'both connections to be dropped',
    });
  });

  test('HELD_CONNECTIONS_MAX: while the port is held, the connection past the bound is closed', async () => {
    const grpcServer = new grpc.Server();
    const port = await listenSharedPort(
      '127.0.0.1',
      0,
      grpcServer,
      (socket) => socket.destroy(),
      (socket) => socket.destroy(),
      true,
    );
    cleanups.push(() => grpcServer.forceShutdown());
    cleanups.push(() => port.close());
    const held: Array<ReturnType<typeof connect>> = [];
    // In steps, so that the listen backlog never overflows.
    while (held.length < HELD_CONNECTIONS_MAX) {
      const step = Math.min(128, HELD_CONNECTIONS_MAX - held.length);
      for (let i = 0; i < step; i++) held.push(connect(port.port));
      for (const link of held.slice(-step)) link.socket.write(CLIENT_LINK_MAGIC);
      const want = held.length;
      await waitFor(() => port.heldConnections === want, { deadlineMs: 20_000, what: `${want} connections to be held` });
    }
    const extra = connect(port.port);
    extra.socket.write(CLIENT_LINK_MAGIC);
    await waitFor(() => extra.closed(), { deadlineMs: 10_000, what: 'the connection past the bound to be closed' });
    assert.equal(port.heldConnections, HELD_CONNECTIONS_MAX);
    assert.ok(
      held.every((link) => !link.closed()),
      'those within the bound are still held',
    );
  });
});

describe('snapshot send bounds', () => {
  /** A peer's InstallSnapshot that records each chunk's size and, unless `silent`, accepts at the last. */
  async function snapshotPeer(silent: boolean): Promise<{ client: RaftTransportServiceClient; chunks: number[] }> {
    const chunks: number[] = [];
    const server = new grpc.Server(GRPC_CHANNEL_OPTIONS);
    server.addService(RaftTransportServiceService, {
      installSnapshot: (call: grpc.ServerReadableStream<SnapshotChunk, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        call.on('data', (chunk: SnapshotChunk) => {
          chunks.push(chunk.data.length);
          if (chunk.last && !silent) callback(null, { accepted: true, error: '' });
        });
      },
    } as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const client = new RaftTransportServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), GRPC_CHANNEL_OPTIONS);
    cleanups.push(() => server.forceShutdown());
    cleanups.push(() => client.close());
    return { client, chunks };
  }
  const snapshotOf = (bytes: number): Message =>
    ({
      ...heartbeat(1, 2, 0),
      type: MessageType.SNAP,
      snapshot: { data: Buffer.alloc(bytes, 7), metadata: { index: 5, term: 1, confState: undefined } },
    }) as Message;
  const logger = createLogger('error', {});

  test('SNAPSHOT_SEND_CHUNK_BYTES: a snapshot leaves in chunks of at most the bound', async () => {
    const peer = await snapshotPeer(false);
    const outcome = new Promise<boolean>((resolve) =>
      sendSnapshot(peer.client, snapshotOf(2 * SNAPSHOT_SEND_CHUNK_BYTES + 1), 'c', logger, resolve),
    );
    assert.equal(await outcome, true);
    assert.deepEqual(peer.chunks, [SNAPSHOT_SEND_CHUNK_BYTES, SNAPSHOT_SEND_CHUNK_BYTES, 1]);
  });

  test('SNAPSHOT_SEND_TIMEOUT_MS: a send the peer never answers fails once the timeout passes', async () => {
    const peer = await snapshotPeer(true);
    // Injected smaller than the bound; without a deadline the send would wait forever.
    let outcome: boolean | undefined;
    sendSnapshot(peer.client, snapshotOf(10), 'c', logger, (ok) => (outcome = ok), 300);
    await waitFor(() => outcome !== undefined, { deadlineMs: 10_000, what: 'the send to fail' });
    assert.equal(outcome, false);
    assert.equal(peer.chunks.length, 1, 'the peer had the whole snapshot and said nothing');
  });
});

describe('snapshot receive bounds', () => {
  test('SNAPSHOT_RECEIVE_BYTES_MAX: a snapshot larger than the bound is refused, and raft never sees it', async () => {
    const received: Message[] = [];
    const service = peerService({
      logger: createLogger('error', {}),
      check: () => undefined,
      admit: () => true,
      receive: (messages) => received.push(...messages),
      surveyAnswer: () => undefined,
      termSeenBefore: () => 0,
      snapshotBytesMax: 10,
    });
    const send = (sizes: number[]): Promise<SnapshotAck> =>
      new Promise((resolve) => {
        const call = new EventEmitter();
        service.installSnapshot(call as never, (_error, ack) => resolve(ack as SnapshotAck));
        const header = {
          ...heartbeat(1, 2, 0),
          type: MessageType.SNAP,
          snapshot: { data: Buffer.alloc(0), metadata: { index: 5, term: 1, confState: undefined } },
        } as Message;
        sizes.forEach((size, i) => {
          const data = Buffer.alloc(size, 1);
          const last = i === sizes.length - 1;
          const whole = Buffer.alloc(
            sizes.reduce((a, b) => a + b, 0),
            1,
          );
          call.emit('data', {
            clusterId: 'c',
            header: i === 0 ? header : undefined,
            data,
            last,
            checksum: last ? crc32(whole) : 0,
          } as SnapshotChunk);
        });
      });
    const atBound = await send([6, 4]);
    assert.equal(atBound.accepted, true, atBound.error);
    assert.equal(received.length, 1);
    const over = await send([6, 5]);
    assert.equal(over.accepted, false);
    assert.match(over.error, /larger than 10 bytes/);
    assert.equal(received.length, 1, 'the refused snapshot never reached raft');
  });
});
