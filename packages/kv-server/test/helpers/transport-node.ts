/**
 * A real RaftTransport on listenSharedPort over loopback (port 0), recording
 * what it receives, for the peer-link tests.
 */
import * as grpc from '@grpc/grpc-js';
import { type Message, MessageType, RaftTransportServiceService } from '@cairn/proto';
import { createLogger } from '../../src/logger.js';
import { GRPC_CHANNEL_OPTIONS } from '../../src/transport/grpc-options.js';
import { type FaultInjector, FaultyTransport } from '../../src/transport/faults.js';
import { RaftTransport } from '../../src/transport/raft-transport.js';
import { listenSharedPort, type SharedPort } from '../../src/transport/shared-port.js';

export interface TransportNode {
  transport: RaftTransport;
  port: SharedPort;
  grpcServer: grpc.Server;
  address: string;
  received: Message[];
  unreachable: number[];
  /** Outcomes of this node's snapshot sends. */
  snapshots: Array<{ peer: number; ok: boolean }>;
  /** The node's log lines (debug and up). */
  logs: string[];
  close(): Promise<void>;
}

/** Starts node `id` of cluster `clusterId`; every id from 1 to 9 is a member. With `faults`, a FaultyTransport. */
export async function startTransportNode(id: number, clusterId: string, faults?: FaultInjector): Promise<TransportNode> {
  const grpcServer = new grpc.Server(GRPC_CHANNEL_OPTIONS);
  const received: Message[] = [];
  const unreachable: number[] = [];
  const snapshots: Array<{ peer: number; ok: boolean }> = [];
  const logs: string[] = [];
  // The listener needs the transport, which needs the bound address.
  const holder: { transport?: RaftTransport } = {};
  const port = await listenSharedPort(
    '127.0.0.1',
    0,
    grpcServer,
    (socket) => holder.transport!.acceptPeerSocket(socket),
    (socket) => socket.destroy(),
  );
  const address = `127.0.0.1:${port.port}`;
  const options = {
    selfId: id,
    clusterId,
    peerAddress: address,
    handlers: {
      receive: (messages: Message[]) => received.push(...messages),
      unreachable: (peer: number) => unreachable.push(peer),
      snapshotStatus: (peer: number, ok: boolean) => snapshots.push({ peer, ok }),
      isMember: (peer: number) => peer >= 1 && peer <= 9,
      peerHttpAddress: () => undefined,
    },
    logger: createLogger('debug', { node: id }, (line) => logs.push(line)),
  };
  const transport = faults === undefined ? new RaftTransport(options) : new FaultyTransport(options, faults);
  holder.transport = transport;
  grpcServer.addService(RaftTransportServiceService, transport.service());
  const close = async (): Promise<void> => {
    transport.close();
    grpcServer.forceShutdown();
    await port.close();
  };
  return { transport, port, grpcServer, address, received, unreachable, snapshots, logs, close };
}

/** A heartbeat `from` -> `to` carrying `commit`. */
export function heartbeat(from: number, to: number, commit: number): Message {
  return {
    type: MessageType.HEARTBEAT,
    from,
    to,
    term: 1,
    logTerm: 0,
    index: 0,
    entries: [],
    commit,
    reject: false,
    rejectHint: 0,
    snapshot: undefined,
    context: Buffer.alloc(0),
  } as Message;
}
