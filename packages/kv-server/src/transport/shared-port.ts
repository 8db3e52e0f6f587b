/**
 * One TCP port for gRPC and the raw links. Each new connection is told apart
 * by its first bytes: PEER_LINK_MAGIC goes to the peer link, CLIENT_LINK_MAGIC
 * to the clerks' KV link, anything else (gRPC's HTTP/2 preface) to the gRPC
 * server with the bytes already read put back. Operators keep one address per
 * node (`--addr`). A raw link's socket is handed over paused, its bytes after
 * the magic put back.
 */
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import { CLIENT_LINK_MAGIC } from '@cairn/proto';
import { HELD_CONNECTIONS_MAX, PORT_SNIFF_TIMEOUT_MS } from '../limits.js';
import { PEER_LINK_MAGIC } from './peer-frames.js';

type Route = 'peer' | 'client' | 'grpc' | 'gone';
const MAGICS: ReadonlyArray<readonly [Route, Buffer]> = [
  ['peer', PEER_LINK_MAGIC],
  ['client', CLIENT_LINK_MAGIC],
];

export interface SharedPort {
  /** The bound port (the one asked for, or the OS's pick for port 0). */
  readonly port: number;
  /**
   * Stops accepting, and asks gRPC's connections to close once their streams
   * are done (HTTP/2 GOAWAY); resolves when they have, or after `graceMs`.
   * Raw links are closed by their owners (the transport, the pipeline streams).
   */
  close(graceMs?: number): Promise<void>;
  /** Hands over the client connections held so far, and every later one at once (see `held`). */
  open(): void;
  /** Client connections waiting for open(). */
  readonly heldConnections: number;
}

/** A client connection waiting for open(); `release` removes the listeners it had while held. */
interface Held {
  readonly kind: 'client' | 'grpc';
  readonly socket: net.Socket;
  readonly release: () => void;
}

export function listenSharedPort(
  host: string,
  port: number,
  grpcServer: grpc.Server,
  onPeerSocket: (socket: net.Socket) => void,
  onClientSocket: (socket: net.Socket) => void,
  /**
   * Hold client connections (gRPC and raw KV links) until open(): a node
   * binds its port first (a port in use fails at once) but registers its
   * services only after its stores have opened, and gRPC would answer calls
   * meanwhile with UNIMPLEMENTED. Held connections simply wait. Peer links
   * are never held (the transport refuses them until it exists).
   */
  held = false,
): Promise<SharedPort> {
  const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sniffing = new Set<net.Socket>();
  const injected = new Set<net.Socket>();
  let onDrained: (() => void) | undefined;
  let closing: Promise<void> | undefined;
  let waiting: Held[] | undefined = held ? [] : undefined;
  const handOver = (kind: 'client' | 'grpc', socket: net.Socket): void => {
    if (kind === 'client') return onClientSocket(socket);
    injected.add(socket);
    socket.once('close', () => {
      injected.delete(socket);
      if (injected.size === 0) onDrained?.();
    });
    injector.injectConnection(socket);
  };
  // Half-open allowed so that a clerk's raw link may half-close and still get the results of its
  // running ops; peer and gRPC connections get Node's default back (end when the other side ends).
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sniffing.add(socket);
    route(socket, (kind, head) => {
      sniffing.delete(socket);
      if (kind === 'gone') return;
      if (kind !== 'client') socket.allowHalfOpen = false;
      if (head.length > 0) socket.unshift(head);
      if (kind === 'peer') return onPeerSocket(socket);
      if (waiting === undefined) return handOver(kind, socket);
      if (waiting.length >= HELD_CONNECTIONS_MAX) return socket.destroy();
      socket.on('error', () => undefined); // until its owner listens
      // A client that gives up while held (a call timing out, a redial) frees its place.
      const onEnd = (): void => void socket.destroy();
      const onClose = (): void => {
        const at = waiting?.indexOf(entry) ?? -1;
        if (at >= 0) waiting!.splice(at, 1);
      };
      const entry: Held = { kind, socket, release: () => (socket.off('end', onEnd), socket.off('close', onClose)) };
      socket.once('end', onEnd);
      socket.once('close', onClose);
      waiting.push(entry);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // A listener error after binding (rare: EMFILE) must not crash the node; accepting retries.
      server.on('error', () => undefined);
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: (graceMs = 0) => {
          closing ??= new Promise<void>((resolve) => {
            server.close();
            for (const socket of sniffing) socket.destroy();
            sniffing.clear();
            for (const { socket } of waiting ?? []) socket.destroy();
            waiting = undefined;
            injector.destroy();
            // grpc-js forgets the injector's sessions here, so its tryShutdown() no longer waits for
            // them: a forceShutdown() right after would reset streams whose status is not sent yet.
            if (injected.size === 0) return resolve();
            const timer = setTimeout(resolve, graceMs);
            timer.unref();
            onDrained = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          return closing;
        },
        get heldConnections() {
          return waiting?.length ?? 0;
        },
        open: () => {
          const held = waiting ?? [];
          waiting = undefined;
          if (closing !== undefined) return;
          for (const { kind, socket, release } of held) {
            release();
            if (!socket.destroyed) handOver(kind, socket);
          }
        },
      });
    });
  });
}

/** Reads until the first bytes decide where the connection goes; `head` is every byte read so far. */
function route(socket: net.Socket, done: (kind: Route, head: Buffer) => void): void {
  let head: Buffer = Buffer.alloc(0);
  let decided = false;
  const decide = (kind: Route): void => {
    if (decided) return;
    decided = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onGone);
    socket.off('close', onGone);
    socket.off('error', onGone);
    socket.pause();
    if (kind === 'gone') socket.destroy();
    done(kind, head);
  };
  const onData = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    let undecided = false;
    for (const [kind, magic] of MAGICS) {
      const compared = Math.min(head.length, magic.length);
      if (!head.subarray(0, compared).equals(magic.subarray(0, compared))) continue;
      if (head.length < magic.length) {
        undecided = true;
        continue;
      }
      head = head.subarray(magic.length);
      return decide(kind);
    }
    if (!undecided) decide('grpc');
  };
  const onGone = (): void => decide('gone');
  const timer = setTimeout(onGone, PORT_SNIFF_TIMEOUT_MS);
  socket.on('data', onData);
  socket.on('end', onGone);
  socket.on('close', onGone);
  socket.on('error', onGone);
}
