/**
 * The `http` protocol's levels: autocannon (a standard HTTP/1.1 load tool from
 * npm, run in this process) with N keep-alive connections, each sending its
 * next request when the previous answer arrives, like the closed-loop workers
 * of load.ts. Each request draws its key and (for `mix`) get or put at random.
 * The window is the same as load.ts's: only answers that arrive inside it
 * count; latency is autocannon's own per-response time (request written to
 * response complete), kept exactly here rather than in its 1 ms histogram.
 */
import { performance } from 'node:perf_hooks';
import autocannon, { type AutocannonRequest } from 'autocannon';
import { LatencyRecorder } from './latency.js';
import { levelResult, openWindow, WORKLOADS, type LevelOptions, type LevelResult } from './load.js';
import type { HttpTarget } from './target.js';

/** Seconds without an answer before autocannon counts a request as timed out (its default is 10). */
const REQUEST_TIMEOUT_S = 30;

export async function runHttpLevel(target: HttpTarget, options: LevelOptions): Promise<LevelResult> {
  const { keys, value } = options.keySpace;
  const readRatio = WORKLOADS[options.workload].readRatio;
  const latencies = new LatencyRecorder();
  const errorsByCode: Record<string, number> = {};
  let reads = 0;
  let writes = 0;
  let errors = 0;
  const { measureFrom, measureUntil, close: closeWindow } = openWindow(options);
  const inWindow = (now: number): boolean => now >= measureFrom && now <= measureUntil;
  const countError = (code: string): void => {
    if (!inWindow(performance.now())) return;
    errors += 1;
    errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
  };

  // onResponse (with the connection's context) runs just before the 'response' event of the same answer.
  let answeredRead = false;
  const request: AutocannonRequest = {
    setupRequest: (_defaults, context) => {
      const isRead = Math.random() < readRatio;
      context.isRead = isRead;
      const key = keys[Math.floor(Math.random() * keys.length)]!;
      const spec = isRead ? target.get(key) : target.put(key, value);
      return { method: spec.method, path: spec.path, headers: { ...spec.headers }, body: spec.body ?? Buffer.alloc(0) };
    },
    onResponse: (_status, _body, context) => void (answeredRead = context.isRead === true),
  };
  let abortedAt: number | undefined;
  await new Promise<void>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        connections: options.concurrency,
        duration: (options.warmupMs + options.durationMs) / 1000,
        timeout: REQUEST_TIMEOUT_S,
        requests: [request],
      },
      (error) => {
        options.signal.removeEventListener('abort', onAbort);
        if (error === null) resolve();
        else reject(error);
      },
    );
    const onAbort = (): void => {
      abortedAt = performance.now();
      instance.stop();
    };
    options.signal.addEventListener('abort', onAbort, { once: true });
    instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
      if (statusCode < 200 || statusCode > 299) return countError(`HTTP_${statusCode}`);
      if (!inWindow(performance.now())) return;
      latencies.record(responseTimeMs);
      if (answeredRead) reads += 1;
      else writes += 1;
    });
    instance.on('reqError', (error) => countError(error.message === 'request timed out' ? 'TIMEOUT' : (error.code ?? error.name)));
  });
  closeWindow();
  return levelResult(
    { system: target.system, protocol: 'http' },
    options,
    { reads, writes, errors, errorsByCode, latencies },
    measureFrom,
    measureUntil,
    abortedAt,
  );
}
