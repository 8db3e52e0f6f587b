/**
 * Generated protobuf types and gRPC service definitions shared by every Cairn
 * package. The code under `gen/` is produced by `npm run gen:proto` from the
 * repository's `proto/` directory; never edit it by hand.
 */
export * from './gen/cairn/raft/v1/raft.js';
export * from './gen/cairn/raft/v1/transport.js';
export * from './gen/cairn/kv/v1/kv.js';
export * from './gen/cairn/kv/v1/cluster.js';
// Every generated file defines these helpers; name one copy explicitly so the
// star exports above are unambiguous.
export type { DeepPartial, MessageFns } from './gen/cairn/raft/v1/raft.js';
export { protobufFileName, protobufPackage } from './gen/cairn/raft/v1/raft.js';
export { API_ERROR_CODES, type ApiErrorCode } from './error-codes.js';
export { AssertionError, assert, assertNever } from './assert.js';
export { API_ERROR_TABLE, type ApiErrorRule, ERROR_TRAILER, type RetryRule } from './error-table.js';
export { CLUSTER_ID_HEADER } from './cluster-id.js';
export { encodeToBuffer } from './encode.js';
export { CLIENT_LINK_MAGIC, encodeFrame, encodeMessageFrame, FrameReader, FrameTooLargeError, MessageReader } from './frames.js';
export { type AcceptOptions, type DialOptions, FramedLink, type FramedLinkOptions, type LinkClosed } from './framed-link.js';
export type {
  HistoryOp,
  HistoryRecord,
  HistoryRecordType,
  HistoryKeyMeta,
  HistoryKv,
  HistoryCompare,
  HistoryTxn,
  HistoryTxnOp,
  HistoryTxnOpResult,
  HistoryTxnResult,
} from './history-format.js';
