/** The timing and counting wrapper every API call (gRPC unary, pipeline, HTTP) goes through. */
import type { Metrics } from '../metrics.js';
import { toKvError } from './grpc-errors.js';

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
