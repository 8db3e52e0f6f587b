/** What the peer transport needs from its node: where messages go, and the checks on who sent them. */
import type { Message } from '@cairn/proto';
import type { SurveyAnswer } from '../loop/ports.js';

export interface TransportHandlers {
  /** Messages from a peer, already checked. */
  receive(messages: Message[]): void;
  /** A peer could not be reached (raft: reportUnreachable). */
  unreachable(peer: number): void;
  /** A snapshot send finished (raft: reportSnapshot). */
  snapshotStatus(peer: number, ok: boolean): void;
  /** Whether a node id is a current member (unknown peers are refused). */
  isMember(peer: number): boolean;
  /** A peer announced its HTTP address. */
  peerHttpAddress(peer: number, address: string): void;
  /**
   * A peer's batch names another cluster id: true to adopt it (a joining node
   * learning its cluster's id from the leader that added it), false to refuse.
   */
  adoptClusterId?(clusterId: string): boolean;
  /** What raft knows of a peer that asks at startup (its match index if we lead); see Survey in transport.proto. */
  surveyAnswer?(peer: number): SurveyAnswer;
  /**
   * Whether messages from `peer` are taken in now (absent: always). A batch's
   * messages from a peer not admitted are dropped but the batch is acked, so
   * the link stays up (a partition, not a broken link); its snapshots are
   * refused. Chaos partitions use it (faults.ts).
   */
  admit?(peer: number): boolean;
}
