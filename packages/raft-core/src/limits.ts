/**
 * Every bound in raft-core, in one place. Relationships are asserted at load
 * time, so every test run checks them.
 */
import { assert } from '@cairn/proto';

/** Default cap on entry bytes in one MsgApp (at least one entry is always sent). */
export const APPEND_BYTES_MAX_DEFAULT = 1024 * 1024;
/** Default cap on MsgApps in flight to one follower in replicate state. */
export const INFLIGHT_MSGS_MAX_DEFAULT = 256;
/** Hard ceiling on the configurable inflight window (sizes the ring buffer). */
export const INFLIGHT_MSGS_CEILING = 64 * 1024;
/** Default cap on bytes the leader holds proposed but not yet committed. */
export const UNCOMMITTED_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
/** Cap on committed entry bytes handed out in one Ready (at least one entry). */
export const COMMITTED_BYTES_PER_READY_MAX = 16 * 1024 * 1024;
/** Cap on ReadIndex requests queued on a leader awaiting a heartbeat quorum. */
export const PENDING_READS_MAX = 16 * 1024;
/** Cap on ReadIndex requests held by a new leader until it commits in its term. */
export const PENDING_READS_BEFORE_COMMIT_MAX = 1024;
/** Cap on read states buffered for the application between Readies. */
export const READ_STATES_MAX = 16 * 1024;

assert(INFLIGHT_MSGS_MAX_DEFAULT <= INFLIGHT_MSGS_CEILING, 'default inflight window fits the ceiling');
assert(APPEND_BYTES_MAX_DEFAULT <= UNCOMMITTED_BYTES_MAX_DEFAULT, 'one append fits in the uncommitted budget');
assert(PENDING_READS_BEFORE_COMMIT_MAX <= PENDING_READS_MAX, 'pre-commit read queue is no larger than the read queue');
