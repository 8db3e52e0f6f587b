/** The timing and counting wrapper every API call (gRPC unary, pipeline, HTTP) goes through. */
import type { Metrics } from '../metrics.js';
import { toKvError } from './grpc-errors.js';

/** Runs one operation, counting and timing it by operation and outcome code. */
export type MeasuredCall = <Res>(op: string, handler: () => Promise<Res>) => Promise<Res>;

/**
 * One promise reaction per call, the op's label sets built once and no bigint
 * clock: this runs on every API call. (Unary gRPC calls are measured inside
 * their reply instead: grpc-errors.ts `unary`.)
 */
export function measuredCall(metrics: Metrics): MeasuredCall {
  return (op, handler) => {
    const meter = metrics.requestMeter(op);
    const started = performance.now();
    let pending;
    try {
      pending = handler();
    } catch (error) {
      pending = Promise.reject(error as Error);
    }
    return pending.then(
      (result) => {
        meter.record('OK', (performance.now() - started) / 1e3);
        return result;
      },
      (error: unknown) => {
        meter.record(toKvError(error).code, (performance.now() - started) / 1e3);
        throw error;
      },
    );
  };
}
