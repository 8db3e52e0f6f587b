// Goal: a FramedLink delivers the messages that were sent, however TCP cuts
// the bytes; closes on a frame over its limit, delivering nothing after it;
// reports a half-close and still sends after it; refuses sends beyond its
// write bound; holds its frames until the other end's hello, and sends none
// of them to an end that answers something else; reports one close cause.
// Method: real sockets on 127.0.0.1 port 0; the far end is a plain socket
// that writes raw bytes or is another FramedLink.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { BatchAck, encodeFrame, encodeMessageFrame, FramedLink, type LinkClosed } from '../src/index.js';

const servers: net.Server[] = [];
after(() => {
  for (const server of servers) server.close();
});

/** A server whose every connection goes to `onSocket`; resolves its port. */
async function listen(onSocket: (socket: net.Socket) => void, allowHalfOpen = false): Promise<number> {
  const server = net.createServer({ allowHalfOpen }, onSocket);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

function waitUntil(check: () => boolean, what: string, deadlineMs = 10_000): Promise<void> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (check()) return resolve();
      if (Date.now() - started > deadlineMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 5);
    };
    poll();
  });
}

interface Ends {
  link: FramedLink<BatchAck, BatchAck>;
  received: number[];
  closes: LinkClosed[];
  ended: () => boolean;
}

/** Dials `port` with a BatchAck link (frames up to `frameBytesMax`). */
function dial(
  port: number,
  options: { frameBytesMax?: number; expectHello?: Buffer; hello?: Buffer; writeBufferBytesMax?: number; onEnd?: boolean } = {},
): Ends {
  const received: number[] = [];
  const closes: LinkClosed[] = [];
  let ended = false;
  const link = FramedLink.dial<BatchAck, BatchAck>({
    host: '127.0.0.1',
    port,
    keepAliveMs: 10_000,
    hello: options.hello,
    expectHello: options.expectHello,
    writeBufferBytesMax: options.writeBufferBytesMax,
    receive: { codec: BatchAck, what: 'BatchAck', frameBytesMax: options.frameBytesMax ?? 1024 },
    sendCodec: BatchAck,
    onMessage: (ack) => received.push(ack.sequence),
    onEnd: options.onEnd ? () => void (ended = true) : undefined,
    onClose: (cause) => closes.push(cause),
  });
  return { link, received, closes, ended: () => ended };
}

describe('FramedLink', () => {
  test('messages arrive whole and in order when the bytes come one at a time', async () => {
    const stream = Buffer.concat([1, 2, 300, 70_000].map((sequence) => encodeMessageFrame(BatchAck, { sequence })));
    const port = await listen((socket) => {
      let at = 0;
      const drip = (): void => {
        if (at >= stream.length) return void socket.end();
        socket.write(stream.subarray(at, at + 1), drip);
        at += 1;
      };
      drip();
    });
    const ends = dial(port);
    await waitUntil(() => ends.closes.length === 1, 'the link to close');
    assert.deepEqual(ends.received, [1, 2, 300, 70_000]);
    assert.equal(ends.closes[0]!.kind, 'remote-end', 'a half-close without onEnd closes the link');
  });

  test('a frame over the limit closes the link; nothing after it is delivered', async () => {
    const port = await listen((socket) => {
      socket.on('error', () => undefined);
      socket.write(
        Buffer.concat([
          encodeMessageFrame(BatchAck, { sequence: 7 }),
          encodeFrame(Buffer.alloc(64)),
          encodeMessageFrame(BatchAck, { sequence: 8 }),
        ]),
      );
    });
    const ends = dial(port, { frameBytesMax: 16 });
    await waitUntil(() => ends.closes.length === 1, 'the link to close');
    assert.ok(!ends.received.includes(8), 'nothing after the bad frame');
    assert.equal(ends.closes[0]!.kind, 'bad-frame');
    assert.match(ends.closes[0]!.reason, /exceeds the 16-byte limit/);
  });

  test('a half-close is reported, and this end still sends and then ends', async () => {
    let accepted: Ends | undefined;
    const port = await listen((socket) => {
      const received: number[] = [];
      const closes: LinkClosed[] = [];
      let ended = false;
      const link = FramedLink.accept<BatchAck, BatchAck>(socket, {
        keepAliveMs: 10_000,
        receive: { codec: BatchAck, what: 'BatchAck', frameBytesMax: 1024 },
        sendCodec: BatchAck,
        onMessage: (ack) => received.push(ack.sequence),
        onEnd: () => {
          ended = true;
          // Answers after the other end has stopped sending.
          link.send({ sequence: received.length });
          link.end(5_000);
        },
        onClose: (cause) => closes.push(cause),
      });
      accepted = { link, received, closes, ended: () => ended };
    }, true);
    const socket = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const answers: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => answers.push(chunk));
    socket.write(Buffer.concat([encodeMessageFrame(BatchAck, { sequence: 1 }), encodeMessageFrame(BatchAck, { sequence: 2 })]));
    socket.end();
    await new Promise<void>((resolve) => socket.on('end', () => resolve()));
    socket.destroy();
    assert.ok(accepted!.ended(), 'the half-close was reported');
    assert.deepEqual(Buffer.concat(answers), encodeMessageFrame(BatchAck, { sequence: 2 }), 'sent after the half-close');
    await waitUntil(() => accepted!.closes.length === 1, 'the accepted link to close');
    assert.deepEqual(accepted!.received, [1, 2]);
  });

  test('a send beyond the write bound is refused and nothing of it is written', async () => {
    // The far end never reads: the kernel's buffers fill, then the link's.
    const port = await listen((socket) => socket.pause());
    const bound = 256 * 1024;
    const ends = dial(port, { frameBytesMax: 1024, writeBufferBytesMax: bound });
    await waitUntil(() => ends.link.ready, 'the link to be ready');
    const big = Buffer.alloc(64 * 1024, 1);
    let refused = 0;
    for (let i = 0; i < 1024 && refused === 0; i++) {
      const before = ends.link.bufferedBytes;
      if (before > bound) {
        assert.equal(ends.link.send({ sequence: i }), false, 'refused over the bound');
        assert.equal(ends.link.bufferedBytes, before, 'nothing written');
        refused += 1;
      } else {
        ends.link.sendEncoded(encodeFrame(big));
        // Let the socket hand what it can to the kernel.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    assert.equal(refused, 1, 'the write buffer reached its bound');
    assert.ok(ends.link.bufferedBytes <= bound + big.length + 8, `held ${ends.link.bufferedBytes} bytes`);
    ends.link.close('done');
    await waitUntil(() => ends.closes.length === 1, 'the link to close');
    assert.deepEqual(ends.closes[0], { kind: 'local', reason: 'done' });
  });

  test('frames wait for the hello; frames that came with it are delivered before they leave', async () => {
    const hello = Buffer.from('HELLO123', 'latin1');
    const got: Buffer[] = [];
    const port = await listen((socket) => {
      socket.on('data', (chunk: Buffer) => got.push(chunk));
      // The hello in two pieces, the second with a frame behind it.
      socket.write(hello.subarray(0, 3));
      setTimeout(() => socket.write(Buffer.concat([hello.subarray(3), encodeMessageFrame(BatchAck, { sequence: 9 })])), 50);
    });
    const ends = dial(port, { expectHello: hello, hello });
    ends.link.send({ sequence: 1 });
    assert.equal(ends.link.ready, false);
    await waitUntil(() => ends.received.length === 1, 'the greeting');
    assert.equal(ends.link.ready, true);
    await waitUntil(
      () => Buffer.concat(got).length === hello.length + encodeMessageFrame(BatchAck, { sequence: 1 }).length,
      'the held frame',
    );
    assert.deepEqual(Buffer.concat(got), Buffer.concat([hello, encodeMessageFrame(BatchAck, { sequence: 1 })]));
    ends.link.close('done');
    await waitUntil(() => ends.closes.length === 1, 'the link to close');
  });

  test('an end that answers something other than the hello gets none of the held frames', async () => {
    const got: Buffer[] = [];
    const port = await listen((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => got.push(chunk));
      socket.write('HTTP/2 settings');
    });
    const hello = Buffer.from('HELLO123', 'latin1');
    const ends = dial(port, { expectHello: hello, hello });
    ends.link.send({ sequence: 1 });
    await waitUntil(() => ends.closes.length === 1, 'the link to close');
    assert.equal(ends.closes[0]!.kind, 'hello-mismatch');
    assert.deepEqual(ends.received, []);
    assert.deepEqual(Buffer.concat(got), hello, 'only the hello left');
    assert.equal(ends.link.send({ sequence: 2 }), false, 'a closed link sends nothing');
  });

  test('a refused connection closes once, with the error and its code', async () => {
    const port = await listen(() => undefined);
    servers.pop()!.close();
    await new Promise<void>((resolve) => setImmediate(resolve));
    const ends = dial(port);
    await waitUntil(() => ends.closes.length === 1, 'the link to close');
    assert.equal(ends.closes[0]!.kind, 'error');
    assert.equal(ends.closes[0]!.code, 'ECONNREFUSED');
  });
});
