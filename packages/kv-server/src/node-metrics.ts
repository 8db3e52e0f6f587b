/**
 * The node's gauges on /metrics: raft's state, the log's memory, the peer
 * links and the client pipeline streams. Each is read when /metrics is
 * scraped; nothing is sampled in between.
 */
import type { RaftStatus } from '@cairn/raft-core';
import type { Metrics } from './metrics.js';

/** What the gauges read. */
export interface NodeGaugeSources {
  readonly raft: { status(): RaftStatus; readonly applied: number; readonly isLeader: boolean };
  /** Memory held by the log entries after the last compaction. */
  logBytes(): number;
  /** Whether this node votes (its data dir checked and intact). */
  storageOk(): boolean;
  readonly peers: { bufferedBytes(): number; linkStates(): ReadonlyArray<{ peer: number; up: boolean }> };
  readonly pipelines: { count(carrier: 'raw' | 'grpc'): number };
}

export function registerNodeMetrics(metrics: Metrics, node: NodeGaugeSources): void {
  const { raft, peers, pipelines } = node;
  metrics.gauge('cairn_raft_term', 'Current raft term.', () => raft.status().term);
  metrics.gauge('cairn_raft_commit_index', 'Raft commit index.', () => raft.status().commitIndex);
  metrics.gauge('cairn_raft_applied_index', 'Applied index.', () => raft.applied);
  metrics.gauge('cairn_raft_log_retained_bytes', 'Memory held by the log entries after the last compaction.', () => node.logBytes());
  metrics.gauge('cairn_peer_link_buffered_bytes', 'Bytes written to peer links that the kernel has not taken yet.', () =>
    peers.bufferedBytes(),
  );
  metrics.labelledGauge('cairn_peer_link_up', '1 while the link to a peer is up (its acks arrive), 0 while it is down.', ['peer'], () =>
    peers.linkStates().map((link) => ({ labels: { peer: String(link.peer) }, value: link.up ? 1 : 0 })),
  );
  metrics.gauge('cairn_raft_is_leader', '1 if this node is the leader.', () => (raft.isLeader ? 1 : 0));
  metrics.gauge(
    'cairn_raft_recovering',
    '1 while this node does not vote: its data dir was lost or rolled back (or is being checked).',
    () => (node.storageOk() ? 0 : 1),
  );
  metrics.gauge('cairn_pipeline_streams_raw', 'Open client pipeline streams on the raw KV link.', () => pipelines.count('raw'));
  metrics.gauge('cairn_pipeline_streams_grpc', 'Open client pipeline streams on gRPC (KVService.Pipeline).', () => pipelines.count('grpc'));
}
