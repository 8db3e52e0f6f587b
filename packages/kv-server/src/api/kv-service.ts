/** gRPC KVService: thin mapping onto KvApi; errors carry an ErrorDetail trailer. */
import type { KVServiceServer } from '@cairn/proto';
import type { ClusterIdentity } from '../cluster-identity.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { measuredCall } from './measured-call.js';
import { unary } from './grpc-errors.js';
import type { KvApi } from './kv-api.js';
import type { LeaseApi } from './lease-api.js';
import { PipelineStreams } from './pipeline-service.js';

/** The service plus the registry of its pipeline streams (ended when the node stops). */
/** `cluster`: every answer names it (response headers, error trailers, a pipeline's first message). */
export function kvService(
  api: KvApi,
  logger: Logger,
  metrics: Metrics,
  cluster?: ClusterIdentity,
  /** Serves the pipeline's lease ops (without it they are refused). */
  leases?: LeaseApi,
): { service: KVServiceServer; pipelines: PipelineStreams } {
  const measured = measuredCall(metrics);
  // Measured as the pipeline and HTTP calls are (same counters), inside the reply's one promise reaction.
  const call = <Req, Res>(op: string, handler: (request: Req) => Promise<Res>) => unary(handler, logger, cluster, metrics.requestMeter(op));
  const pipelines = new PipelineStreams(api, measured, logger, cluster, leases);
  const service: KVServiceServer = {
    put: call('put', (r) => api.put(r)),
    get: call('get', (r) => api.get(r)),
    append: call('append', (r) => api.append(r)),
    delete: call('delete', (r) => api.delete(r)),
    cas: call('cas', (r) => api.cas(r)),
    range: call('range', (r) => api.range(r)),
    txn: call('txn', (r) => api.txn(r)),
    compact: call('compact', (r) => api.compact(r)),
    pipeline: pipelines.handler,
  };
  return { service, pipelines };
}
