/**
 * The node's Prometheus metrics, on prom-client: request counters and
 * latencies, gauges read at scrape time, and the process's default metrics
 * (CPU, memory, heap, event-loop lag, GC, file descriptors).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

let processRegistry: Registry | undefined;

/**
 * The process's default metrics, collected once per process: several nodes
 * can run in one process (tests), and each would otherwise start its own
 * event-loop and GC monitors that outlive it.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

export type GaugeSeries = ReadonlyArray<{ labels: Record<string, string>; value: number }>;

/** One operation's request counter and latency histogram, with its label sets built once (every call records through it). */
export interface RequestMeter {
  /** The call finished with `code` ('OK' or an error code) after `seconds`. */
  record(code: string, seconds: number): void;
}

/** One node's metrics: its own registry, so nodes in one process do not share counters. */
export class Metrics {
  private readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'cairn_requests_total',
    help: 'Client requests by operation and outcome code.',
    labelNames: ['op', 'code'] as const,
    registers: [this.registry],
  });
  readonly requestSeconds = new Histogram({
    name: 'cairn_request_duration_seconds',
    help: 'Client request latency by operation.',
    labelNames: ['op'] as const,
    buckets: LATENCY_BUCKETS_S,
    registers: [this.registry],
  });

  private readonly meters = new Map<string, RequestMeter>();

  constructor() {
    processMetrics();
  }

  /** The meter of `op` (one per op, kept: ops are a fixed set). */
  requestMeter(op: string): RequestMeter {
    let meter = this.meters.get(op);
    if (meter === undefined) {
      const { requests, requestSeconds } = this;
      const timed = { op };
      const ok = { op, code: 'OK' };
      const failed = new Map<string, { op: string; code: string }>();
      meter = {
        record(code, seconds) {
          let labels = code === 'OK' ? ok : failed.get(code);
          if (labels === undefined) failed.set(code, (labels = { op, code }));
          requests.inc(labels);
          requestSeconds.observe(timed, seconds);
        },
      };
      this.meters.set(op, meter);
    }
    return meter;
  }

  /** The Content-Type of render()'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** A gauge read at scrape time. */
  gauge(name: string, help: string, read: () => number): void {
    const gauge: Gauge = new Gauge({ name, help, registers: [this.registry], collect: () => gauge.set(read()) });
  }

  /** A counter whose running total is kept elsewhere and read at scrape time. */
  counterFrom(name: string, help: string, read: () => number): void {
    const counter: Counter = new Counter({
      name,
      help,
      registers: [this.registry],
      collect: () => {
        counter.reset();
        counter.inc(read());
      },
    });
  }

  /** A gauge with one series per label set (e.g. one per peer), all read at scrape time; series not read are dropped. */
  labelledGauge(name: string, help: string, labelNames: readonly string[], read: () => GaugeSeries): void {
    const gauge: Gauge = new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: () => {
        gauge.reset();
        for (const { labels, value } of read()) gauge.set(labels, value);
      },
    });
  }

  /** The node's metrics and the process's, in the Prometheus text format. */
  render(): Promise<string> {
    return Registry.merge([this.registry, processMetrics()]).metrics();
  }
}
