/** gRPC KVService: thin mapping onto KvApi; errors carry an ErrorDetail trailer. */
import type { KVServiceServer } from '@cairn/proto';
import type { ClusterIdentity } from '../cluster-identity.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { toKvError, unary } from './grpc-errors.js';
import type { KvApi } from './kv-api.js';
import { PipelineStreams } from './pipeline-service.js';

/** Runs one operation, counting and timing it by operation and outcome code. */
export type MeasuredCall = <Res>(op: string, handler: () => Promise<Res>) => Promise<Res>;

export function measuredCall(metrics: Metrics): MeasuredCall {
  return async (op, handler) => {
    const started = process.hrtime.bigint();
    try {
      const result = await handler();
      metrics.requests.inc({ op, code: 'OK' });
      return result;
    } catch (error) {
      metrics.requests.inc({ op, code: toKvError(error).code });
      throw error;
    } finally {
      metrics.requestSeconds.observe({ op }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
}

/** The service plus the registry of its pipeline streams (ended when the node stops). */
/** `cluster`: every answer names it (response headers, error trailers, a pipeline's first message). */
export function kvService(api: KvApi, logger: Logger, metrics: Metrics, cluster?: ClusterIdentity): { service: KVServiceServer; pipelines: PipelineStreams } {
  const measured = measuredCall(metrics);
  const call = <Req, Res>(op: string, handler: (request: Req) => Promise<Res>) =>
    unary((request: Req) => measured(op, () => handler(request)), logger, cluster);
  const pipelines = new PipelineStreams(api, measured, logger, cluster);
  const service: KVServiceServer = {
    put: call('put', (r) => api.put(r)),
    get: call('get', (r) => api.get(r)),
    append: call('append', (r) => api.append(r)),
    delete: call('delete', (r) => api.delete(r)),
    cas: call('cas', (r) => api.cas(r)),
    range: call('range', (r) => api.range(r)),
    pipeline: pipelines.handler,
  };
  return { service, pipelines };
}
