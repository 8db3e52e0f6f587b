/**
 * @cairn/kv-server: the Cairn node. Most users run the `cairn-server` binary;
 * tests and embedders can start a node in-process with `startNode()`.
 */
export { startNode, CAIRN_VERSION } from './server.js';
export type { RunningNode, StartNodeOptions } from './server.js';
export { parseNodeArgs, validateOptions, DEFAULT_NODE_OPTIONS, USAGE } from './config.js';
export { AddressInUseError, ConfigError, describeStartupError, ListenFailedError, StartupError } from './startup-errors.js';
export type { StartupErrorCode, StartupFailureCode } from './startup-errors.js';
export type { NodeOptions, PeerAddress } from './config.js';
export { createLogger } from './logger.js';
export type { Logger, LogLevel } from './logger.js';
export {
  KvError,
  NotLeaderError,
  NoLeaderError,
  TimeoutError,
  UnavailableError,
  UnknownOutcomeError,
  InvalidArgumentError,
  KeyTooLargeError,
  ValueTooLargeError,
  NotFoundError,
  ClusterMismatchError,
  NodeIdMismatchError,
  CorruptionError,
  ShuttingDownError,
  SessionSeqStaleError,
  TooManyRequestsError,
  UnknownMemberError,
  FailedPreconditionError,
  InternalError,
  toErrorDetail,
} from './errors.js';
export { ERROR_WIRE } from './api/error-wire.js';
export type { KvErrorCode } from './errors.js';
export { KvStateMachine } from './state-machine/kv-state-machine.js';
export { RaftStorage } from './storage/raft-storage.js';
export * as limits from './limits.js';
