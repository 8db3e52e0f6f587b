/**
 * Typed errors of the clerk. Every failure a caller can see is a `ClerkError`
 * with a stable `code`; the class is rebuilt from the wire `ErrorDetail.code`
 * (or from the gRPC status when the server sent no detail), never from text.
 *
 * `instanceof` works across duplicate copies of this package: each error
 * carries a `Symbol.for('cairn.clerk.error')` marker holding its code, and the
 * classes implement `Symbol.hasInstance` by comparing that marker. Checking
 * `err.code` is equally supported and is the recommended way in logs and CLIs.
 */
import { API_ERROR_CODES, API_ERROR_TABLE, type ApiErrorCode, assertNever, type RetryRule } from '@cairn/proto';

/** The server's API codes (shared through @cairn/proto) plus the clerk's own. */
export type ClerkErrorCode = ApiErrorCode | 'ABORTED' | 'CLOSED' | 'WRONG_CLUSTER';

const CLERK_ERROR_MARK: unique symbol = Symbol.for('cairn.clerk.error') as never;

/** Base class of every clerk error. Branch on `code`. */
export class ClerkError extends Error {
  /** The code this class stands for; `undefined` on the base class. */
  static readonly kind: ClerkErrorCode | undefined = undefined;
  declare readonly [CLERK_ERROR_MARK]: ClerkErrorCode;

  constructor(
    readonly code: ClerkErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    Object.defineProperty(this, CLERK_ERROR_MARK, { value: code, enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (typeof value !== 'object' || value === null) return false;
    const code = (value as { [CLERK_ERROR_MARK]?: unknown })[CLERK_ERROR_MARK];
    if (typeof code !== 'string') return false;
    return this.kind === undefined || this.kind === code;
  }
}

/**
 * The contacted node is not the leader. The clerk follows the hint itself;
 * callers see this only from a call pinned to one node (`endpoint`), or as the
 * cause of a `TimeoutError` at the deadline.
 */
export class NotLeaderError extends ClerkError {
  static override readonly kind = 'NOT_LEADER' as const;
  constructor(
    /** The leader's node id, or 0 when unknown. */
    readonly leaderId: number,
    /** The leader's client address, or '' when unknown. */
    readonly leaderAddress: string,
    message?: string,
  ) {
    super('NOT_LEADER', message ?? (leaderAddress ? `not the leader; try ${leaderAddress}` : 'not the leader'));
  }
}

/**
 * The node asked knows no leader (election in progress, no quorum, or that node is cut off).
 * The clerk tries the other endpoints and backs off after a full round; callers see it only
 * as the cause of a `TimeoutError`.
 */
export class NoLeaderError extends ClerkError {
  static override readonly kind = 'NO_LEADER' as const;
  constructor(message = 'the cluster has no leader', options?: ErrorOptions) {
    super('NO_LEADER', message, options);
  }
}

/**
 * The call's overall deadline passed and no attempt can have taken effect
 * (reads, or writes whose attempts all provably failed). Safe to retry.
 */
export class TimeoutError extends ClerkError {
  static override readonly kind = 'TIMEOUT' as const;
  constructor(message = 'deadline exceeded', options?: ErrorOptions) {
    super('TIMEOUT', message, options);
  }
}

/** No endpoint could be reached (connection refused, node down). Safe to retry later. */
export class UnavailableError extends ClerkError {
  static override readonly kind = 'UNAVAILABLE' as const;
  constructor(message = 'no endpoint is reachable', options?: ErrorOptions) {
    super('UNAVAILABLE', message, options);
  }
}

/**
 * A write may or may not have been applied. Thrown only when the clerk stops
 * retrying (deadline, abort, close, or a non-retryable answer) after
 * at least one attempt may have reached a node, so that client-id + seq
 * deduplication can no longer settle the question. The original failure is
 * `cause`. Read the key to find out, or make the write idempotent.
 */
export class UnknownOutcomeError extends ClerkError {
  static override readonly kind = 'UNKNOWN_OUTCOME' as const;
  constructor(message = 'the write may or may not have been applied', options?: ErrorOptions) {
    super('UNKNOWN_OUTCOME', message, options);
  }
}

/** The request or the clerk options are invalid. Fix the input; never retried. */
export class InvalidArgumentError extends ClerkError {
  static override readonly kind = 'INVALID_ARGUMENT' as const;
  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_ARGUMENT', message, options);
  }
}

/** The key is over the server's size limit. Never retried. */
export class KeyTooLargeError extends ClerkError {
  static override readonly kind = 'KEY_TOO_LARGE' as const;
  constructor(message = 'key too large', options?: ErrorOptions) {
    super('KEY_TOO_LARGE', message, options);
  }
}

/** The value (or the value after an append) is over the server's size limit. Never retried. */
export class ValueTooLargeError extends ClerkError {
  static override readonly kind = 'VALUE_TOO_LARGE' as const;
  constructor(message = 'value too large', options?: ErrorOptions) {
    super('VALUE_TOO_LARGE', message, options);
  }
}

/** The server reported a missing entity (e.g. a snapshot). Missing keys are not errors: `get` returns `undefined`. */
export class NotFoundError extends ClerkError {
  static override readonly kind = 'NOT_FOUND' as const;
  constructor(message = 'not found', options?: ErrorOptions) {
    super('NOT_FOUND', message, options);
  }
}

/**
 * The server has already seen a newer seq for this client id: another clerk
 * uses the same `clientId`. Give every clerk its own id.
 */
export class SessionSeqStaleError extends ClerkError {
  static override readonly kind = 'SESSION_SEQ_STALE' as const;
  constructor(message = 'session seq is stale', options?: ErrorOptions) {
    super('SESSION_SEQ_STALE', message, options);
  }
}

/** The server shed load. The clerk backs off and retries; seen only when the deadline passes. */
export class TooManyRequestsError extends ClerkError {
  static override readonly kind = 'TOO_MANY_REQUESTS' as const;
  constructor(message = 'too many requests', options?: ErrorOptions) {
    super('TOO_MANY_REQUESTS', message, options);
  }
}

/** The contacted node is shutting down. The clerk tries another endpoint. */
export class ShuttingDownError extends ClerkError {
  static override readonly kind = 'SHUTTING_DOWN' as const;
  constructor(message = 'the node is shutting down', options?: ErrorOptions) {
    super('SHUTTING_DOWN', message, options);
  }
}

/** A membership call named a node id that is not a member. Never retried. */
export class UnknownMemberError extends ClerkError {
  static override readonly kind = 'UNKNOWN_MEMBER' as const;
  constructor(message = 'unknown member', options?: ErrorOptions) {
    super('UNKNOWN_MEMBER', message, options);
  }
}

/** The cluster is not in a state that allows the call (e.g. InjectFault without --chaos). Never retried. */
export class FailedPreconditionError extends ClerkError {
  static override readonly kind = 'FAILED_PRECONDITION' as const;
  constructor(message = 'failed precondition', options?: ErrorOptions) {
    super('FAILED_PRECONDITION', message, options);
  }
}

/** The revision asked for was compacted; `compactRevision` is the oldest one still readable. Never retried. */
export class CompactedError extends ClerkError {
  static override readonly kind = 'COMPACTED' as const;
  constructor(
    readonly compactRevision = 0,
    message = `revision compacted (oldest readable: ${compactRevision})`,
    options?: ErrorOptions,
  ) {
    super('COMPACTED', message, options);
  }
}

/** The revision asked for is above the store's current revision. Never retried. */
export class FutureRevisionError extends ClerkError {
  static override readonly kind = 'FUTURE_REVISION' as const;
  constructor(message = 'revision is in the future', options?: ErrorOptions) {
    super('FUTURE_REVISION', message, options);
  }
}

/** The lease does not exist (never granted, revoked or expired). Never retried. */
export class LeaseNotFoundError extends ClerkError {
  static override readonly kind = 'LEASE_NOT_FOUND' as const;
  constructor(message = 'lease not found', options?: ErrorOptions) {
    super('LEASE_NOT_FOUND', message, options);
  }
}

/** A bug or an unexpected answer (including an error code this clerk does not know). Report it. */
export class InternalError extends ClerkError {
  static override readonly kind = 'INTERNAL' as const;
  constructor(message = 'internal error', options?: ErrorOptions) {
    super('INTERNAL', message, options);
  }
}

/**
 * The caller's `AbortSignal` fired before any attempt could have taken effect.
 * (A write aborted after an attempt may have reached a node throws
 * `UnknownOutcomeError` with this as `cause`.)
 */
export class AbortedError extends ClerkError {
  static override readonly kind = 'ABORTED' as const;
  constructor(message = 'the call was aborted', options?: ErrorOptions) {
    super('ABORTED', message, options);
  }
}

/** The clerk was closed; create a new one. */
export class ClosedError extends ClerkError {
  static override readonly kind = 'CLOSED' as const;
  constructor(message = 'the clerk is closed', options?: ErrorOptions) {
    super('CLOSED', message, options);
  }
}

/**
 * A node answered as a member of another cluster than this clerk's: the
 * `clusterId` option, or else the cluster of the first node that answered.
 * The clerk never uses that node's answer, sends it nothing more, and tries
 * the other endpoints; callers see this error from a call pinned to that node,
 * or as the cause of a `TimeoutError` when no endpoint of the cluster answers.
 * Fix the endpoint list (or `clusterId`).
 */
export class WrongClusterError extends ClerkError {
  static override readonly kind = 'WRONG_CLUSTER' as const;
  constructor(
    /** The node's client address. */
    readonly address: string,
    /** The cluster the clerk talks to. */
    readonly expectedClusterId: string,
    /** The cluster the node named. */
    readonly foundClusterId: string,
    message?: string,
  ) {
    super(
      'WRONG_CLUSTER',
      message ?? `node ${address} belongs to cluster ${foundClusterId}, not ${expectedClusterId}; remove it from the endpoints`,
    );
  }
}

/** What the retry loop does after a failure with a given code (see `RetryRule` in @cairn/proto). */
export type RetryClass = RetryRule;

/** The part of a code's row in the error table that the retry loop reads. */
export interface ErrorKind {
  readonly retry: RetryClass;
  /**
   * True when an answer with this code proves the request was not applied
   * (the server rejected it before proposing, or the check is deterministic).
   */
  readonly provesNotApplied: boolean;
}

function kindOf(code: ApiErrorCode): ErrorKind {
  const { retry, provesNotApplied } = API_ERROR_TABLE[code];
  return { retry, provesNotApplied };
}

/**
 * Retryability per code: the server's codes as @cairn/proto's error table
 * says (every clerk write carries its session, so UNKNOWN_OUTCOME is retried
 * and deduplicated), plus the clerk's own codes.
 */
export const ERROR_KINDS: Readonly<Record<ClerkErrorCode, ErrorKind>> = {
  ...(Object.fromEntries(API_ERROR_CODES.map((code) => [code, kindOf(code)])) as Record<ApiErrorCode, ErrorKind>),
  ABORTED: { retry: 'never', provesNotApplied: false },
  CLOSED: { retry: 'never', provesNotApplied: false },
  // Another cluster's node: nothing reached this clerk's cluster, and another endpoint may be right.
  WRONG_CLUSTER: { retry: 'rotate', provesNotApplied: true },
};

/**
 * Codes whose check depends only on the request, so an earlier attempt of the
 * same request was rejected too: no unknown outcome even if it timed out.
 */
export const DETERMINISTIC_REJECTIONS: ReadonlySet<ClerkErrorCode> = new Set<ClerkErrorCode>(
  API_ERROR_CODES.filter((code) => API_ERROR_TABLE[code].deterministic),
);

export function isClerkErrorCode(code: string): code is ClerkErrorCode {
  return Object.hasOwn(ERROR_KINDS, code);
}

/** The wire form the server sends in the `ERROR_TRAILER` (@cairn/proto). */
export interface WireErrorDetail {
  readonly code: string;
  readonly message: string;
  readonly leaderId: number;
  readonly leaderAddress: string;
}

/** Rebuilds the typed error from a wire `ErrorDetail`, by code only. */
export function errorFromDetail(detail: WireErrorDetail): ClerkError {
  const message = detail.message || undefined;
  if (!isClerkErrorCode(detail.code)) {
    return new InternalError(`unrecognised error code ${JSON.stringify(detail.code)}: ${detail.message}`);
  }
  return errorFromCode(detail.code, message, detail);
}

/** Builds the error class for `code`; `message` defaults to the class's own. */
export function errorFromCode(
  code: ClerkErrorCode,
  message?: string,
  hint: { leaderId: number; leaderAddress: string; compactRevision?: number } = { leaderId: 0, leaderAddress: '' },
): ClerkError {
  switch (code) {
    case 'NOT_LEADER':
      return new NotLeaderError(hint.leaderId, hint.leaderAddress, message);
    case 'NO_LEADER':
      return new NoLeaderError(message);
    case 'TIMEOUT':
      return new TimeoutError(message);
    case 'UNAVAILABLE':
      return new UnavailableError(message);
    case 'UNKNOWN_OUTCOME':
      return new UnknownOutcomeError(message);
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError(message ?? 'invalid argument');
    case 'KEY_TOO_LARGE':
      return new KeyTooLargeError(message);
    case 'VALUE_TOO_LARGE':
      return new ValueTooLargeError(message);
    case 'NOT_FOUND':
      return new NotFoundError(message);
    case 'SESSION_SEQ_STALE':
      return new SessionSeqStaleError(message);
    case 'TOO_MANY_REQUESTS':
      return new TooManyRequestsError(message);
    case 'SHUTTING_DOWN':
      return new ShuttingDownError(message);
    case 'UNKNOWN_MEMBER':
      return new UnknownMemberError(message);
    case 'FAILED_PRECONDITION':
      return new FailedPreconditionError(message);
    case 'COMPACTED':
      return new CompactedError(hint.compactRevision ?? 0, message);
    case 'FUTURE_REVISION':
      return new FutureRevisionError(message);
    case 'LEASE_NOT_FOUND':
      return new LeaseNotFoundError(message);
    case 'INTERNAL':
      return new InternalError(message);
    case 'ABORTED':
      return new AbortedError(message);
    case 'CLOSED':
      return new ClosedError(message);
    // Made by the clerk itself (a node does not know the clerk's cluster); a wire copy names no cluster.
    case 'WRONG_CLUSTER':
      return new WrongClusterError('', '', '', message ?? 'a node of another cluster');
    default:
      return assertNever(code, 'unhandled error code');
  }
}
