/** Turns any failure into a gRPC error carrying an ErrorDetail trailer (never a stack trace). */
import * as grpc from '@grpc/grpc-js';
import { ErrorDetail } from '@cairn/proto';
import { ERROR_DETAIL_TRAILER, ERROR_WIRE, InternalError, KvError, toErrorDetail } from '../errors.js';
import type { Logger } from '../logger.js';

export function toKvError(error: unknown, logger?: Logger): KvError {
  if (error instanceof KvError) return error;
  logger?.error('unexpected-error', { error });
  return new InternalError('internal error (see the node log)');
}

export function toServiceError(error: unknown, logger?: Logger): grpc.ServiceError {
  const kvError = toKvError(error, logger);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_DETAIL_TRAILER, Buffer.from(ErrorDetail.encode(toErrorDetail(kvError)).finish()));
  return Object.assign(new Error(kvError.message), {
    code: ERROR_WIRE[kvError.code].grpc,
    details: `${kvError.code}: ${kvError.message}`,
    metadata,
  });
}

/** Wraps an async unary handler: resolve → callback(null, value), throw → a mapped error. */
export function unary<Req, Res>(handler: (request: Req) => Promise<Res>, logger: Logger): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    handler(call.request).then(
      (value) => callback(null, value),
      (error: unknown) => callback(toServiceError(error, logger)),
    );
  };
}
