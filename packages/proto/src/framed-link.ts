/**
 * One framed link: protobuf messages in length-prefixed frames (frames.ts)
 * over a TCP socket, the one state machine behind every raw link in Cairn
 * (node to node both ways, clerk to node both ways).
 *
 * - Reading: frames are assembled in linear time, each at most
 *   `frameBytesMax` (that bounds the read buffer); a frame over it or one that
 *   does not decode closes the link, and nothing after it is delivered.
 * - Writing: one socket write per frame, encoded in place (no second copy).
 *   `send()` refuses (false, nothing written) while the socket holds more
 *   than `writeBufferBytesMax` bytes the kernel has not taken; the owner
 *   decides whether that drops the message or closes the link.
 * - Opening: a dialer may write a hello (a magic) first, and may wait for
 *   the other end's hello before its frames leave: they are held until it
 *   arrives, and bytes that are not it close the link as `hello-mismatch`
 *   having sent none of them.
 * - Ending: with `onEnd`, the other end's half-close is reported and this
 *   end may still send (the socket must allow half-open); without it, it
 *   closes the link. `end()` half-closes this end.
 * - Closing: `onClose` is called once, after the socket has closed, with the
 *   first cause; nothing is delivered after the cause.
 */
import * as net from 'node:net';
import type { BinaryWriter } from '@bufbuild/protobuf/wire';
import { encodeMessageFrame, MessageReader } from './frames.js';

/** Why a link closed. `reason` is a short description for logs and errors. */
export interface LinkClosed {
  readonly kind: 'error' | 'remote-end' | 'closed' | 'bad-frame' | 'hello-mismatch' | 'timeout' | 'local';
  readonly reason: string;
  /** The socket error's code (ECONNREFUSED, …), for kind 'error'. */
  readonly code?: string;
}

export interface FramedLinkOptions<In, Out> {
  /** Decodes the frames that arrive; `what` names the message in errors. */
  readonly receive: { readonly codec: { decode(bytes: Uint8Array): In }; readonly what: string; readonly frameBytesMax: number };
  readonly sendCodec: { encode(message: Out, writer?: BinaryWriter): BinaryWriter };
  /** Bytes unsent by the kernel beyond which `send()` refuses; unbounded if absent. */
  readonly writeBufferBytesMax?: number;
  /** Bytes the other end sends before its first frame; this end's frames are held until they arrive. */
  readonly expectHello?: Buffer;
  /** A link with no traffic either way for this long closes ('timeout'). */
  readonly idleTimeoutMs?: number;
  onMessage(message: In): void;
  /** The other end half-closed. Absent: that closes the link. */
  onEnd?(): void;
  onClose(cause: LinkClosed): void;
}

export interface DialOptions<In, Out> extends FramedLinkOptions<In, Out> {
  readonly host: string;
  readonly port: number;
  readonly keepAliveMs: number;
  /** Written before anything else (in the connect's first write). */
  readonly hello?: Buffer;
  /** A connect not done within this long closes the link ('timeout'): SYNs dropped by a partition are retried for minutes. */
  readonly connectTimeoutMs?: number;
}

export interface AcceptOptions<In, Out> extends FramedLinkOptions<In, Out> {
  readonly keepAliveMs: number;
}

export class FramedLink<In, Out> {
  private readonly reader: MessageReader<In>;
  private cause: LinkClosed | undefined;
  /** Bytes received while waiting for the other end's hello; undefined once it arrived (or none is expected). */
  private helloHead: Buffer | undefined;
  /** Frames sent before the hello arrived. */
  private held: Buffer[] = [];
  private closeTimer: NodeJS.Timeout | undefined;

  /** Dials `host:port`: nodelay, keepalive, the hello written first. */
  static dial<In, Out>(options: DialOptions<In, Out>): FramedLink<In, Out> {
    const socket = net.connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: options.keepAliveMs,
    });
    const link = new FramedLink(socket, options);
    if (options.connectTimeoutMs !== undefined) {
      const timeoutMs = options.connectTimeoutMs;
      const timer = setTimeout(() => link.fail({ kind: 'timeout', reason: `not connected within ${timeoutMs} ms` }), timeoutMs);
      socket.once('connect', () => clearTimeout(timer));
      socket.once('close', () => clearTimeout(timer));
    }
    // Node holds it until the connection is up, then writes it in one go.
    if (options.hello !== undefined) socket.write(options.hello);
    return link;
  }

  /** Takes over an accepted socket (handed over paused, the bytes after its magic put back): nodelay, keepalive. */
  static accept<In, Out>(socket: net.Socket, options: AcceptOptions<In, Out>): FramedLink<In, Out> {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, options.keepAliveMs);
    return new FramedLink(socket, options);
  }

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: FramedLinkOptions<In, Out>,
  ) {
    this.reader = new MessageReader(options.receive.codec, options.receive.what, options.receive.frameBytesMax);
    this.helloHead = options.expectHello === undefined ? undefined : Buffer.alloc(0);
    if (options.idleTimeoutMs !== undefined) {
      const idleMs = options.idleTimeoutMs;
      socket.setTimeout(idleMs, () => this.fail({ kind: 'timeout', reason: `nothing for ${idleMs} ms` }));
    }
    socket.on('data', (chunk: Buffer) => (this.helloHead === undefined ? this.received(chunk) : this.receivedBeforeHello(chunk)));
    socket.on('error', (error: NodeJS.ErrnoException) => this.fail({ kind: 'error', reason: error.message, code: error.code }));
    socket.on('end', () => {
      if (this.options.onEnd === undefined) return this.fail({ kind: 'remote-end', reason: 'closed by the other end' });
      if (this.cause === undefined) this.options.onEnd();
    });
    socket.on('close', () => {
      if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
      this.held = [];
      this.cause ??= { kind: 'closed', reason: 'connection closed' };
      this.options.onClose(this.cause);
    });
    // An accepted link may have half-closed before it was handed over: its 'end' has been emitted.
    if (socket.readableEnded) {
      queueMicrotask(() => {
        if (this.cause !== undefined) return;
        if (options.onEnd === undefined) this.fail({ kind: 'remote-end', reason: 'closed by the other end' });
        else options.onEnd();
      });
    }
    socket.resume();
  }

  /** Whether this end's frames leave now: the other end's hello has arrived, if one is expected. */
  get ready(): boolean {
    return this.helloHead === undefined;
  }

  /** Closed, or closing: nothing more is sent or delivered. */
  get closed(): boolean {
    return this.cause !== undefined || this.socket.destroyed;
  }

  /** Bytes written that the kernel has not taken yet. */
  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  /** Sends one message as one frame; false (nothing written) when closed or when the write buffer is over its bound. */
  send(message: Out): boolean {
    if (this.closed || this.socket.writableEnded) return false;
    if (this.socket.writableLength > (this.options.writeBufferBytesMax ?? Infinity)) return false;
    const frame = encodeMessageFrame(this.options.sendCodec, message);
    if (this.helloHead !== undefined) this.held.push(frame);
    else this.socket.write(frame);
    return true;
  }

  /** Writes bytes already framed (or a hello) as they are, in one write: a greeting built once for many links. */
  sendEncoded(bytes: Buffer): void {
    if (this.closed || this.socket.writableEnded) return;
    this.socket.write(bytes);
  }

  /**
   * Half-closes this end once what was sent has been written; the link
   * closes when the other end has closed too, or after `graceMs` (an end
   * that never reads would otherwise keep the socket forever).
   */
  end(graceMs: number): void {
    if (this.closed || this.socket.writableEnded) return;
    this.socket.end(() => this.socket.destroy());
    this.closeTimer = setTimeout(() => this.socket.destroy(), graceMs);
    this.closeTimer.unref();
  }

  /** Closes now; `onClose` follows with `reason` (kind 'local') once the socket has closed. */
  close(reason: string): void {
    this.fail({ kind: 'local', reason });
  }

  /** A dialled link that is idle stops keeping the process alive (the next send keeps it alive again). */
  unref(): void {
    this.socket.unref();
  }

  ref(): void {
    this.socket.ref();
  }

  private fail(cause: LinkClosed): void {
    this.cause ??= cause;
    this.held = [];
    this.socket.destroy();
  }

  private received(chunk: Buffer): void {
    if (this.cause !== undefined) return;
    const { messages, error } = this.reader.push(chunk);
    for (const message of messages) {
      this.options.onMessage(message);
      if (this.cause !== undefined) return;
    }
    if (error !== undefined) this.fail({ kind: 'bad-frame', reason: error });
  }

  /** Compares what came so far with the expected hello; once it is complete, the rest is frames and the held frames leave. */
  private receivedBeforeHello(chunk: Buffer): void {
    if (this.cause !== undefined) return;
    const hello = this.options.expectHello!;
    const head = this.helloHead!.length === 0 ? chunk : Buffer.concat([this.helloHead!, chunk]);
    const compared = Math.min(head.length, hello.length);
    if (!head.subarray(0, compared).equals(hello.subarray(0, compared)))
      return this.fail({ kind: 'hello-mismatch', reason: 'the other end does not speak this link' });
    if (head.length < hello.length) {
      this.helloHead = head;
      return;
    }
    this.helloHead = undefined;
    const rest = head.subarray(hello.length);
    // Frames that came with the hello are delivered before any held frame leaves: a
    // greeting may tell the owner to close the link before it sends anything.
    if (rest.length > 0) this.received(rest);
    if (this.closed) return;
    const held = this.held;
    this.held = [];
    for (const frame of held) this.socket.write(frame);
  }
}
