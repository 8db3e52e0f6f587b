/**
 * The gRPC and HTTP status a failed call answers with, per error code: the
 * API codes as @cairn/proto's API_ERROR_TABLE says (with their retry rules),
 * plus the server's own codes, which no client knows.
 */
import { status } from '@grpc/grpc-js';
import { API_ERROR_CODES, API_ERROR_TABLE, type ApiErrorCode } from '@cairn/proto';
import type { KvErrorCode } from '../errors.js';

export interface ErrorWire {
  grpc: status;
  http: number;
}

const LOCAL_ERROR_WIRE: Record<Exclude<KvErrorCode, ApiErrorCode>, ErrorWire> = {
  CLUSTER_MISMATCH: { grpc: status.FAILED_PRECONDITION, http: 409 },
  NODE_ID_MISMATCH: { grpc: status.FAILED_PRECONDITION, http: 409 },
  CORRUPTION: { grpc: status.DATA_LOSS, http: 500 },
  DATA_DIR_LOCKED: { grpc: status.FAILED_PRECONDITION, http: 409 },
  DISK_FULL: { grpc: status.RESOURCE_EXHAUSTED, http: 507 },
  PERMISSION_DENIED: { grpc: status.PERMISSION_DENIED, http: 403 },
};

function apiWire(code: ApiErrorCode): ErrorWire {
  const { grpc, http } = API_ERROR_TABLE[code];
  return { grpc, http };
}

export const ERROR_WIRE: Readonly<Record<KvErrorCode, ErrorWire>> = {
  ...(Object.fromEntries(API_ERROR_CODES.map((code) => [code, apiWire(code)])) as Record<ApiErrorCode, ErrorWire>),
  ...LOCAL_ERROR_WIRE,
};

/** Whether `code` is one this server defines. */
export function isKvErrorCode(code: string): code is KvErrorCode {
  return Object.hasOwn(ERROR_WIRE, code);
}
