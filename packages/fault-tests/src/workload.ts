/**
 * The client side of a real-fault run: clerks that issue operations one at a
 * time, all recording into one HistoryLog. Values are unique per operation
 * (`c<clerk>.<seq>`), which is what lets the checker tell every write apart.
 * Keys move to a fresh set every `keyEpochMs`, so each key's history stays
 * short and the check stays fast however long the run.
 */
import { Clerk, ClerkError } from '@cairn/clerk';
import type { HistoryLog, OutcomeCounts } from './history.js';

export type OpKind = 'get' | 'put' | 'append' | 'cas' | 'delete';

export interface WorkloadOptions {
  readonly endpoints: readonly string[];
  readonly clerks: number;
  readonly history: HistoryLog;
  /** Distinct keys live at a time. @default 8 */
  readonly keys?: number;
  /** Keys move to a fresh set this often. @default 10_000 */
  readonly keyEpochMs?: number;
  /** Cumulative weights of the mix. @default reads 40 %, put 20 %, append 20 %, cas 15 %, delete 5 % */
  readonly mix?: ReadonlyArray<readonly [OpKind, number]>;
  /** Each call's deadline, retries included. @default 10_000 */
  readonly deadlineMs?: number;
  /** Each attempt's timeout. @default 1_000 */
  readonly requestTimeoutMs?: number;
  /** Think time between one clerk's operations (bounds the history's size on long runs). @default 0 */
  readonly pauseMs?: number;
  /** Names the clerks `<prefix>-c<index>`. @default `w<pid>` */
  readonly clientPrefix?: string;
}

const DEFAULT_MIX: ReadonlyArray<readonly [OpKind, number]> = [
  ['get', 0.4],
  ['put', 0.6],
  ['append', 0.8],
  ['cas', 0.95],
  ['delete', 1],
];

/** One finished call, for assertions beyond the history (how long a failing call took). */
export interface CallRecord {
  readonly clerk: number;
  readonly op: OpKind;
  readonly key: string;
  readonly outcome: keyof OutcomeCounts;
  readonly code: string | undefined;
  readonly durationMs: number;
}

export class Workload {
  readonly totals: OutcomeCounts = { ok: 0, fail: 0, unknown: 0 };
  readonly calls: CallRecord[] = [];
  private readonly stopping = new AbortController();
  private readonly clerks: Clerk[] = [];
  private loops: Array<Promise<void>> = [];
  private readonly startedAt = performance.now();

  constructor(private readonly options: WorkloadOptions) {}

  start(): this {
    for (let index = 1; index <= this.options.clerks; index++) {
      const clerk = Clerk.lazy({
        endpoints: [...this.options.endpoints],
        clientId: `${this.options.clientPrefix ?? `w${process.pid}`}-c${index}`,
        history: this.options.history,
        deadlineMs: this.options.deadlineMs ?? 10_000,
        requestTimeoutMs: this.options.requestTimeoutMs ?? 1_000,
      });
      this.clerks.push(clerk);
      this.loops.push(this.runClerk(clerk, index));
    }
    return this;
  }

  /** Stops issuing operations, aborts those in flight (writes become unknown outcomes), closes the clerks. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.all(this.loops);
    this.loops = [];
    for (const clerk of this.clerks) clerk.close();
  }

  private async runClerk(clerk: Clerk, index: number): Promise<void> {
    const signal = this.stopping.signal;
    const lastSeen = new Map<string, string | undefined>();
    for (let seq = 1; !signal.aborted; seq++) {
      const key = this.pickKey();
      const op = this.pickOp();
      const started = performance.now();
      let outcome: keyof OutcomeCounts = 'ok';
      let code: string | undefined;
      try {
        await runOp(clerk, op, key, `c${index}.${seq}`, lastSeen, signal);
      } catch (error) {
        code = error instanceof ClerkError ? error.code : 'INTERNAL';
        outcome = code === 'UNKNOWN_OUTCOME' || (op !== 'get' && !(error instanceof ClerkError)) ? 'unknown' : 'fail';
      }
      this.totals[outcome]++;
      this.calls.push({ clerk: index, op, key, outcome, code, durationMs: performance.now() - started });
      // After a failure a fault is in force: do not spin while the cluster recovers.
      const pauseMs = outcome === 'ok' ? (this.options.pauseMs ?? 0) : Math.max(50, this.options.pauseMs ?? 0);
      if (pauseMs > 0 && !signal.aborted) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }

  private pickKey(): string {
    const epoch = Math.floor((performance.now() - this.startedAt) / (this.options.keyEpochMs ?? 10_000));
    return `w/e${epoch}/k${Math.floor(Math.random() * (this.options.keys ?? 8))}`;
  }

  private pickOp(): OpKind {
    const draw = Math.random();
    return (this.options.mix ?? DEFAULT_MIX).find(([, upTo]) => draw < upTo)?.[0] ?? 'get';
  }
}

async function runOp(
  clerk: Clerk,
  op: OpKind,
  key: string,
  value: string,
  lastSeen: Map<string, string | undefined>,
  signal: AbortSignal,
): Promise<void> {
  switch (op) {
    case 'get':
      lastSeen.set(key, (await clerk.get(key, { signal }))?.value.toString());
      return;
    case 'put':
      await clerk.put(key, value, { signal });
      return;
    case 'append':
      await clerk.append(key, `+${value}`, { signal });
      return;
    case 'cas': {
      const seen = lastSeen.get(key);
      await clerk.cas(key, seen === undefined ? { expectedVersion: 0 } : { expectedValue: seen }, value, { signal });
      return;
    }
    case 'delete':
      await clerk.delete(key, { signal });
      return;
  }
}
