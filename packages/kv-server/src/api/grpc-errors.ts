/** Turns any failure into a gRPC error carrying an ErrorDetail trailer (never a stack trace). */
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_ID_HEADER, ERROR_TRAILER, ErrorDetail } from '@cairn/proto';
import type { ClusterIdentity } from '../cluster-identity.js';
import { InternalError, KvError, toErrorDetail } from '../errors.js';
import { ERROR_WIRE } from './error-wire.js';
import type { Logger } from '../logger.js';
import type { RequestMeter } from '../metrics.js';

export function toKvError(error: unknown, logger?: Logger): KvError {
  if (error instanceof KvError) return error;
  logger?.error('unexpected-error', { error });
  return new InternalError('internal error (see the node log)');
}

/** `clusterId`: named in the trailers too, so a client checks the cluster of a failed call (a redirect) as well. */
export function toServiceError(error: unknown, logger?: Logger, clusterId?: string): grpc.ServiceError {
  const kvError = toKvError(error, logger);
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_TRAILER, Buffer.from(ErrorDetail.encode(toErrorDetail(kvError)).finish()));
  if (clusterId !== undefined) metadata.set(CLUSTER_ID_HEADER, clusterId);
  return Object.assign(new Error(kvError.message), {
    code: ERROR_WIRE[kvError.code].grpc,
    details: `${kvError.code}: ${kvError.message}`,
    metadata,
  });
}

/**
 * Wraps an async unary handler: resolve → callback(null, value), throw → a
 * mapped error. With `cluster`, every answer names the node's cluster: the
 * response headers (its one pre-built Metadata) or the error's trailers. With
 * `meter`, the call is counted and timed in the same promise reaction that
 * answers it (no wrapper promise per call).
 */
export function unary<Req, Res>(
  handler: (request: Req) => Promise<Res>,
  logger: Logger,
  cluster?: ClusterIdentity,
  meter?: RequestMeter,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = meter === undefined ? 0 : performance.now();
    let pending: Promise<Res>;
    try {
      pending = handler(call.request);
    } catch (error) {
      pending = Promise.reject(error as Error);
    }
    pending.then(
      (value) => {
        meter?.record('OK', (performance.now() - started) / 1e3);
        const metadata = cluster?.grpcMetadata;
        if (metadata !== undefined) call.sendMetadata(metadata);
        callback(null, value);
      },
      (error: unknown) => {
        const kvError = toKvError(error, logger);
        meter?.record(kvError.code, (performance.now() - started) / 1e3);
        callback(toServiceError(kvError, logger, cluster?.id));
      },
    );
  };
}
