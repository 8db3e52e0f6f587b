/**
 * Every failure kind the server reports, as one class per kind with a stable
 * `code` (STYLE.md §7.3). The wire carries the code plus structured fields
 * (`ErrorDetail` in the `cairn-error-bin` trailer or the HTTP JSON body), never
 * prose for clients to parse; api/error-wire.ts gives each code its statuses.
 *
 * `instanceof` across copies of this module: each instance carries a
 * `Symbol.for('cairn.kv.error')` marker and `KvError` defines
 * `Symbol.hasInstance` on it, so `err instanceof KvError` holds even when two
 * copies of the package are loaded. Subclass checks (`instanceof
 * NotLeaderError`) compare the code, so they are safe across copies too.
 * Callers that receive errors over the wire should branch on `err.code`.
 */
import type { ApiErrorCode, ErrorDetail } from '@cairn/proto';

/** The API codes clients also know (shared through @cairn/proto) plus the server's own: refusals to start and damaged data. */
export type KvErrorCode =
  ApiErrorCode | 'CLUSTER_MISMATCH' | 'NODE_ID_MISMATCH' | 'CORRUPTION' | 'DATA_DIR_LOCKED' | 'DISK_FULL' | 'PERMISSION_DENIED';

const KV_ERROR_MARKER = Symbol.for('cairn.kv.error');

/** Base class of every server error; branch on `code`. */
export class KvError extends Error {
  readonly [KV_ERROR_MARKER] = true;

  constructor(
    readonly code: KvErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    if (!(KV_ERROR_MARKER in value)) return false;
    // On KvError itself: any marked error. On a subclass: same code as the subclass.
    const expectedCode = CODE_OF_CLASS.get(this);
    return expectedCode === undefined || (value as KvError).code === expectedCode;
  }
}

/**
 * Thrown by a follower for a write or linearizable read. Retry on the leader
 * (`leaderAddress` is its client address, when known).
 */
export class NotLeaderError extends KvError {
  constructor(
    readonly leaderId: number,
    readonly leaderAddress: string | undefined,
  ) {
    super('NOT_LEADER', leaderAddress ? `not the leader; try node ${leaderId} at ${leaderAddress}` : 'not the leader');
  }
}

/** No leader is known (election in progress or no quorum). Retry after a backoff. */
export class NoLeaderError extends KvError {
  constructor(message = 'no leader is known; an election may be in progress') {
    super('NO_LEADER', message);
  }
}

/**
 * The request's deadline passed before it was answered. For reads, retry. For
 * writes with a session, retry with the same seq (deduplicated).
 */
export class TimeoutError extends KvError {
  constructor(message = 'the request timed out') {
    super('TIMEOUT', message);
  }
}

/** The node cannot serve now (e.g. still catching up, transport down). Retry, possibly elsewhere. */
export class UnavailableError extends KvError {
  constructor(message = 'the node is unavailable') {
    super('UNAVAILABLE', message);
  }
}

/**
 * The write may or may not have been applied. Thrown to every write still
 * waiting to commit when this node stops being the leader: it was proposed,
 * and the next leader may yet commit it or drop it. (A node that stops
 * answers SHUTTING_DOWN; a proposal refused before it was appended answers
 * NOT_LEADER, NO_LEADER or TOO_MANY_REQUESTS, which prove it was not applied.)
 * A write with a session (clientId, seq) may be resent with the same seq: it
 * is applied at most once and answers its first result. Without a session,
 * read to find out; resending could apply it twice.
 */
export class UnknownOutcomeError extends KvError {
  constructor(message = 'the write may or may not have been applied') {
    super('UNKNOWN_OUTCOME', message);
  }
}

/** The request is malformed (bad field, invalid UTF-8, bad paging). Fix the request; do not retry. */
export class InvalidArgumentError extends KvError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** The key is longer than the configured limit. Use a shorter key. */
export class KeyTooLargeError extends KvError {
  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
  ) {
    super('KEY_TOO_LARGE', `key is ${sizeBytes} bytes; the limit is ${limitBytes}`);
  }
}

/** The value (or the value after an append) is longer than the limit. Store less per key. */
export class ValueTooLargeError extends KvError {
  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
  ) {
    super('VALUE_TOO_LARGE', `value is ${sizeBytes} bytes; the limit is ${limitBytes}`);
  }
}

/** A named thing (not a key: a missing key is a normal empty result) does not exist. */
export class NotFoundError extends KvError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** A cluster as a CLUSTER_MISMATCH names it: its id and initial voters (undefined when unknown). */
export interface ClusterDescription {
  clusterId: string;
  voters: readonly number[] | undefined;
}

/**
 * Thrown at startup when the data dir belongs to another cluster than the
 * flags name (another --cluster-id, or bootstrapped with other initial
 * members). The operator must point the node at the right data dir or give
 * it that cluster's flags.
 */
export class ClusterMismatchError extends KvError {
  constructor(
    readonly dataDir: string,
    readonly found: { stored: ClusterDescription; flags: ClusterDescription },
  ) {
    super(
      'CLUSTER_MISMATCH',
      `data dir ${dataDir} belongs to cluster ${describeCluster(found.stored)}, but the flags say cluster ${describeCluster(found.flags)}; ` +
        "use this cluster's own data dir, or the flags the data dir was created with",
    );
  }
}

function describeCluster(cluster: ClusterDescription): string {
  return cluster.voters === undefined ? cluster.clusterId : `${cluster.clusterId} with members {${cluster.voters.join(',')}}`;
}

/**
 * Thrown at startup when the data dir was created by another node id. The
 * operator must use the node's own data dir.
 */
export class NodeIdMismatchError extends KvError {
  constructor(
    readonly expectedNodeId: number,
    readonly foundNodeId: number,
    readonly dataDir: string,
  ) {
    super(
      'NODE_ID_MISMATCH',
      `data dir ${dataDir} belongs to node ${foundNodeId}, not node ${expectedNodeId}; use that node's --id or another --data-dir`,
    );
  }
}

/** What an operator does about a data dir that cannot be trusted. */
export const CORRUPTION_REMEDY =
  'restore the data dir from a backup, or remove the node (kvctl member remove), empty its data dir and add it again as a learner';

/**
 * Stored data failed verification: a record's checksum, a gap in the log, or
 * LevelDB's own files (MANIFEST, CURRENT, a missing or damaged table file).
 * Thrown at startup; the node refuses to start. The operator restores the
 * data dir from a backup or has the node rebuilt from its peers (the message
 * says how).
 */
export class CorruptionError extends KvError {
  constructor(
    readonly dataDir: string,
    detail: string,
  ) {
    super('CORRUPTION', `data dir ${dataDir} is corrupt: ${detail}; ${CORRUPTION_REMEDY}`);
  }
}

/**
 * Thrown at startup when LevelDB's LOCK on the data dir is held: another
 * process (usually another node) has it open. Stop that process or use
 * another --data-dir.
 */
export class DataDirLockedError extends KvError {
  constructor(readonly dataDir: string) {
    super(
      'DATA_DIR_LOCKED',
      `data dir ${dataDir} is in use by another process (its LOCK is held); stop the node running on it or use another --data-dir`,
    );
  }
}

/**
 * Thrown at startup when the disk holding the data dir has no space left
 * (LevelDB needs to write even to open). Free space on that disk and start
 * the node again; nothing was lost.
 */
export class DiskFullError extends KvError {
  constructor(
    readonly dataDir: string,
    readonly file: string,
  ) {
    super(
      'DISK_FULL',
      `no space left on the disk of data dir ${dataDir} (writing ${file}); free space on that disk, then start the node again`,
    );
  }
}

/**
 * Thrown at startup when the process may not read or write a file of the
 * data dir. Give the node's user access to it (or use another --data-dir).
 */
export class PermissionDeniedError extends KvError {
  constructor(readonly path: string) {
    super('PERMISSION_DENIED', `permission denied on ${path}; give the node's user read and write access to the data dir`);
  }
}

/** The node is stopping. Retry on another node. */
export class ShuttingDownError extends KvError {
  constructor(message = 'the node is shutting down') {
    super('SHUTTING_DOWN', message);
  }
}

/**
 * Thrown by the state machine for a write whose seq is older than the last
 * one applied for its client: the client already moved on, so its result is no
 * longer kept. A correct clerk never sees this; do not retry.
 */
export class SessionSeqStaleError extends KvError {
  constructor(
    readonly clientId: string,
    readonly seq: number,
    readonly lastSeq: number,
  ) {
    super('SESSION_SEQ_STALE', `client ${clientId} sent seq ${seq} after seq ${lastSeq} was applied`);
  }
}

/** A bounded queue (pending proposals, inflight requests) is full. Back off and retry. */
export class TooManyRequestsError extends KvError {
  constructor(message = 'too many requests in flight; retry later') {
    super('TOO_MANY_REQUESTS', message);
  }
}

/** A membership operation named a node id that is not a member. Check the id. */
export class UnknownMemberError extends KvError {
  constructor(readonly memberId: number) {
    super('UNKNOWN_MEMBER', `node ${memberId} is not a member of the cluster`);
  }
}

/**
 * The operation is not allowed in the current state (e.g. a conf change is
 * already pending, chaos endpoints are disabled). Fix the precondition first.
 */
export class FailedPreconditionError extends KvError {
  constructor(message: string) {
    super('FAILED_PRECONDITION', message);
  }
}

/** A read or watch asked for a revision that compaction has discarded. */
export class CompactedError extends KvError {
  constructor(
    readonly revision: number,
    readonly compactRevision: number,
  ) {
    super('COMPACTED', `revision ${revision} is compacted (the oldest readable revision is ${compactRevision})`);
  }
}

/** A read or watch asked for a revision the store has not reached. */
export class FutureRevisionError extends KvError {
  constructor(
    readonly revision: number,
    readonly currentRevision: number,
  ) {
    super('FUTURE_REVISION', `revision ${revision} is in the future (the current revision is ${currentRevision})`);
  }
}

/** The lease does not exist: never granted, revoked, or expired. */
export class LeaseNotFoundError extends KvError {
  constructor(readonly leaseId: number) {
    super('LEASE_NOT_FOUND', `lease ${leaseId} does not exist`);
  }
}

/** A bug or an unexpected failure. Report it; retrying is unlikely to help. */
export class InternalError extends KvError {
  constructor(message: string, options?: ErrorOptions) {
    super('INTERNAL', message, options);
  }
}

// Subclass → code, for the cross-copy-safe instanceof above.
const CODE_OF_CLASS = new Map<unknown, KvErrorCode>([
  [NotLeaderError, 'NOT_LEADER'],
  [NoLeaderError, 'NO_LEADER'],
  [TimeoutError, 'TIMEOUT'],
  [UnavailableError, 'UNAVAILABLE'],
  [UnknownOutcomeError, 'UNKNOWN_OUTCOME'],
  [InvalidArgumentError, 'INVALID_ARGUMENT'],
  [KeyTooLargeError, 'KEY_TOO_LARGE'],
  [ValueTooLargeError, 'VALUE_TOO_LARGE'],
  [NotFoundError, 'NOT_FOUND'],
  [ClusterMismatchError, 'CLUSTER_MISMATCH'],
  [NodeIdMismatchError, 'NODE_ID_MISMATCH'],
  [CorruptionError, 'CORRUPTION'],
  [DataDirLockedError, 'DATA_DIR_LOCKED'],
  [DiskFullError, 'DISK_FULL'],
  [PermissionDeniedError, 'PERMISSION_DENIED'],
  [ShuttingDownError, 'SHUTTING_DOWN'],
  [SessionSeqStaleError, 'SESSION_SEQ_STALE'],
  [TooManyRequestsError, 'TOO_MANY_REQUESTS'],
  [UnknownMemberError, 'UNKNOWN_MEMBER'],
  [FailedPreconditionError, 'FAILED_PRECONDITION'],
  [CompactedError, 'COMPACTED'],
  [FutureRevisionError, 'FUTURE_REVISION'],
  [LeaseNotFoundError, 'LEASE_NOT_FOUND'],
  [InternalError, 'INTERNAL'],
]);

/** True for any KvError, including one from another copy of this module. */
export function isKvError(value: unknown): value is KvError {
  return value instanceof KvError;
}

/**
 * The structured form sent to clients. Anything that is not a KvError becomes
 * INTERNAL with a generic message (never a stack trace).
 */
export function toErrorDetail(error: unknown): ErrorDetail {
  if (!isKvError(error)) {
    return { code: 'INTERNAL', message: 'internal error', leaderId: 0, leaderAddress: '', compactRevision: 0 };
  }
  const detail: ErrorDetail = { code: error.code, message: error.message, leaderId: 0, leaderAddress: '', compactRevision: 0 };
  if (error instanceof CompactedError) detail.compactRevision = error.compactRevision;
  if (error instanceof NotLeaderError) {
    detail.leaderId = error.leaderId;
    detail.leaderAddress = error.leaderAddress ?? '';
  }
  return detail;
}
