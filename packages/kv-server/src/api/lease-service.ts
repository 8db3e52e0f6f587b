/**
 * gRPC LeaseService: a mapping onto LeaseApi, plus the LeaseKeepAlive bidi
 * stream (one per client, any number of lease ids). Each keep-alive is
 * answered with the renewed TTL, or 0 for a lease that does not exist or has
 * expired. On a node that does not lead, the stream ends with NOT_LEADER
 * (or NO_LEADER) in the error trailer, as a unary call would: the client
 * reopens it on the leader.
 */
import type * as grpc from '@grpc/grpc-js';
import type { LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseServiceServer } from '@cairn/proto';
import type { ClusterIdentity } from '../cluster-identity.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { toKvError, toServiceError, unary } from './grpc-errors.js';
import type { LeaseApi } from './lease-api.js';

type KeepAliveCall = grpc.ServerDuplexStream<LeaseKeepAliveRequest, LeaseKeepAliveResponse>;

export function leaseService(api: LeaseApi, logger: Logger, metrics: Metrics, cluster?: ClusterIdentity): LeaseServiceServer {
  const call = <Req, Res>(op: string, handler: (request: Req) => Promise<Res>) => unary(handler, logger, cluster, metrics.requestMeter(op));
  return {
    leaseGrant: call('lease_grant', (r) => api.grant(r)),
    leaseRevoke: call('lease_revoke', (r) => api.revoke(r)),
    leaseTimeToLive: call('lease_time_to_live', (r) => api.timeToLive(r)),
    leaseLeases: call('lease_leases', () => api.list()),
    leaseKeepAlive: (stream) => keepAliveStream(stream, api, logger, metrics, cluster),
  };
}

function keepAliveStream(stream: KeepAliveCall, api: LeaseApi, logger: Logger, metrics: Metrics, cluster?: ClusterIdentity): void {
  const meter = metrics.requestMeter('lease_keepalive');
  let ended = false;
  let pending = 0;
  let clientDone = false;
  const metadata = cluster?.grpcMetadata;
  if (metadata !== undefined) stream.sendMetadata(metadata);
  const finish = (): void => {
    if (ended) return;
    ended = true;
    stream.end();
  };
  const fail = (error: unknown): void => {
    if (ended) return;
    ended = true;
    // grpc-js ends a server stream with the status, details and trailers of an emitted error.
    stream.emit('error', toServiceError(error, logger, cluster?.id));
  };
  stream.on('data', (request: LeaseKeepAliveRequest) => {
    if (ended) return;
    const started = performance.now();
    pending += 1;
    api.keepAlive(request.id).then(
      (response) => {
        pending -= 1;
        meter.record('OK', (performance.now() - started) / 1e3);
        if (ended) return;
        // A client that does not read its answers stops being read, so they cannot pile up here.
        if (!stream.write(response)) {
          stream.pause();
          stream.once('drain', () => stream.resume());
        }
        if (clientDone && pending === 0) finish();
      },
      (error: unknown) => {
        pending -= 1;
        meter.record(toKvError(error).code, (performance.now() - started) / 1e3);
        fail(error);
      },
    );
  });
  stream.on('end', () => {
    clientDone = true;
    if (pending === 0) finish();
  });
  stream.on('cancelled', () => (ended = true));
  stream.on('error', () => (ended = true));
}
