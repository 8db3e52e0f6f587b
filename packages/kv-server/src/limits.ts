/**
 * Every size and queue bound of the server, and the timeouts that go with
 * them, in one place (STYLE.md §7.4). Each bound is read where it is enforced,
 * and a test goes just over it: test/limits.test.ts (whose header says where
 * each of the others is: transport-limits, pipeline-limits, or the enforcing
 * part's own test with a smaller bound). The key and value limits are defaults (--key-bytes-max,
 * --value-bytes-max), enforced before proposing; a write carries the
 * proposer's value limit, so nodes with different settings apply identically.
 * Log entry and append sizes are raft-core's bounds (its limits.ts).
 * Relationships between the bounds are asserted when this module loads.
 */
import { assert } from '@cairn/proto';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Default largest key (and range prefix) a client may send. */
export const KEY_BYTES_MAX = 4 * KiB;
/** Default largest value (also the largest value an append may produce). */
export const VALUE_BYTES_MAX = 1 * MiB;
/** Longest client id in a write session. */
export const CLIENT_ID_BYTES_MAX = 128;
/** Most key-values one Range call returns. */
export const RANGE_LIMIT_MAX = 10_000;
/** Most compares, and most ops per branch, in one txn (etcd's default --max-txn-ops). */
export const TXN_OPS_MAX = 128;
/** Revisions of history the leader keeps before it proposes a compaction (--history-revisions). */
export const HISTORY_REVISIONS_DEFAULT = 100_000;
/** Bytes of history (LevelDB's estimate) the leader keeps before it proposes a compaction (--history-bytes). */
export const HISTORY_BYTES_DEFAULT = 256 * 1024 * 1024;
/** How often the leader compares the history's estimated bytes with --history-bytes. */
export const HISTORY_BYTES_CHECK_MS = 1000;
/** Longest lease TTL a grant may ask for, in seconds (etcd's MaxLeaseTTL). The shortest depends on the election timeout (lease-api.ts). */
export const LEASE_TTL_SECONDS_MAX = 9_000_000_000;
/** Live leases; beyond it a grant gets TOO_MANY_REQUESTS (the table and every countdown are in memory). */
export const LEASES_MAX = 1_000_000;
/** Expiry revokes the leader has proposed and not yet seen applied; more expired leases wait for the next check. */
export const LEASE_REVOKES_IN_FLIGHT_MAX = 1_000;
/** Range limit used when a request gives 0. */
export const RANGE_LIMIT_DEFAULT = 1_000;
/** Most live client sessions; beyond it the least recently active one is evicted. */
export const SESSIONS_MAX = 100_000;
/** A session unused for this long (by replicated proposal time) expires. */
export const SESSION_TTL_MS_DEFAULT = 10 * 60 * 1000;
/** Size of one chunk of a state machine snapshot stream. */
export const SNAPSHOT_CHUNK_BYTES = 1 * MiB;
/** Proposals accepted but not yet applied; beyond it writes get TOO_MANY_REQUESTS. */
export const PENDING_PROPOSALS_MAX = 10_000;
/** Linearizable reads waiting for a read index (queued or confirming); beyond it a read gets TOO_MANY_REQUESTS. */
export const PENDING_READS_MAX = 10_000;
/**
 * Peer messages received and not yet stepped into raft. Beyond it a batch is
 * dropped, as a lossy network would drop it (raft retries): the loop is far
 * behind its peers, and memory must stay bounded.
 */
export const PEER_INBOX_MESSAGES_MAX = 65_536;
/** Serializable reads waiting for the node to apply their min_index; beyond it a read gets TOO_MANY_REQUESTS. */
export const MIN_INDEX_WAITERS_MAX = 10_000;
/**
 * Longest a serializable read waits for its min_index (never longer than
 * --request-timeout-ms) before it answers UNAVAILABLE so that the client asks
 * another node. Below the clerk's default per-attempt timeout (2 s), so the
 * clerk hears the answer rather than timing out the attempt.
 */
export const MIN_INDEX_WAIT_MS_MAX = 1_000;
/** Bytes of recently written values the state machine keeps to skip LevelDB reads (bounded: memory stays flat). */
export const VALUE_CACHE_BYTES = 8 * MiB;
/** Operations one pipeline stream may have running; beyond it an op is answered TOO_MANY_REQUESTS. */
export const PIPELINE_OPS_IN_FLIGHT_MAX = 4_096;
/** A pipeline response message is cut once its results reach about this size. */
export const PIPELINE_MESSAGE_BYTES_TARGET = 1 * MiB;
/** Largest PipelineRequest frame a clerk's raw KV link may send (the gRPC server's receive limit). */
export const CLIENT_LINK_FRAME_BYTES_MAX = 64 * MiB;
/** Results a raw KV link may hold unread by its client; beyond this the link is closed. */
export const CLIENT_LINK_BUFFERED_BYTES_MAX = 64 * MiB;
/** How long a raw KV link the node ended may take to deliver its last results before it is destroyed. */
export const CLIENT_LINK_CLOSE_GRACE_MS = 5_000;
/** TCP keepalive of a raw KV link: a vanished client's socket is found and closed. */
export const CLIENT_LINK_KEEPALIVE_MS = 10_000;
/** Size of one chunk of a snapshot sent to a peer (InstallSnapshot), so a large snapshot is never one gRPC message. */
export const SNAPSHOT_SEND_CHUNK_BYTES = 1 * MiB;
/** Longest a snapshot send to a peer may take before it is abandoned (raft is told it failed). */
export const SNAPSHOT_SEND_TIMEOUT_MS = 5 * 60_000;
/**
 * Largest snapshot a node takes in from a leader. Raft hands a snapshot on
 * whole, so its chunks are held in memory until the last one: past this a
 * receive is refused rather than growing the heap towards Buffer's limit.
 */
export const SNAPSHOT_RECEIVE_BYTES_MAX = 2 * 1024 * MiB;
/** Largest gRPC message a node sends or accepts, and largest MessageBatch frame on a raw peer link. */
export const GRPC_MESSAGE_BYTES_MAX = 64 * MiB;
/** Raft messages queued for one peer in one synchronous run; beyond it they are dropped (raft resends). */
export const PEER_QUEUED_MESSAGES_MAX = 8192;
/** Batches a peer link may have unacked; beyond it messages are dropped, and a link that stays full is reset. */
export const INFLIGHT_BATCHES_MAX = 256;
/** Acks are cumulative; one per this many batches bounds inflight without doubling the traffic. */
export const ACK_EVERY_BATCHES = 32;
/** Batches between those acked at once are acked within this delay. */
export const ACK_DELAY_MS = 200;
/** Acks are a few bytes; a larger frame on a peer link is not from a Cairn peer. */
export const ACK_FRAME_BYTES_MAX = 1 * KiB;
/** Bytes a peer link may hold that the kernel has not taken yet; beyond it, messages are dropped. */
export const PEER_LINK_BUFFERED_BYTES_MAX = 16 * MiB;
/**
 * A batch unacked for this long means the link is dead or the peer stopped
 * reading: reset it. Far above ACK_DELAY_MS, and short enough that a follower
 * rejoins within two election timeouts (1 s each by default) of a heal.
 */
export const PEER_LINK_SILENT_MS = 2_000;
/** A connect that hangs this long (SYNs dropped by a partition) is abandoned and redialled. */
export const PEER_CONNECT_TIMEOUT_MS = 1_000;
/** A link that sent nothing for this long sends an empty batch, so its ack shows it up or its silence down. */
export const PEER_LINK_PROBE_IDLE_MS = 1_000;
/** How often peer links are checked for silence and idleness. */
export const PEER_LINK_CHECK_MS = 250;
/** An incoming raw peer link with no batch (not even a probe) for this long has lost its sender: close it. */
export const PEER_LINK_INCOMING_IDLE_MS = 30_000;
/** TCP keepalive of a raw peer link. */
export const PEER_LINK_KEEPALIVE_MS = 5_000;
/** First wait before a broken peer link redials; doubled per failure, reset by an ack. */
export const PEER_RECONNECT_BACKOFF_MIN_MS = 50;
/** Bounds the wait between a heal and the next dial: a redial every ~0.5 s costs a SYN. */
export const PEER_RECONNECT_BACKOFF_MAX_MS = 500;
/** A connection to the node's port that sends fewer bytes than a link magic in this long is dropped. */
export const PORT_SNIFF_TIMEOUT_MS = 10_000;
/** Client connections held while a node's port is not open yet; more are closed. */
export const HELD_CONNECTIONS_MAX = 1024;
/**
 * Incoming raw peer links open at once. A peer keeps one (a newer replaces
 * it), so a cluster needs one per member; a link past the bound is closed at
 * once, so a flood of connections cannot hold sockets and buffers.
 */
export const PEER_INCOMING_LINKS_MAX = 256;
/**
 * Log compaction waits for a live follower that is behind (catching up, or
 * installing a snapshot that must not be stale on arrival), but never keeps
 * more than this many times --snapshot-entries entries for it (at the
 * defaults, 100k entries: ~40 MB of log in memory while one catches up).
 */
export const COMPACTION_HOLD_MAX_FACTOR = 10;
/**
 * Bytes of watch responses one watch may have queued for a client that reads
 * slower than changes arrive; past it the watch stops taking live events and
 * catches up from history once the client reads again (memory stays bounded).
 */
export const WATCH_BUFFER_BYTES_MAX = 1 * MiB;
/** As WATCH_BUFFER_BYTES_MAX, in responses. */
export const WATCH_BUFFER_RESPONSES_MAX = 1_000;
/**
 * Bytes of responses a Watch stream may have handed to grpc-js that HTTP/2
 * has not taken yet; past it the stream's watches queue (and then catch up
 * from history) until half of it has gone out.
 */
export const WATCH_STREAM_IN_FLIGHT_BYTES = 1 * MiB;
/**
 * Events one history read of a catching-up watch asks for at most (a revision
 * is never split, so it can be more); fewer when events are large, so that a
 * read holds about WATCH_CATCH_UP_BYTES.
 */
export const WATCH_CATCH_UP_EVENTS = 1_000;
/** About the bytes one history read of a catching-up watch holds. */
export const WATCH_CATCH_UP_BYTES = 4 * MiB;
/** A watch response is cut once its revisions reach about this size (a revision is never split across responses). */
export const WATCH_RESPONSE_BYTES_TARGET = 1 * MiB;
/** Watches one Watch stream (or the node) may hold; beyond it a create is cancelled with TOO_MANY_REQUESTS. */
export const WATCHES_PER_STREAM_MAX = 10_000;
/** How often a watch that asked for progress notifications gets one (etcd: 10 min; shorter so a client sees a live stream). */
export const WATCH_PROGRESS_INTERVAL_MS = 10_000;

// The largest default write fits in one raw-link frame.
assert(KEY_BYTES_MAX + VALUE_BYTES_MAX < CLIENT_LINK_FRAME_BYTES_MAX);
// Chunks are byte ranges of one stream (records may span chunks), so any size
// works; keep them large enough to amortise per-message costs, small enough to bound memory.
assert(SNAPSHOT_CHUNK_BYTES >= 64 * KiB);
assert(SNAPSHOT_CHUNK_BYTES <= 16 * MiB);
assert(RANGE_LIMIT_DEFAULT <= RANGE_LIMIT_MAX);
assert(RANGE_LIMIT_DEFAULT > 0);
assert(SESSIONS_MAX > 0);
assert(SESSION_TTL_MS_DEFAULT > 0);
assert(CLIENT_ID_BYTES_MAX > 0);
assert(PENDING_READS_MAX > 0);
assert(PEER_INBOX_MESSAGES_MAX > 0);
assert(MIN_INDEX_WAITERS_MAX > 0);
assert(MIN_INDEX_WAIT_MS_MAX > 0);
assert(PENDING_PROPOSALS_MAX > 0);
// A live link's batches are acked well before it counts as silent.
assert(ACK_DELAY_MS * 2 <= PEER_LINK_SILENT_MS);
// A live sender probes many times before its receiver gives up on it.
assert(PEER_LINK_PROBE_IDLE_MS * 4 <= PEER_LINK_INCOMING_IDLE_MS);
assert(ACK_EVERY_BATCHES < INFLIGHT_BATCHES_MAX);
assert(PEER_RECONNECT_BACKOFF_MIN_MS <= PEER_RECONNECT_BACKOFF_MAX_MS);
assert(SNAPSHOT_SEND_CHUNK_BYTES < GRPC_MESSAGE_BYTES_MAX);
assert(CLIENT_LINK_FRAME_BYTES_MAX <= GRPC_MESSAGE_BYTES_MAX);
assert(WATCH_CATCH_UP_EVENTS > 0 && WATCH_BUFFER_RESPONSES_MAX > 0 && WATCH_BUFFER_BYTES_MAX > 0);
