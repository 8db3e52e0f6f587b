/** RaftConfig: what a RawNode is told at creation; all timeouts are in ticks. */
import { ConfigInvalidError } from './errors.js';
import { APPEND_BYTES_MAX_DEFAULT, INFLIGHT_MSGS_CEILING, INFLIGHT_MSGS_MAX_DEFAULT, UNCOMMITTED_BYTES_MAX_DEFAULT } from './limits.js';
import type { NodeId } from './types.js';

export const DEFAULT_ELECTION_TICKS = 10;
export const DEFAULT_HEARTBEAT_TICKS = 1;

export interface RaftConfig {
  /** This node's id; non-zero. */
  id: NodeId;
  /**
   * Ticks without hearing from a leader before a follower campaigns; the actual
   * timeout is drawn from [electionTicks, 2 * electionTicks).
   * @default 10
   */
  electionTicks?: number;
  /** Ticks between leader heartbeats; must be below electionTicks. @default 1 */
  heartbeatTicks?: number;
  /** The last index the application applied (on restart). @default 0 */
  appliedIndex?: number;
  /** Cap on entry bytes per MsgApp; at least one entry is always sent. @default 1 MiB */
  maxSizePerMsgBytes?: number;
  /** Cap on MsgApps in flight per follower. @default 256 */
  maxInflightMsgs?: number;
  /** Cap on proposed-but-uncommitted entry bytes on the leader. @default 64 MiB */
  maxUncommittedEntriesBytes?: number;
  /** Run a pre-election so a partitioned node cannot disrupt the cluster. @default true */
  preVote?: boolean;
  /** The leader steps down when it has not heard from a quorum for an election timeout. @default true */
  checkQuorum?: boolean;
  /**
   * When the commit index advances, tell followers at once with an
   * AppendEntries of no entries (etcd). When false they learn it from the
   * next AppendEntries or heartbeat, within heartbeatTicks (hashicorp/raft's
   * CommitTimeout does the same): a write then costs two messages and a
   * follower Ready fewer per follower. Safety is the same either way.
   * @default true
   */
  broadcastCommit?: boolean;
  /**
   * Start with votes held: neither vote nor campaign until releaseVotes() (or
   * until a leader catches this node up), while the application checks with
   * its peers that this node's storage was not lost or rolled back.
   * @default false
   */
  holdVotes?: boolean;
}

export type ResolvedRaftConfig = Required<RaftConfig>;

export function withDefaults(config: RaftConfig): ResolvedRaftConfig {
  return {
    id: config.id,
    electionTicks: config.electionTicks ?? DEFAULT_ELECTION_TICKS,
    heartbeatTicks: config.heartbeatTicks ?? DEFAULT_HEARTBEAT_TICKS,
    appliedIndex: config.appliedIndex ?? 0,
    maxSizePerMsgBytes: config.maxSizePerMsgBytes ?? APPEND_BYTES_MAX_DEFAULT,
    maxInflightMsgs: config.maxInflightMsgs ?? INFLIGHT_MSGS_MAX_DEFAULT,
    maxUncommittedEntriesBytes: config.maxUncommittedEntriesBytes ?? UNCOMMITTED_BYTES_MAX_DEFAULT,
    holdVotes: config.holdVotes ?? false,
    preVote: config.preVote ?? true,
    checkQuorum: config.checkQuorum ?? true,
    broadcastCommit: config.broadcastCommit ?? true,
  };
}

function isPositiveInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0;
}

/** Throws ConfigInvalidError naming the first invalid field. */
export function validate(config: ResolvedRaftConfig): void {
  if (!isPositiveInteger(config.id)) throw new ConfigInvalidError('id', 'must be a positive integer');
  if (!isPositiveInteger(config.heartbeatTicks)) throw new ConfigInvalidError('heartbeatTicks', 'must be a positive integer');
  if (!isPositiveInteger(config.electionTicks)) throw new ConfigInvalidError('electionTicks', 'must be a positive integer');
  if (config.electionTicks <= config.heartbeatTicks) {
    throw new ConfigInvalidError('electionTicks', 'must be greater than heartbeatTicks');
  }
  if (!Number.isSafeInteger(config.appliedIndex) || config.appliedIndex < 0) {
    throw new ConfigInvalidError('appliedIndex', 'must be a non-negative integer');
  }
  if (!isPositiveInteger(config.maxSizePerMsgBytes)) throw new ConfigInvalidError('maxSizePerMsgBytes', 'must be a positive integer');
  if (!isPositiveInteger(config.maxInflightMsgs) || config.maxInflightMsgs > INFLIGHT_MSGS_CEILING) {
    throw new ConfigInvalidError('maxInflightMsgs', `must be an integer in [1, ${INFLIGHT_MSGS_CEILING}]`);
  }
  if (!isPositiveInteger(config.maxUncommittedEntriesBytes)) {
    throw new ConfigInvalidError('maxUncommittedEntriesBytes', 'must be a positive integer');
  }
}
