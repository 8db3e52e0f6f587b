/**
 * startNode(): opens storage, builds the raft loop, and serves gRPC (peer
 * transport, KV, Cluster, health, reflection) on --addr and HTTP on
 * --client-addr. stop() is graceful: stop accepting, fail in-flight requests
 * with SHUTTING_DOWN, finish the loop turn in progress, close storage.
 */
import * as grpc from '@grpc/grpc-js';
import { type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ClusterServiceService, KVServiceService, LeaseServiceService, type Member, RaftTransportServiceService } from '@cairn/proto';
import { clusterService } from './api/cluster-service.js';
import { addHealthAndReflection } from './api/health.js';
import { createHttpServer } from './api/http-server.js';
import { KvApi } from './api/kv-api.js';
import { kvService } from './api/kv-service.js';
import { LeaseApi } from './api/lease-api.js';
import { leaseService } from './api/lease-service.js';
import { bootstrapIfNew, startupState } from './bootstrap.js';
import { checkFlagsMembers, ClusterIdentity } from './cluster-identity.js';
import { type NodeOptions, splitHostPort } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { LeaseKeeper } from './loop/lease-keeper.js';
import { AutoCompactor } from './loop/auto-compactor.js';
import { HISTORY_BYTES_CHECK_MS, HISTORY_BYTES_DEFAULT, HISTORY_REVISIONS_DEFAULT } from './limits.js';
import { Members } from './loop/members.js';
import { NodeLoop } from './loop/node-loop.js';
import { Metrics } from './metrics.js';
import { LostDiskCheck, type StartupState, storageState } from './lost-disk-check.js';
import { registerNodeMetrics } from './node-metrics.js';
import { openNodeStores } from './open-stores.js';
import { listenError } from './startup-errors.js';
import { FaultInjector, FaultyTransport } from './transport/faults.js';
import { GRPC_CHANNEL_OPTIONS } from './transport/grpc-options.js';
import { RaftTransport } from './transport/raft-transport.js';
import { listenSharedPort, type SharedPort } from './transport/shared-port.js';
import { startNodeWatches } from './watch/node-watches.js';
import { WATCH_SERVICE_DEFINITION } from './watch/shared-encoding.js';

export const CAIRN_VERSION = '0.1.0';
const RECENT_EVENTS_MAX = 50;
/** How long a graceful stop waits for in-flight gRPC calls. */
const SHUTDOWN_GRACE_MS = 1000;

export interface StartNodeOptions extends NodeOptions {
  logger?: Logger;
  /** Called when the node loop hits an unrecoverable error. @default exits the process */
  onFatal?: (error: unknown) => void;
}

export interface RunningNode {
  readonly id: number;
  /** The bound gRPC address (peers and clients). */
  readonly grpcAddress: string;
  /** The bound HTTP address, if HTTP is served. */
  readonly httpAddress: string | undefined;
  readonly loop: NodeLoop<RaftTransport>;
  stop(): Promise<void>;
}

export async function startNode(options: StartNodeOptions): Promise<RunningNode> {
  const logger = options.logger ?? createLogger(options.logLevel, { node: options.id });
  const startedAtMs = Date.now();
  const events: Array<{ time: string; kind: string; fields: Record<string, unknown> }> = [];
  const recordEvent = (kind: string, fields: Record<string, unknown>): void => {
    events.push({ time: new Date().toISOString(), kind, fields });
    if (events.length > RECENT_EVENTS_MAX) events.shift();
    logger.info(kind, fields);
  };

  const grpcServer = new grpc.Server(GRPC_CHANNEL_OPTIONS);
  // Peer links that arrive before the loop exists are closed; the peer redials.
  let acceptPeerSocket: (socket: Socket) => void = (socket) => socket.destroy();
  // Client connections (gRPC, raw KV links) wait until the services below exist: sharedPort.open().
  let acceptClientSocket: (socket: Socket) => void = (socket) => socket.destroy();
  const sharedPort = await listenAddr(
    grpcServer,
    options.addr,
    (socket) => acceptPeerSocket(socket),
    (socket) => acceptClientSocket(socket),
  );
  const grpcAddress = `${hostOf(options.addr)}:${sharedPort.port}`;
  let httpServer: HttpServer | undefined;
  let httpAddress: string | undefined;
  // The initial voters the flags name: a new data dir is bootstrapped with them, an existing one must have been.
  const initialVoters = options.join ? undefined : [options.id, ...options.peers.map((p) => p.id)];
  const nodeIdentity = { clusterId: options.clusterId, nodeId: options.id, initialVoters, join: options.join };
  const stores = await openNodeStores(options.dataDir, nodeIdentity, { valueBytesMax: options.valueBytesMax }).catch(
    async (error: unknown) => {
      void sharedPort.close();
      grpcServer.forceShutdown();
      throw error;
    },
  );
  try {
    const self: Member = { id: options.id, peerAddress: grpcAddress, clientAddress: grpcAddress, httpAddress: '', learner: false };
    const database = stores.storage.database;
    const { confState } = stores.storage.initialState();
    const currentMembers = [...confState.voters, ...confState.learners, ...stores.storage.members().map((m) => m.id)];
    checkFlagsMembers(options.dataDir, database.cluster, { name: options.clusterId, initialVoters }, currentMembers);
    const startedEmpty = await bootstrapIfNew(options, stores.storage, self, logger);
    const startup = startupState(stores.storage);
    const cluster = new ClusterIdentity(options.clusterId, database.cluster.clusterId, (id) => database.recordLearnedClusterId(id), logger);
    if (database.cluster.clusterId === options.clusterId)
      logger.warn('cluster-id-legacy', {
        clusterId: cluster.id,
        note: 'data dir predates derived cluster ids; see docs/cluster-identity.md',
      });
    const members = Members.fromList(stores.storage.members());
    const metrics = new Metrics();
    // Fault injection (the Cluster service's InjectFault) exists only with --chaos.
    const faults = options.chaos ? new FaultInjector() : undefined;
    const loop = new NodeLoop({
      options,
      storage: stores.storage,
      stateMachine: stores.stateMachine,
      members,
      connectPeers: (inbound) => {
        const handlers = { ...inbound, adoptClusterId: (id: string) => cluster.adoptFromPeer(id) };
        const transport = { selfId: options.id, clusterId: cluster.wireId, peerAddress: grpcAddress, handlers, logger };
        return faults === undefined ? new RaftTransport(transport) : new FaultyTransport(transport, faults);
      },
      logger,
      events: { event: recordEvent },
      onFatal:
        options.onFatal ??
        ((error) => {
          logger.error('fatal', { error });
          process.exit(1);
        }),
    });
    const lostDiskCheck = prepareLostDiskCheck(loop, startup, startedEmpty && options.join === true, logger);
    acceptPeerSocket = (socket) => loop.transport.acceptPeerSocket(socket);

    const api = new KvApi(
      loop,
      stores.stateMachine,
      { keyBytesMax: options.keyBytesMax, valueBytesMax: options.valueBytesMax },
      () => cluster.id ?? '',
    );
    // The history's bounds are the leader's to keep: it proposes Compact (auto-compactor.ts).
    const historyCompactor = new AutoCompactor({
      isLeader: () => loop.isLeader,
      revision: () => stores.stateMachine.revision(),
      compactRevision: () => stores.stateMachine.compactRevision(),
      historyBytes: () => stores.stateMachine.historyBytes(),
      compact: (revision) => api.compact({ revision }),
      onApplied: (listener) => stores.stateMachine.onApplied(listener),
      historyRevisions: options.historyRevisions ?? HISTORY_REVISIONS_DEFAULT,
      historyBytesMax: options.historyBytes ?? HISTORY_BYTES_DEFAULT,
      bytesCheckMs: HISTORY_BYTES_CHECK_MS,
      logger,
    });
    const statusSource = {
      loop,
      reader: stores.stateMachine,
      cluster,
      startedAtMs,
      version: CAIRN_VERSION,
      storageState: () => storageState(loop.status()),
    };
    grpcServer.addService(RaftTransportServiceService, loop.transport.service());
    // Lease expiry is the leader's: its keeper counts down on the monotonic clock and proposes revokes.
    const leaseTable = stores.stateMachine.leases;
    const keeper = new LeaseKeeper({
      leases: leaseTable,
      isLeader: () => loop.isLeader,
      term: () => loop.term,
      revoke: (request) => api.propose({ proposedAtMs: 0, valueBytesMax: 0, leaseRevoke: request }),
      checkMs: options.tickMs,
      logger,
    });
    const leases = new LeaseApi(loop, api, leaseTable, keeper);
    grpcServer.addService(LeaseServiceService, leaseService(leases, logger, metrics, cluster));
    metrics.gauge('cairn_leases', 'Live leases (granted, not revoked or expired yet).', () => leaseTable.size);
    const kv = kvService(api, logger, metrics, cluster, leases);
    grpcServer.addService(KVServiceService, kv.service);
    acceptClientSocket = (socket) => kv.pipelines.acceptSocket(socket);
    registerNodeMetrics(metrics, {
      raft: loop,
      logBytes: () => stores.storage.logBytes(),
      storageOk: () => statusSource.storageState() === 'ok',
      peers: loop.transport,
      pipelines: kv.pipelines,
    });
    grpcServer.addService(ClusterServiceService, clusterService(statusSource, faults, logger));
    // Watches are served by every member from its applied state (not only the leader).
    const watches = startNodeWatches({
      history: stores.stateMachine,
      header: (revision) => api.header({ revision }),
      keyBytesMax: options.keyBytesMax,
      logger,
      metrics,
    });
    grpcServer.addService(WATCH_SERVICE_DEFINITION, watches.service);
    const health = addHealthAndReflection(grpcServer, logger);

    if (options.clientAddr !== undefined) {
      httpServer = createHttpServer({
        api,
        leases,
        status: statusSource,
        metrics,
        logger,
        valueBytesMax: options.valueBytesMax,
        recentEvents: () => events,
        watch: watches.http,
      });
      httpAddress = await listenHttp(httpServer, options.clientAddr);
      loop.transport.setHttpAddress(httpAddress);
      const me = members.get(options.id);
      if (me !== undefined) me.httpAddress = httpAddress;
    }
    loop.start();
    keeper.start();
    historyCompactor.start();
    lostDiskCheck?.start();
    health.setServing(true);
    sharedPort.open();
    logger.info('node-started', {
      grpc: grpcAddress,
      http: httpAddress,
      dataDir: options.dataDir,
      members: members.list().map((m) => m.id),
    });

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        logger.info('node-stopping');
        health.setServing(false);
        // Watchers hear SHUTTING_DOWN before their streams and connections close.
        watches.close();
        httpServer?.close();
        httpServer?.closeAllConnections();
        lostDiskCheck?.stop();
        keeper.stop();
        historyCompactor.stop();
        await loop.stop();
        loop.transport.close();
        // Pipeline streams stay open until told; pending ops were failed by loop.stop().
        kv.pipelines.closeAll();
        // Let in-flight calls finish and streams send their status, but never wait long for a peer's stream.
        await Promise.all([
          sharedPort.close(SHUTDOWN_GRACE_MS),
          new Promise<void>((resolve) => {
            const cap = setTimeout(resolve, SHUTDOWN_GRACE_MS);
            grpcServer.tryShutdown(() => {
              clearTimeout(cap);
              resolve();
            });
          }),
        ]);
        grpcServer.forceShutdown();
        await stores.close();
        logger.info('node-stopped');
      })());
    return { id: options.id, grpcAddress, httpAddress, loop, stop };
  } catch (error) {
    void sharedPort.close();
    grpcServer.forceShutdown();
    httpServer?.close();
    await stores.close();
    throw error;
  }
}

/**
 * Holds a restarting node's votes while it asks its peers whether its data
 * dir was lost (lost-disk-check.ts); a node still recovering from a loss
 * asks them for the term to settle at. A node joining empty holds nothing,
 * so it is fenced at once: it votes only once a leader has caught it up (it
 * asks the voters once it has learned them from the log).
 */
function prepareLostDiskCheck(
  loop: NodeLoop<RaftTransport>,
  startup: StartupState,
  joiningEmpty: boolean,
  logger: Logger,
): LostDiskCheck | undefined {
  if (joiningEmpty) loop.votes.fence();
  const recovering = loop.status().recovering;
  const hasPeers = loop.membership.voters.some((id) => id !== loop.options.id);
  if (!recovering && !hasPeers) return undefined;
  if (!recovering) loop.votes.hold();
  return new LostDiskCheck(
    {
      id: loop.options.id,
      voters: () => loop.membership.voters,
      raftState: () => loop.status(),
      survey: (peer, timeoutMs) => loop.transport.survey(peer, timeoutMs),
      fence: () => loop.votes.fence(),
      releaseVotes: () => loop.votes.release(),
      settleTerm: (term) => loop.votes.settleTerm(term),
    },
    startup,
    logger,
  );
}

function hostOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}

/** Listens on --addr for gRPC and the raw peer and KV links (one port, told apart per connection). */
async function listenAddr(
  server: grpc.Server,
  address: string,
  onPeerSocket: (socket: Socket) => void,
  onClientSocket: (socket: Socket) => void,
): Promise<SharedPort> {
  const { host, port } = splitHostPort(address);
  try {
    return await listenSharedPort(host, port, server, onPeerSocket, onClientSocket, true);
  } catch (error) {
    throw listenError('--addr', address, error as NodeJS.ErrnoException);
  }
}

function listenHttp(server: HttpServer, address: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const { host, port } = splitHostPort(address);
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError('--client-addr', address, error)));
    server.listen(port, host, () => {
      const bound = server.address() as AddressInfo;
      resolve(`${hostOf(address)}:${bound.port}`);
    });
  });
}
