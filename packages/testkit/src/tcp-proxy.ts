/**
 * A userspace TCP proxy for fault tests: put it between two processes (point
 * a node's `--peer` flag at `proxy.address`) and make the path between them
 * misbehave on demand, with no privileges and no network namespaces.
 *
 * ### Usage
 * ```ts
 * const proxy = await TcpProxy.start({ target: '127.0.0.1:7001' });
 * // ...dial proxy.address instead of the target...
 * proxy.blackhole();      // connections stay open, nothing moves either way
 * proxy.heal();           // everything held back is delivered, in order
 * proxy.delay(50);        // each chunk is forwarded 50 ms after it was read
 * proxy.cut();            // every current connection is reset (RST) on both sides
 * await proxy.close();
 * ```
 *
 * Faults and what they model:
 * - `blackhole(direction)`: a netfilter DROP rule on a path whose TCP
 *   connections survive it. The proxy stops reading the blocked side, so the
 *   bytes (and a FIN or RST) wait in kernel buffers as they would wait in
 *   retransmission, and are delivered on heal(). A connection opened while
 *   any direction is blackholed is accepted (userspace cannot drop a SYN: the
 *   kernel completed the handshake) but is neither read nor connected to the
 *   target until heal(): to the dialer it looks like a peer whose process is
 *   stopped (SIGSTOP), the closest a proxy gets to a hanging connect().
 * - `delay(ms)`: a fixed latency per chunk, each direction, order kept.
 * - `cut()`: both sides of every current connection see a reset, as when a
 *   middlebox forgets a flow. New connections work as before.
 * - `heal()`: ends blackholes and delay (a cut is not undone: those
 *   connections are gone).
 */
import * as net from 'node:net';

/** Which way a blackhole blocks: toward the target, back from it, or both. */
export type ProxyDirection = 'both' | 'to-target' | 'from-target';

export interface TcpProxyOptions {
  /** `host:port` to forward to, or a function read at each new connection (for a target that starts after the proxy). */
  target: string | (() => string);
  /** Where to listen. @default 127.0.0.1, a port the OS picks */
  listen?: { host: string; port: number };
  /** The local address connections to the target are made from (a fault harness tells sources apart by it). @default any */
  localAddress?: string;
}

/** One direction of one connection: reads `source`, writes `sink`, after the delay and unless blocked. */
class Pipe {
  private readonly queue: Array<{ chunk: Buffer; dueAtMs: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private sink: net.Socket | undefined;
  private sinkFull = false;
  private sourceEnded = false;
  private sinkEnded = false;

  constructor(
    private readonly proxy: TcpProxy,
    private readonly source: net.Socket,
    private readonly blockedBy: ProxyDirection,
  ) {
    source.on('data', (chunk: Buffer) => {
      const previous = this.queue[this.queue.length - 1]?.dueAtMs ?? 0;
      // Never before the previous chunk: a shorter delay set meanwhile must not reorder bytes.
      this.queue.push({ chunk, dueAtMs: Math.max(performance.now() + this.proxy.delayMs, previous) });
      this.pump();
    });
    // A FIN, or a source gone without one: the sink is ended once the queued bytes are out.
    const ended = (): void => {
      this.sourceEnded = true;
      this.pump();
    };
    source.on('end', ended);
    source.on('close', ended);
  }

  /** Starts writing to `sink` (the target's socket is connected only after the client's exists). */
  connect(sink: net.Socket): void {
    this.sink = sink;
    sink.on('drain', () => {
      this.sinkFull = false;
      this.pump();
    });
    this.pump();
  }

  private get blocked(): boolean {
    return this.proxy.blackholed === 'both' || this.proxy.blackholed === this.blockedBy;
  }

  /** Forwards what is due, and reads from the source only while forwarding is possible. */
  pump(): void {
    const sink = this.sink;
    const flowing = sink !== undefined && !this.blocked && !this.sinkFull;
    if (flowing) {
      const now = performance.now();
      while (this.queue.length > 0 && this.queue[0]!.dueAtMs <= now && !this.sinkFull) {
        this.sinkFull = !sink.write(this.queue.shift()!.chunk);
      }
      if (this.queue.length > 0 && !this.sinkFull && this.timer === undefined) {
        this.timer = setTimeout(
          () => {
            this.timer = undefined;
            this.pump();
          },
          Math.max(0, this.queue[0]!.dueAtMs - now),
        );
      }
      if (this.queue.length === 0 && this.sourceEnded && !this.sinkEnded) {
        this.sinkEnded = true;
        sink.end();
      }
    }
    // A paused source leaves its bytes (and its FIN or RST) in the kernel: a blackhole.
    if (this.source.destroyed) return;
    if (flowing && !this.sinkFull) this.source.resume();
    else this.source.pause();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** A client connection and, once allowed, its connection to the target. */
class ProxiedConnection {
  private upstream: net.Socket | undefined;
  private readonly toTarget: Pipe;
  private fromTarget: Pipe | undefined;

  constructor(
    private readonly proxy: TcpProxy,
    readonly client: net.Socket,
  ) {
    client.pause();
    this.toTarget = new Pipe(proxy, client, 'to-target');
    client.on('error', () => this.destroy());
    client.on('close', () => this.forgetIfClosed());
    this.maybeConnect();
  }

  /** Connects to the target unless a blackhole holds new connections back. */
  maybeConnect(): void {
    if (this.upstream !== undefined || this.proxy.blackholed !== undefined || this.client.destroyed) return;
    const [host, port] = splitHostPort(this.proxy.targetAddress());
    const upstream = net.connect({ host, port, noDelay: true, localAddress: this.proxy.localAddress });
    this.upstream = upstream;
    this.client.setNoDelay(true);
    this.fromTarget = new Pipe(this.proxy, upstream, 'from-target');
    upstream.on('error', () => this.destroy());
    upstream.on('close', () => this.forgetIfClosed());
    upstream.on('connect', () => {
      this.toTarget.connect(upstream);
      this.fromTarget!.connect(this.client);
    });
  }

  pump(): void {
    this.toTarget.pump();
    this.fromTarget?.pump();
  }

  /** One side closed cleanly: the other is ended by its pipe once the queued bytes are out; both gone, it is forgotten. */
  private forgetIfClosed(): void {
    if (this.client.destroyed && (this.upstream === undefined || this.upstream.destroyed)) this.destroy();
  }

  destroy(): void {
    this.toTarget.stop();
    this.fromTarget?.stop();
    this.client.destroy();
    this.upstream?.destroy();
    this.proxy.forget(this);
  }

  reset(): void {
    this.toTarget.stop();
    this.fromTarget?.stop();
    this.client.resetAndDestroy();
    // A target socket still connecting cannot send a reset; destroying it is the nearest thing.
    if (this.upstream?.connecting === false) this.upstream.resetAndDestroy();
    else this.upstream?.destroy();
    this.proxy.forget(this);
  }
}

export class TcpProxy {
  /** Which direction is blackholed, if any. */
  blackholed: ProxyDirection | undefined;
  /** Latency added to every chunk, each direction. */
  delayMs = 0;
  private readonly connections = new Set<ProxiedConnection>();

  /** Listens on `options.listen`, by default on 127.0.0.1 on a port the OS picks. */
  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const server = net.createServer({ pauseOnConnect: true, noDelay: true });
    const proxy = new TcpProxy(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listen?.port ?? 0, options.listen?.host ?? '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  private constructor(
    private readonly server: net.Server,
    private readonly options: TcpProxyOptions,
  ) {
    server.on('connection', (client: net.Socket) => {
      this.connections.add(new ProxiedConnection(this, client));
    });
  }

  /** The port the proxy listens on. */
  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** `host:port`: dial this instead of the target. */
  get address(): string {
    return `${(this.server.address() as net.AddressInfo).address}:${this.port}`;
  }

  get localAddress(): string | undefined {
    return this.options.localAddress;
  }

  /** Client connections currently open through the proxy. */
  get connectionCount(): number {
    return this.connections.size;
  }

  targetAddress(): string {
    return typeof this.options.target === 'string' ? this.options.target : this.options.target();
  }

  /** Stops forwarding (see the file comment); connections stay open. */
  blackhole(direction: ProxyDirection = 'both'): void {
    this.blackholed = direction;
    this.pumpAll();
  }

  /** Forwards each chunk `ms` after it was read (0: at once). */
  delay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be a non-negative number of ms, got ${ms}`);
    this.delayMs = ms;
  }

  /** Resets every current connection on both sides. */
  cut(): void {
    for (const connection of [...this.connections]) connection.reset();
  }

  /** Ends blackholes and delay; held-back bytes and connections go through. */
  heal(): void {
    this.blackholed = undefined;
    this.delayMs = 0;
    for (const connection of this.connections) connection.maybeConnect();
    this.pumpAll();
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const connection of [...this.connections]) connection.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** @internal A connection that is gone. */
  forget(connection: ProxiedConnection): void {
    this.connections.delete(connection);
  }

  private pumpAll(): void {
    for (const connection of this.connections) connection.pump();
  }
}

function splitHostPort(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port)) throw new Error(`not a host:port address: ${address}`);
  return [address.slice(0, colon), port];
}
