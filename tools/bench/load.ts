/**
 * The closed-loop load generator: N workers, each awaits its operation before
 * issuing the next. One run ("level") = warm-up, then a measured window; only
 * operations that complete inside the window count, so ops/s is completions
 * per second of the window. Latency is measured around the client call
 * (Clerk call or grpc-js unary call), in this one process.
 */
import { performance } from 'node:perf_hooks';
import { LatencyRecorder, type LatencySummaryMs } from './latency.js';
import { sleep } from './processes.js';
import { errorCode, type KvTarget, type Protocol, type SystemName } from './target.js';

/** Pause after a failed operation, so a dead cluster does not turn the loop into a busy spin. */
const ERROR_PAUSE_MS = 10;

export const WORKLOADS = {
  /** Puts only. */
  put: { readRatio: 0 },
  /** 90% linearizable gets, 10% puts. */
  mix: { readRatio: 0.9 },
} as const;
export type WorkloadName = keyof typeof WORKLOADS;

export function isWorkloadName(name: string): name is WorkloadName {
  return Object.hasOwn(WORKLOADS, name);
}

export interface KeySpace {
  readonly keys: readonly Buffer[];
  readonly value: Buffer;
}

/** The key of index `index` under `prefix`: fixed width, so keys sort by index. */
export function keyName(prefix: string, index: number): Buffer {
  return Buffer.from(`${prefix}${String(index).padStart(9, '0')}`);
}

export const BENCH_KEY_PREFIX = 'bench/';

/** `keyCount` keys `bench/000000000…` and one value of `valueBytes` printable bytes, shared by every put. */
export function makeKeySpace(keyCount: number, valueBytes: number): KeySpace {
  const keys = Array.from({ length: keyCount }, (_, i) => keyName(BENCH_KEY_PREFIX, i));
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const value = Buffer.from(Array.from({ length: valueBytes }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join(''));
  return { keys, value };
}

export interface LevelOptions {
  readonly workload: WorkloadName;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly keySpace: KeySpace;
  /** Aborting stops issuing operations; those in flight finish. */
  readonly signal: AbortSignal;
  /** Called when the measured window opens and when it closes (for CPU readings over exactly the window). */
  readonly window?: WindowHooks;
}

export interface WindowHooks {
  onStart(): void;
  onEnd(): void;
}

export interface LevelResult {
  readonly system: SystemName;
  readonly protocol: Protocol;
  readonly workload: WorkloadName;
  readonly concurrency: number;
  /** The measured window: `--duration`, or shorter when interrupted. */
  readonly durationMs: number;
  /** Ctrl-C cut the window short. */
  readonly interrupted: boolean;
  /** Successful operations completed inside the measured window. */
  readonly ops: number;
  readonly reads: number;
  readonly writes: number;
  readonly opsPerSec: number;
  readonly latencyMs: LatencySummaryMs;
  readonly errors: number;
  readonly errorsByCode: Record<string, number>;
}

export async function runLevel(target: KvTarget, options: LevelOptions): Promise<LevelResult> {
  const { keys, value } = options.keySpace;
  const readRatio = WORKLOADS[options.workload].readRatio;
  const latencies = new LatencyRecorder();
  const errorsByCode: Record<string, number> = {};
  let reads = 0;
  let writes = 0;
  let errors = 0;
  const { measureFrom, measureUntil, close: closeWindow } = openWindow(options);

  const work = async (worker: number): Promise<void> => {
    while (!options.signal.aborted && performance.now() < measureUntil) {
      const isRead = Math.random() < readRatio;
      const key = keys[Math.floor(Math.random() * keys.length)]!;
      const started = performance.now();
      let failure: string | undefined;
      try {
        if (isRead) await target.get(worker, key);
        else await target.put(worker, key, value);
      } catch (error) {
        failure = errorCode(error);
      }
      const ended = performance.now();
      const counted = ended >= measureFrom && ended <= measureUntil;
      if (failure !== undefined) {
        if (counted) {
          errors += 1;
          errorsByCode[failure] = (errorsByCode[failure] ?? 0) + 1;
        }
        await sleep(ERROR_PAUSE_MS);
      } else if (counted) {
        latencies.record(ended - started);
        if (isRead) reads += 1;
        else writes += 1;
      }
    }
  };
  let abortedAt: number | undefined;
  const onAbort = (): void => void (abortedAt = performance.now());
  options.signal.addEventListener('abort', onAbort, { once: true });
  await Promise.all(Array.from({ length: options.concurrency }, (_, worker) => work(worker)));
  options.signal.removeEventListener('abort', onAbort);
  closeWindow();
  return levelResult(target, options, { reads, writes, errors, errorsByCode, latencies }, measureFrom, measureUntil, abortedAt);
}

/** Times the window's hooks; `close()` ends the window early (Ctrl-C) and cancels what did not fire. */
export function openWindow(options: Pick<LevelOptions, 'warmupMs' | 'durationMs' | 'window'>): {
  measureFrom: number;
  measureUntil: number;
  close: () => void;
} {
  const measureFrom = performance.now() + options.warmupMs;
  const measureUntil = measureFrom + options.durationMs;
  let started = false;
  let ended = false;
  const start = (): void => {
    started = true;
    options.window?.onStart();
  };
  const end = (): void => {
    if (ended) return;
    ended = true;
    if (!started) start();
    options.window?.onEnd();
  };
  const startTimer = setTimeout(start, options.warmupMs);
  const endTimer = setTimeout(end, options.warmupMs + options.durationMs);
  return {
    measureFrom,
    measureUntil,
    close: () => {
      clearTimeout(startTimer);
      clearTimeout(endTimer);
      end();
    },
  };
}

export interface LevelCounts {
  readonly reads: number;
  readonly writes: number;
  readonly errors: number;
  readonly errorsByCode: Record<string, number>;
  readonly latencies: LatencyRecorder;
}

export function levelResult(
  target: { system: SystemName; protocol: Protocol },
  options: Pick<LevelOptions, 'workload' | 'concurrency'>,
  counts: LevelCounts,
  measureFrom: number,
  measureUntil: number,
  abortedAt: number | undefined,
): LevelResult {
  const { reads, writes, errors, errorsByCode, latencies } = counts;
  const windowEnd = Math.min(measureUntil, abortedAt ?? measureUntil);
  const durationMs = Math.max(0, windowEnd - measureFrom);
  const ops = reads + writes;
  return {
    system: target.system,
    protocol: target.protocol,
    workload: options.workload,
    concurrency: options.concurrency,
    durationMs,
    interrupted: abortedAt !== undefined && abortedAt < measureUntil,
    ops,
    reads,
    writes,
    opsPerSec: durationMs > 0 ? ops / (durationMs / 1000) : 0,
    latencyMs: latencies.summary(),
    errors,
    errorsByCode,
  };
}

export interface FillOptions {
  /** Keys `prefix000…` numbered from `fromIndex` (inclusive) to `toIndex` (exclusive). */
  readonly prefix: string;
  readonly fromIndex: number;
  readonly toIndex: number;
  readonly concurrency: number;
  readonly value: Buffer;
  readonly signal: AbortSignal;
  /** Called after each key is written. */
  readonly onKeyWritten?: () => void;
  /** Failed puts are retried; more than this many failures in a row aborts the fill. */
  readonly consecutiveErrorsMax?: number;
}

/** Writes distinct keys with `concurrency` closed-loop workers; throws if the cluster keeps failing. */
export async function fillKeys(target: KvTarget, options: FillOptions): Promise<void> {
  const consecutiveErrorsMax = options.consecutiveErrorsMax ?? 100;
  let next = options.fromIndex;
  let consecutiveErrors = 0;
  let lastError = '';
  const givenUp = (): boolean => options.signal.aborted || consecutiveErrors > consecutiveErrorsMax;
  const work = async (worker: number): Promise<void> => {
    while (next < options.toIndex && !givenUp()) {
      const key = keyName(options.prefix, next++);
      // Retry the same key until it is written, so the count of keys is exact.
      for (let written = false; !written && !givenUp();) {
        try {
          await target.put(worker, key, options.value);
          written = true;
          consecutiveErrors = 0;
          options.onKeyWritten?.();
        } catch (error) {
          consecutiveErrors += 1;
          lastError = errorCode(error);
          await sleep(ERROR_PAUSE_MS);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, worker) => work(worker)));
  if (consecutiveErrors > consecutiveErrorsMax)
    throw new Error(`loading keys failed ${consecutiveErrors} times in a row (last: ${lastError})`);
}
