/**
 * The client workload: several clerks, each issuing one operation at a time
 * (get, put, append, cas, delete) on a small set of keys, all recording the
 * same history. Keys move to a fresh set every KEY_EPOCH_MS so each key's
 * history stays short and the linearizability check stays fast however long
 * the demo runs.
 */
import { Clerk, type HistoryRecorder } from '@cairn/clerk';
import { type ActionLog, errorCode, formatMs } from './action-log.js';

const KEY_EPOCH_MS = 10_000;
/** One call's budget: long enough to ride out an election, short enough to stop promptly. */
const CALL_DEADLINE_MS = 4_000;
const REQUEST_TIMEOUT_MS = 1_000;

export interface WorkloadOptions {
  readonly endpoints: readonly string[];
  readonly clerks: number;
  readonly keys: number;
  readonly verbose: boolean;
  readonly history: HistoryRecorder;
}

export interface OutcomeCounts {
  ok: number;
  /** Certainly not applied (a read that failed, a write refused). */
  fail: number;
  /** A write whose outcome is unknown. */
  unknown: number;
}

type OpKind = 'get' | 'put' | 'append' | 'cas' | 'delete';
/** Cumulative weights of the operation mix: reads 40 %, put 20 %, append 20 %, cas 15 %, delete 5 %. */
const OP_MIX: ReadonlyArray<readonly [OpKind, number]> = [
  ['get', 0.4],
  ['put', 0.6],
  ['append', 0.8],
  ['cas', 0.95],
  ['delete', 1],
];

export class Workload {
  readonly totals: OutcomeCounts = { ok: 0, fail: 0, unknown: 0 };
  private window: OutcomeCounts & { latenciesMs: number[]; since: number } = {
    ok: 0,
    fail: 0,
    unknown: 0,
    latenciesMs: [],
    since: performance.now(),
  };
  private readonly stopping = new AbortController();
  private readonly clerks: Clerk[] = [];
  private loops: Array<Promise<void>> = [];

  constructor(
    private readonly options: WorkloadOptions,
    private readonly log: ActionLog,
  ) {}

  start(): void {
    for (let index = 1; index <= this.options.clerks; index++) {
      const clerk = Clerk.lazy({
        endpoints: [...this.options.endpoints],
        clientId: `demo-c${index}-${process.pid}`,
        history: this.options.history,
        deadlineMs: CALL_DEADLINE_MS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
      });
      this.clerks.push(clerk);
      this.loops.push(this.runClerk(clerk, index));
    }
  }

  /** Stops issuing operations, aborts those in flight (writes become unknown outcomes) and closes the clerks. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.loops);
    this.loops = [];
    for (const clerk of this.clerks) clerk.close();
  }

  /** Counts and latencies since the previous call, as one log line. */
  takeSummary(): string {
    const { ok, fail, unknown, latenciesMs, since } = this.window;
    this.window = { ok: 0, fail: 0, unknown: 0, latenciesMs: [], since: performance.now() };
    const seconds = (performance.now() - since) / 1000;
    const total = ok + fail + unknown;
    const sorted = latenciesMs.sort((a, b) => a - b);
    const at = (q: number): string =>
      sorted.length === 0 ? '-' : formatMs(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    return `workload ${total} ops in ${seconds.toFixed(1)} s (${Math.round(total / Math.max(seconds, 0.001))}/s): ok ${ok}, failed ${fail}, unknown ${unknown}; latency p50 ${at(0.5)} p99 ${at(0.99)} max ${at(1)}`;
  }

  private async runClerk(clerk: Clerk, index: number): Promise<void> {
    const signal = this.stopping.signal;
    const lastSeen = new Map<string, string | undefined>();
    for (let seq = 1; !signal.aborted; seq++) {
      const key = this.pickKey();
      const kind = pickOp();
      const value = `c${index}.${seq}`;
      const started = performance.now();
      let outcome: keyof OutcomeCounts = 'ok';
      let detail = '';
      try {
        detail = await this.runOp(clerk, kind, key, value, lastSeen, signal);
      } catch (error) {
        const code = errorCode(error);
        outcome = code === 'UNKNOWN_OUTCOME' ? 'unknown' : 'fail';
        detail = code;
        // Failures are usually a leader change or an injected fault; pause so a
        // clerk does not spin while the cluster recovers.
        if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const latencyMs = performance.now() - started;
      this.count(outcome, latencyMs);
      if (this.options.verbose) this.log.note(`c${index} ${kind} ${key} ${outcome} ${detail} ${formatMs(latencyMs)}`);
    }
  }

  private async runOp(
    clerk: Clerk,
    kind: OpKind,
    key: string,
    value: string,
    lastSeen: Map<string, string | undefined>,
    signal: AbortSignal,
  ): Promise<string> {
    switch (kind) {
      case 'get': {
        const kv = await clerk.get(key, { signal });
        lastSeen.set(key, kv?.value.toString());
        return kv === undefined ? '(absent)' : `= ${abbreviate(kv.value.toString())}`;
      }
      case 'put':
        return `v${(await clerk.put(key, value, { signal })).version}`;
      case 'append':
        return `v${(await clerk.append(key, `+${value}`, { signal })).version}`;
      case 'cas': {
        const seen = lastSeen.get(key);
        const expectation = seen === undefined ? { expectedVersion: 0 } : { expectedValue: seen };
        const result = await clerk.cas(key, expectation, value, { signal });
        return result.succeeded ? 'swapped' : 'mismatch';
      }
      case 'delete':
        return (await clerk.delete(key, { signal })).deleted ? 'deleted' : 'absent';
    }
  }

  private pickKey(): string {
    const epoch = Math.floor((this.log.elapsedS() * 1000) / KEY_EPOCH_MS);
    return `demo/e${epoch}/k${Math.floor(Math.random() * this.options.keys)}`;
  }

  private count(outcome: keyof OutcomeCounts, latencyMs: number): void {
    this.totals[outcome] += 1;
    this.window[outcome] += 1;
    this.window.latenciesMs.push(latencyMs);
  }
}

function pickOp(): OpKind {
  const draw = Math.random();
  return OP_MIX.find(([, upTo]) => draw < upTo)?.[0] ?? 'get';
}

function abbreviate(text: string): string {
  return text.length <= 24 ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, 12))}…(${text.length} bytes)`;
}
