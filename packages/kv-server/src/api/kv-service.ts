/** gRPC KVService: thin mapping onto KvApi; errors carry an ErrorDetail trailer. */
import type { KVServiceServer } from '@cairn/proto';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { toKvError, unary } from './grpc-errors.js';
import type { KvApi } from './kv-api.js';

export function kvService(api: KvApi, logger: Logger, metrics: Metrics): KVServiceServer {
  // Counts and times every call by operation and outcome code.
  const measured = <Req, Res>(op: string, handler: (request: Req) => Promise<Res>) =>
    unary(async (request: Req) => {
      const started = process.hrtime.bigint();
      try {
        const result = await handler(request);
        metrics.requests.inc({ op, code: 'OK' });
        return result;
      } catch (error) {
        metrics.requests.inc({ op, code: toKvError(error).code });
        throw error;
      } finally {
        metrics.requestSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9, { op });
      }
    }, logger);
  return {
    put: measured('put', (r) => api.put(r)),
    get: measured('get', (r) => api.get(r)),
    append: measured('append', (r) => api.append(r)),
    delete: measured('delete', (r) => api.delete(r)),
    cas: measured('cas', (r) => api.cas(r)),
    range: measured('range', (r) => api.range(r)),
  };
}
