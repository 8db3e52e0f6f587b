/**
 * @cairn/raft-core: Raft as a pure, deterministic state machine.
 *
 * ### Usage
 * ```ts
 * const storage = MemoryStorage.create([1, 2, 3] as NodeId[]);
 * const node = RawNode.create({ id: 1 as NodeId }, storage, createRng(seed));
 * // loop: tick()/step()/propose(); then if (node.hasReady()) { const rd = node.ready(); ...; node.advance(rd); }
 * ```
 */
export { RawNode } from './raw-node.js';
export { MemoryStorage } from './memory-storage.js';
export { createRng } from './rng.js';
export type { Rng } from './rng.js';
export { withDefaults, validate, DEFAULT_ELECTION_TICKS, DEFAULT_HEARTBEAT_TICKS } from './config.js';
export type { RaftConfig, ResolvedRaftConfig } from './config.js';
export {
  RaftError,
  StorageCompactedError,
  StorageUnavailableError,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  ConfigInvalidError,
} from './errors.js';
export type { RaftErrorCode } from './errors.js';
export {
  APPEND_BYTES_MAX_DEFAULT,
  INFLIGHT_MSGS_MAX_DEFAULT,
  INFLIGHT_MSGS_CEILING,
  UNCOMMITTED_BYTES_MAX_DEFAULT,
  COMMITTED_BYTES_PER_READY_MAX,
  PENDING_READS_MAX,
  PENDING_READS_BEFORE_COMMIT_MAX,
  READ_STATES_MAX,
} from './limits.js';
export { isLocalMessage, isResponseMessage, isValidPeerMessage, describeMessage, describeEntry, describeReady } from './messages.js';
export { encodeConfChange, decodeConfChange } from './conf-change.js';
export { committedIndex, voteResult } from './quorum.js';
export type { VoteResult } from './quorum.js';
export { NO_NODE } from './types.js';
export type { Term, NodeId, Role, ProposeResult, ProposeRejection } from './types.js';
export type { LogReader, StateReader, Storage, InitialState } from './storage.js';
export type { Ready, ReadState, SoftState, RaftStatus } from './ready.js';
