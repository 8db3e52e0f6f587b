// Goal: TcpProxy forwards both ways, and its faults do what fault tests rely
// on: a blackhole keeps connections open and moves nothing until heal (then
// everything held back arrives in order), one-way blackholes block one way,
// a delay holds each chunk back, a cut resets both sides, close() ends all.
// Method: an echo server behind a proxy on loopback; a second, healthy proxy
// to the same server shows that bytes sent before it would have arrived.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { TcpProxy, waitFor } from '../src/index.js';

interface Echo {
  address: string;
  /** Everything the server received, per connection, in order. */
  received: string[];
  sockets: net.Socket[];
}

const closers: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const close of closers.reverse()) await close();
});

async function startEcho(): Promise<Echo> {
  const echo: Echo = { address: '', received: [], sockets: [] };
  const server = net.createServer((socket) => {
    const index = echo.received.push('') - 1;
    echo.sockets.push(socket);
    socket.on('data', (chunk: Buffer) => {
      echo.received[index] += chunk.toString();
      socket.write(chunk);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  echo.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  closers.push(() => {
    for (const s of echo.sockets) s.destroy();
    server.close();
  });
  return echo;
}

async function startProxy(target: string): Promise<TcpProxy> {
  const proxy = await TcpProxy.start({ target });
  closers.push(() => proxy.close());
  return proxy;
}

interface Client {
  socket: net.Socket;
  echoed: () => string;
  closed: Promise<{ error: NodeJS.ErrnoException | undefined }>;
}

async function connect(address: string): Promise<Client> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const socket = net.connect({ host, port });
  let echoed = '';
  let error: NodeJS.ErrnoException | undefined;
  socket.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
  socket.on('error', (e: NodeJS.ErrnoException) => (error = e));
  const closed = new Promise<{ error: NodeJS.ErrnoException | undefined }>((resolve) => socket.on('close', () => resolve({ error })));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  closers.push(() => void socket.destroy());
  return { socket, echoed: () => echoed, closed };
}

test('forwards both ways, and a client FIN closes the path', async () => {
  const echo = await startEcho();
  const proxy = await startProxy(echo.address);
  const client = await connect(proxy.address);
  client.socket.write('hello');
  await waitFor(() => client.echoed() === 'hello', { deadlineMs: 10_000, what: 'the echo' });
  assert.equal(proxy.connectionCount, 1);
  client.socket.end();
  await client.closed;
  await waitFor(() => proxy.connectionCount === 0, { deadlineMs: 10_000, what: 'the proxy to forget the connection' });
});

test('a blackhole holds bytes back on open connections until heal, then delivers them in order', async () => {
  const echo = await startEcho();
  const proxy = await startProxy(echo.address);
  const control = await startProxy(echo.address);
  const client = await connect(proxy.address);
  client.socket.write('a');
  await waitFor(() => client.echoed() === 'a', { deadlineMs: 10_000, what: 'the first echo' });

  proxy.blackhole();
  client.socket.write('b');
  client.socket.write('c');
  // Bytes sent through a healthy path after 'b' and 'c' arrive: the blackholed ones would have too.
  const witness = await connect(control.address);
  witness.socket.write('w');
  await waitFor(() => witness.echoed() === 'w', { deadlineMs: 10_000, what: 'the witness echo' });
  assert.equal(echo.received[0], 'a', 'nothing crossed the blackhole');
  assert.equal(client.echoed(), 'a');
  assert.equal(client.socket.destroyed, false, 'the connection stays open');

  // A connection opened during the blackhole is accepted but not carried to the target yet.
  const late = await connect(proxy.address);
  late.socket.write('late');
  const serverConnectionsBefore = echo.sockets.length;
  await waitFor(() => proxy.connectionCount === 2, { deadlineMs: 10_000, what: 'the late connection to be accepted' });
  assert.equal(echo.sockets.length, serverConnectionsBefore);

  proxy.heal();
  await waitFor(() => client.echoed() === 'abc', { deadlineMs: 10_000, what: 'the held-back bytes' });
  await waitFor(() => late.echoed() === 'late', { deadlineMs: 10_000, what: 'the late connection after heal' });
});

test('a one-way blackhole blocks only its direction', async () => {
  const echo = await startEcho();
  const proxy = await startProxy(echo.address);
  const client = await connect(proxy.address);
  client.socket.write('1');
  await waitFor(() => client.echoed() === '1', { deadlineMs: 10_000, what: 'the first echo' });
  proxy.blackhole('from-target');
  client.socket.write('2');
  await waitFor(() => echo.received[0] === '12', { deadlineMs: 10_000, what: 'the byte to reach the target' });
  assert.equal(client.echoed(), '1', 'the echo is held back');
  proxy.heal();
  await waitFor(() => client.echoed() === '12', { deadlineMs: 10_000, what: 'the echo after heal' });
});

test('a delay holds each chunk back at least that long, in order', async () => {
  const echo = await startEcho();
  const proxy = await startProxy(echo.address);
  const client = await connect(proxy.address);
  proxy.delay(150);
  const sentAt = performance.now();
  client.socket.write('x');
  await waitFor(() => client.echoed() === 'x', { deadlineMs: 10_000, intervalMs: 5, what: 'the delayed echo' });
  // Once each way: at least two delays. (A lower bound only: never a speed claim.)
  assert.ok(performance.now() - sentAt >= 300, `echoed after ${performance.now() - sentAt} ms`);
  proxy.delay(0);
  client.socket.write('y');
  await waitFor(() => client.echoed() === 'xy', { deadlineMs: 10_000, what: 'the echo without delay' });
  assert.throws(() => proxy.delay(-1), RangeError);
});

test('a cut resets both sides of every connection; new connections still work', async () => {
  const echo = await startEcho();
  const proxy = await startProxy(echo.address);
  const client = await connect(proxy.address);
  client.socket.write('before');
  await waitFor(() => client.echoed() === 'before', { deadlineMs: 10_000, what: 'the echo' });
  const serverSide = echo.sockets[0]!;
  const serverClosed = new Promise<void>((resolve) => serverSide.on('close', () => resolve()));
  proxy.cut();
  const { error } = await client.closed;
  assert.equal(error?.code, 'ECONNRESET');
  await serverClosed;
  assert.equal(proxy.connectionCount, 0);
  const again = await connect(proxy.address);
  again.socket.write('after');
  await waitFor(() => again.echoed() === 'after', { deadlineMs: 10_000, what: 'an echo on a new connection' });
});

test('close() stops listening and ends every connection', async () => {
  const echo = await startEcho();
  const proxy = await TcpProxy.start({ target: () => echo.address });
  const client = await connect(proxy.address);
  client.socket.write('z');
  await waitFor(() => client.echoed() === 'z', { deadlineMs: 10_000, what: 'the echo' });
  const port = proxy.port;
  await proxy.close();
  await client.closed;
  await assert.rejects(connect(`127.0.0.1:${port}`), /ECONNREFUSED/);
});
