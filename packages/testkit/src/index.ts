/**
 * Test helpers shared by the packages' real-process tests: a cluster of
 * cairn-server child processes on 127.0.0.1 with OS-assigned ports and
 * temporary data dirs, `waitFor` (deadline-bounded polling; no sleeps), and
 * `TcpProxy` (blackhole, delay and cut a TCP path between two processes).
 * Test code only: no package's src may import it (see eslint-config.mjs).
 */
export { TestCluster, freePort, unaryCall } from './cluster.js';
export type { CallError, ClusterOptions, NodeProcess } from './cluster.js';
export { waitFor } from './wait-for.js';
export { TcpProxy } from './tcp-proxy.js';
export type { ProxyDirection, TcpProxyOptions } from './tcp-proxy.js';
