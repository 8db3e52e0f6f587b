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
  DeleteOptions,
  DeleteResult,
  GetOptions,
  KeyValue,
  LeaseGrantOptions,
  LeaseGrantResult,
  LeaseTimeToLiveOptions,
  LeaseTimeToLiveResult,
  NewMember,
  NodeCallOptions,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
} from './types.js';
export type { ClerkStatus } from './status.js';
export { compare, op } from './txn.js';
export type { CompareOp, TxnCompare, TxnOp, TxnOpResult, TxnResult, TxnSpec } from './txn.js';
export type { Lease } from './lease-keeper.js';
export { WATCH_QUEUE_MAX } from './watch.js';
export type { Watch, WatchEvent, WatchOptions } from './watch.js';
export { Election, Mutex, Session, SESSION_TTL_DEFAULT_SECONDS } from './concurrency/index.js';
export type { LeaderInfo, LockOptions, LockResult, SessionOptions } from './concurrency/index.js';
export {
  AbortedError,
  ClerkError,
  ClosedError,
  CompactedError,
  ERROR_KINDS,
  FailedPreconditionError,
  FutureRevisionError,
  InternalError,
  InvalidArgumentError,
  KeyTooLargeError,
  LeaseNotFoundError,
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
export type {
  AttemptOptions,
  BidiStream,
  CallResult,
  Connection,
  RpcMethod,
  RpcRequest,
  RpcResponse,
  StreamEvents,
  StreamMethod,
  StreamRequest,
  StreamResponse,
  Transport,
} from './connection.js';
export { systemClock } from './clock.js';
export type { Clock, Random } from './clock.js';
