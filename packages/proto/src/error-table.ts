/**
 * The one table of what each API error code means on the wire and for a
 * retry. The server reads the statuses it answers with; a client (the Clerk)
 * reads the retry rule and whether the answer proves the write was not
 * applied. A code's row is decided here, once, for both sides.
 */
import { status } from '@grpc/grpc-js';
import type { ApiErrorCode } from './error-codes.js';

/** The gRPC trailer that carries an encoded `ErrorDetail` on every failed call. */
export const ERROR_TRAILER = 'cairn-error-bin';

/** What a client does next after an answer with a given code. */
export type RetryRule =
  /** Send the same request to the leader the answer names, at once. */
  | 'redirect'
  /** Send it to another node (back off after every node was asked). */
  | 'rotate'
  /** Back off, then send it again (to the same leader, if one is known). */
  | 'backoff'
  /** Give up: the answer is final. */
  | 'never';

export interface ApiErrorRule {
  /**
   * The retry rule for a client that sends every write with its session
   * (client id + seq), as the Clerk does: the server applies a session's
   * write at most once, so a resent write cannot apply twice. A client that
   * writes without a session may resend a write only after an answer that
   * `provesNotApplied`.
   */
  readonly retry: RetryRule;
  /** True when the answer proves the request was not applied (refused before it was proposed). */
  readonly provesNotApplied: boolean;
  /**
   * True when the refusal depends only on the request, so every earlier
   * attempt of the same request was refused too: no attempt of it was
   * applied, even one whose answer was lost.
   */
  readonly deterministic: boolean;
  /** The gRPC status of a failed call with this code. */
  readonly grpc: status;
  /** The HTTP status of a failed HTTP request with this code. */
  readonly http: number;
}

export const API_ERROR_TABLE: Readonly<Record<ApiErrorCode, ApiErrorRule>> = {
  NOT_LEADER: { retry: 'redirect', provesNotApplied: true, deterministic: false, grpc: status.FAILED_PRECONDITION, http: 503 },
  // Rotate: the node asked may be the one cut off (an isolated former leader answers
  // NO_LEADER for as long as its partition lasts) while the others have a leader.
  NO_LEADER: { retry: 'rotate', provesNotApplied: true, deterministic: false, grpc: status.UNAVAILABLE, http: 503 },
  // The deadline passed with the write perhaps proposed.
  TIMEOUT: { retry: 'rotate', provesNotApplied: false, deterministic: false, grpc: status.DEADLINE_EXCEEDED, http: 504 },
  UNAVAILABLE: { retry: 'rotate', provesNotApplied: true, deterministic: false, grpc: status.UNAVAILABLE, http: 503 },
  // The leader lost leadership with the write proposed: it may still commit under the next
  // leader. Resent with the same session it is applied at most once and answers its first
  // result, so it is retried after a pause for the election. Without a session: never
  // resend (it could apply twice); read to find out.
  UNKNOWN_OUTCOME: { retry: 'backoff', provesNotApplied: false, deterministic: false, grpc: status.UNKNOWN, http: 500 },
  INVALID_ARGUMENT: { retry: 'never', provesNotApplied: true, deterministic: true, grpc: status.INVALID_ARGUMENT, http: 400 },
  KEY_TOO_LARGE: { retry: 'never', provesNotApplied: true, deterministic: true, grpc: status.INVALID_ARGUMENT, http: 413 },
  VALUE_TOO_LARGE: { retry: 'never', provesNotApplied: true, deterministic: true, grpc: status.INVALID_ARGUMENT, http: 413 },
  NOT_FOUND: { retry: 'never', provesNotApplied: true, deterministic: false, grpc: status.NOT_FOUND, http: 404 },
  // Another writer used this session's client id: its seq moved on, this write's result is not kept.
  SESSION_SEQ_STALE: { retry: 'never', provesNotApplied: false, deterministic: false, grpc: status.FAILED_PRECONDITION, http: 409 },
  TOO_MANY_REQUESTS: { retry: 'backoff', provesNotApplied: true, deterministic: false, grpc: status.RESOURCE_EXHAUSTED, http: 429 },
  // The node stops with the write perhaps proposed; another node may take it.
  SHUTTING_DOWN: { retry: 'rotate', provesNotApplied: false, deterministic: false, grpc: status.UNAVAILABLE, http: 503 },
  UNKNOWN_MEMBER: { retry: 'never', provesNotApplied: true, deterministic: false, grpc: status.NOT_FOUND, http: 404 },
  FAILED_PRECONDITION: { retry: 'never', provesNotApplied: true, deterministic: false, grpc: status.FAILED_PRECONDITION, http: 412 },
  // The revision asked for is below the compacted revision (ErrorDetail.compact_revision names it).
  COMPACTED: { retry: 'never', provesNotApplied: true, deterministic: false, grpc: status.OUT_OF_RANGE, http: 410 },
  // The revision asked for is above the store's current revision.
  FUTURE_REVISION: { retry: 'never', provesNotApplied: true, deterministic: false, grpc: status.OUT_OF_RANGE, http: 400 },
  // The lease does not exist (never granted, revoked or expired): nothing was applied.
  LEASE_NOT_FOUND: { retry: 'never', provesNotApplied: true, deterministic: false, grpc: status.NOT_FOUND, http: 404 },
  INTERNAL: { retry: 'never', provesNotApplied: false, deterministic: false, grpc: status.INTERNAL, http: 500 },
};
