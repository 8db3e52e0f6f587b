/**
 * startNode(): opens storage, builds the raft loop, and serves gRPC (peer
 * transport, KV, Cluster, health, reflection) on --addr and HTTP on
 * --client-addr. stop() is graceful: stop accepting, fail in-flight requests
 * with SHUTTING_DOWN, finish the loop turn in progress, close storage.
 */
import * as grpc from '@grpc/grpc-js';
import { type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  ClusterServiceService,
  ConfChange,
  ConfChangeType,
  type Entry,
  EntryType,
  KVServiceService,
  Member,
  RaftTransportServiceService,
} from '@cairn/proto';
import type { NodeStorage } from './node-storage.js';
import { clusterService } from './api/cluster-service.js';
import { addHealthAndReflection } from './api/health.js';
import { createHttpServer } from './api/http-server.js';
import { KvApi } from './api/kv-api.js';
import { kvService } from './api/kv-service.js';
import { checkFlagsMembers, ClusterIdentity } from './cluster-identity.js';
import { type NodeOptions, splitHostPort } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { Members } from './members.js';
import { Metrics } from './metrics.js';
import type { NodeId } from '@cairn/raft-core';
import { LostDiskCheck, type StartupState, storageState } from './lost-disk-check.js';
import { RaftLoop } from './node.js';
import { openNodeStores } from './stores.js';
import { listenError } from './startup-errors.js';
import { GRPC_CHANNEL_OPTIONS, GrpcTransport } from './transport/grpc-transport.js';
import { listenSharedPort, type SharedPort } from './transport/shared-port.js';

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
  readonly loop: RaftLoop;
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
  const sharedPort = await listenAddr(grpcServer, options.addr, (socket) => acceptPeerSocket(socket), (socket) => acceptClientSocket(socket));
  const grpcAddress = `${hostOf(options.addr)}:${sharedPort.port}`;
  let httpServer: HttpServer | undefined;
  let httpAddress: string | undefined;
  // The initial voters the flags name: a new data dir is bootstrapped with them, an existing one must have been.
  const initialVoters = options.join ? undefined : [options.id, ...options.peers.map((p) => p.id)];
  const nodeIdentity = { clusterId: options.clusterId, nodeId: options.id, initialVoters, join: options.join };
  const stores = await openNodeStores(options.dataDir, nodeIdentity, { valueBytesMax: options.valueBytesMax }).catch(async (error: unknown) => {
    void sharedPort.close();
    grpcServer.forceShutdown();
    throw error;
  });
  try {
    const self: Member = { id: options.id, peerAddress: grpcAddress, clientAddress: grpcAddress, httpAddress: '', learner: false };
    const database = stores.storage.database;
    const { confState } = stores.storage.initialState();
    const currentMembers = [...confState.voters, ...confState.learners, ...stores.storage.members().map((m) => m.id)];
    checkFlagsMembers(options.dataDir, database.cluster, { name: options.clusterId, initialVoters }, currentMembers);
    const startedEmpty = await bootstrapIfNew(options, stores.storage, self, logger);
    const startup = startupState(stores.storage);
    const cluster = new ClusterIdentity(options.clusterId, database.cluster.clusterId, (id) => database.recordLearnedClusterId(id), logger);
    if (database.cluster.clusterId === options.clusterId) logger.warn('cluster-id-legacy', { clusterId: cluster.id, note: 'data dir predates derived cluster ids; see docs/cluster-identity.md' });
    const members = Members.fromList(stores.storage.members());
    const metrics = new Metrics();
    const loop = RaftLoop.create(
      options,
      stores.storage,
      stores.stateMachine,
      members,
      (getLoop) =>
        new GrpcTransport(
          options.id,
          cluster.wireId,
          {
            receive: (messages) => getLoop().receive(messages),
            unreachable: (peer) => getLoop().unreachable(peer),
            snapshotStatus: (peer, ok) => getLoop().snapshotStatus(peer, ok),
            adoptClusterId: (id) => cluster.adoptFromPeer(id),
            surveyAnswer: (peer) => {
              const status = getLoop().status();
              const progress = status.role === 'leader' ? status.progress?.get(peer as NodeId) : undefined;
              return {
                clusterStarted: getLoop().clusterStarted(),
                term: status.term,
                matchIndex: progress?.matchIndex ?? 0,
                // Raft may already have found the gap (a rejected append) and lowered the match.
                matchIndexBeforeLoss: progress?.matchIndexBeforeLoss ?? 0,
                voting: !status.recovering && !status.votesHeld,
                voters: status.voters,
              };
            },
            // A node that joined empty accepts the first leader of its cluster.
            isMember: (peer) => members.size === 0 || members.has(peer) || getLoop().membership.voters.includes(peer) || getLoop().membership.learners.includes(peer),
            peerHttpAddress: (peer, address) => {
              const member = members.get(peer);
              if (member !== undefined) member.httpAddress = address;
            },
          },
          logger,
          '',
          grpcAddress,
        ),
      logger,
      { event: recordEvent },
      options.onFatal ??
        ((error) => {
          logger.error('fatal', { error });
          process.exit(1);
        }),
    );
    for (const m of members.list()) loop.transport.setPeer(m.id, m.peerAddress);
    const lostDiskCheck = prepareLostDiskCheck(loop, startup, startedEmpty && options.join === true, logger);
    acceptPeerSocket = (socket) => loop.transport.acceptPeerSocket(socket);
    metrics.gauge('cairn_raft_term', 'Current raft term.', () => loop.status().term);
    metrics.gauge('cairn_raft_commit_index', 'Raft commit index.', () => loop.status().commitIndex);
    metrics.gauge('cairn_raft_applied_index', 'Applied index.', () => loop.applied);
    metrics.gauge('cairn_raft_log_retained_bytes', 'Memory held by the log entries after the last compaction.', () => stores.storage.logBytes());
    metrics.gauge('cairn_peer_link_buffered_bytes', 'Bytes written to peer links that the kernel has not taken yet.', () => loop.transport.bufferedBytes());
    metrics.labelledGauge('cairn_peer_link_up', '1 while the link to a peer is up (its acks arrive), 0 while it is down.', ['peer'], () =>
      loop.transport.linkStates().map((link) => ({ labels: { peer: String(link.peer) }, value: link.up ? 1 : 0 })),
    );
    metrics.gauge('cairn_raft_is_leader', '1 if this node is the leader.', () => (loop.isLeader ? 1 : 0));

    const api = new KvApi(loop, stores.stateMachine, { keyBytesMax: options.keyBytesMax, valueBytesMax: options.valueBytesMax });
    const statusSource = { loop, reader: stores.stateMachine, cluster, startedAtMs, version: CAIRN_VERSION, storageState: () => storageState(loop.status()) };
    metrics.gauge('cairn_raft_recovering', '1 while this node does not vote: its data dir was lost or rolled back (or is being checked).', () =>
      (statusSource.storageState() === 'ok' ? 0 : 1));
    grpcServer.addService(RaftTransportServiceService, loop.transport.service());
    const kv = kvService(api, logger, metrics, cluster);
    grpcServer.addService(KVServiceService, kv.service);
    acceptClientSocket = (socket) => kv.pipelines.acceptSocket(socket);
    metrics.gauge('cairn_pipeline_streams_raw', 'Open client pipeline streams on the raw KV link.', () => kv.pipelines.count('raw'));
    metrics.gauge('cairn_pipeline_streams_grpc', 'Open client pipeline streams on gRPC (KVService.Pipeline).', () => kv.pipelines.count('grpc'));
    grpcServer.addService(ClusterServiceService, clusterService(statusSource, options.chaos, logger));
    const health = addHealthAndReflection(grpcServer, logger);

    if (options.clientAddr !== undefined) {
      httpServer = createHttpServer({ api, status: statusSource, metrics, logger, valueBytesMax: options.valueBytesMax, recentEvents: () => events });
      httpAddress = await listenHttp(httpServer, options.clientAddr);
      (loop.transport as { httpAddress: string }).httpAddress = httpAddress;
      const me = members.get(options.id);
      if (me !== undefined) me.httpAddress = httpAddress;
    }
    loop.start();
    lostDiskCheck?.start();
    health.setServing(true);
    sharedPort.open();
    logger.info('node-started', { grpc: grpcAddress, http: httpAddress, dataDir: options.dataDir, members: members.list().map((m) => m.id) });

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        logger.info('node-stopping');
        health.setServing(false);
        httpServer?.close();
        httpServer?.closeAllConnections();
        lostDiskCheck?.stop();
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

type BootstrapStorage = Pick<NodeStorage, 'initialState' | 'lastIndex' | 'members' | 'saveMembership' | 'write'>;

/**
 * A fresh data dir of an initial member gets the genesis configuration as
 * committed conf-change entries 1..N (etcd's Bootstrap), not just a stored
 * ConfState: a node that joins later replays the log from index 1 and so
 * learns every original voter and its address, instead of starting from an
 * empty configuration in which it would count itself as the only voter.
 * Every initial member writes the same entries, because they are built from
 * the same sorted member list.
 */
/** What the data dir held when the node started (before raft ran), for the lost-disk check. */
function startupState(storage: Pick<NodeStorage, 'initialState' | 'lastIndex' | 'term' | 'snapshotIndex'>): StartupState {
  const { hardState } = storage.initialState();
  const lastIndex = storage.lastIndex();
  // Only the bootstrap entries (term 1), no vote, no snapshot: nothing of the cluster's life, however often restarted.
  const atGenesis = hardState.term <= 1 && hardState.vote === 0 && storage.snapshotIndex() === 0 && (lastIndex === 0 || storage.term(lastIndex) <= 1);
  return { term: hardState.term, lastIndex, atGenesis };
}

/**
 * Holds a restarting node's votes while it asks its peers whether its data
 * dir was lost (lost-disk-check.ts); a node still recovering from a loss
 * asks them for the term to settle at. A node joining empty holds nothing,
 * so it is fenced at once: it votes only once a leader has caught it up (it
 * asks the voters once it has learned them from the log).
 */
function prepareLostDiskCheck(loop: RaftLoop, startup: StartupState, joiningEmpty: boolean, logger: Logger): LostDiskCheck | undefined {
  if (joiningEmpty) loop.fenceStorage();
  const recovering = loop.status().recovering;
  const hasPeers = loop.membership.voters.some((id) => id !== loop.options.id);
  if (!recovering && !hasPeers) return undefined;
  if (!recovering) loop.holdVotes();
  return new LostDiskCheck(
    {
      id: loop.options.id,
      voters: () => loop.membership.voters,
      raftState: () => loop.status(),
      survey: (peer, timeoutMs) => loop.transport.survey(peer, timeoutMs),
      fence: () => loop.fenceStorage(),
      releaseVotes: () => loop.releaseVotes(),
      settleTerm: (term) => loop.settleTerm(term),
    },
    startup,
    logger,
  );
}

/** Returns whether the data dir was empty (bootstrapped now, or left empty to join). */
async function bootstrapIfNew(options: NodeOptions, storage: BootstrapStorage, self: Member, logger: Logger): Promise<boolean> {
  const { confState } = storage.initialState();
  const isNew = confState.voters.length === 0 && confState.learners.length === 0 && storage.lastIndex() === 0;
  if (!isNew) {
    const mine = storage.members().find((m) => m.id === options.id);
    if (mine !== undefined && mine.peerAddress !== self.peerAddress) logger.warn('address-changed', { was: mine.peerAddress, now: self.peerAddress });
    return false;
  }
  if (options.join) {
    logger.info('joining', { note: 'waiting to be added with kvctl member add' });
    return true;
  }
  const members: Member[] = [self, ...options.peers.map((p) => ({ id: p.id, peerAddress: p.address, clientAddress: p.address, httpAddress: '', learner: false }))]
    .map((m) => ({ ...m, httpAddress: '' }))
    .sort((a, b) => a.id - b.id);
  const entries: Entry[] = members.map((member, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.CONF_CHANGE,
    data: Buffer.from(ConfChange.encode({ type: ConfChangeType.ADD_NODE, nodeId: member.id, context: Buffer.from(Member.encode(member).finish()) }).finish()),
  }));
  await storage.write({ entries, hardState: { term: 1, vote: 0, commit: entries.length }, snapshot: undefined }, { sync: true });
  const voters = members.map((m) => m.id);
  await storage.saveMembership({ voters, learners: [], votersOutgoing: [] }, members);
  logger.info('bootstrapped', { voters });
  return true;
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
