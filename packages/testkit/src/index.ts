/**
 * Test helpers shared by the packages' real-process tests: a cluster of
 * cairn-server child processes on 127.0.0.1 with OS-assigned ports and
 * temporary data dirs, `waitFor` (deadline-bounded polling; no sleeps), and
 * `TcpProxy` (blackhole, delay and cut a TCP path between two processes),
 * and `FaultCluster`: nodes in their own network namespaces with faults
 * made outside the processes (nftables partitions, signals, lost disks).
 * Test code only: no package's src may import it (see eslint-config.mjs).
 */
export { TestCluster, freePort, startTwoClusters, unaryCall } from './cluster.js';
export type { CallError, ClusterOptions, NodeProcess, TwoClusters } from './cluster.js';
export { waitFor } from './wait-for.js';
export { TcpProxy } from './tcp-proxy.js';
export type { ProxyDirection, TcpProxyOptions } from './tcp-proxy.js';
export { FaultCluster, FaultNode, GRPC_PORT, HTTP_PORT } from './fault-cluster.js';
export type { FaultClusterOptions, NodeExit, NodeState } from './fault-cluster.js';
export { FaultHarnessError, NetworkLab, removeLeftovers, unsupportedReason } from './netns.js';
export type { NamespaceNode } from './netns.js';
export { NodeFirewall } from './nft.js';
export type { Redirect } from './nft.js';
export { tcpTimers, tcpTimersReadable } from './tcp-timers.js';
export type { TcpTimer } from './tcp-timers.js';
export { metricSum } from './metrics.js';
export { checkWatchStreams } from './watch-checker.js';
export type { RecordedWatch, WatchedChange, WriterRecord } from './watch-checker.js';
