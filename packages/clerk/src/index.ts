/**
 * The Cairn client SDK.
 *
 * ### Usage
 * ```ts
 * import { Clerk, UnknownOutcomeError } from '@cairn/clerk';
 *
 * const clerk = await Clerk.connect({ endpoints: ['127.0.0.1:7001', '127.0.0.1:7002'] });
 * await clerk.put('config/feature-x', 'on');
 * const kv = await clerk.get('config/feature-x');          // { key, value: Buffer, version, … } | undefined
 * await clerk.cas('config/feature-x', { expectedValue: 'on' }, 'off');
 * clerk.close();
 * ```
 * Errors are `ClerkError`s with a stable `code`; see the README for which are
 * retried and when a write's outcome is unknown.
 */
export { Clerk } from './clerk.js';
export type { ClerkDeps } from './clerk.js';
export type { ClerkOptions, RetryOptions, ResolvedClerkOptions } from './options.js';
export {
  DEFAULT_DEADLINE_MS,
  DEFAULT_MEMBERS_REFRESH_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRY_FACTOR,
  DEFAULT_RETRY_INITIAL_MS,
  DEFAULT_RETRY_JITTER,
  DEFAULT_RETRY_MAX_MS,
  DEFAULT_WRITES_INFLIGHT_MAX,
  validate,
  withDefaults,
} from './options.js';
export type {
  AppendResult,
  Bytes,
  CallOptions,
  CasExpectation,
  CasResult,
  Consistency,
  DeleteResult,
  GetOptions,
  KeyValue,
  NewMember,
  NodeCallOptions,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
} from './types.js';
export type { ClerkStatus } from './status.js';
export {
  AbortedError,
  ClerkError,
  ClosedError,
  ERROR_KINDS,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  KeyTooLargeError,
  NoLeaderError,
  NotFoundError,
  NotLeaderError,
  SessionSeqStaleError,
  ShuttingDownError,
  TimeoutError,
  TooManyRequestsError,
  UnavailableError,
  UnknownMemberError,
  UnknownOutcomeError,
  ValueTooLargeError,
  WrongClusterError,
} from './errors.js';
export type { ClerkErrorCode, ErrorKind, RetryClass } from './errors.js';
export { JsonLinesHistory } from './history.js';
export type { HistoryOp, HistoryRecord, HistoryRecorder, HistoryRecordType } from './history.js';
export type { MembersResponse, Member, StatusResponse, FollowerProgress, SnapshotResponse } from '@cairn/proto';

// Seams a Clerk takes (ClerkDeps); fakes for them are in '@cairn/clerk/testing'.
export { ClusterPin, GrpcTransport, type GrpcTransportOptions } from './connection.js';
export type { AttemptOptions, CallResult, Connection, RpcMethod, RpcRequest, RpcResponse, Transport } from './connection.js';
export { systemClock } from './clock.js';
export type { Clock, Random } from './clock.js';
