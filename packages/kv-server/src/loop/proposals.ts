/**
 * Requests waiting on the raft log: proposals keyed by log index (resolved
 * when that index is applied with the term it was proposed in) and linearizable
 * reads waiting for a ReadIndex confirmation and then for the apply point.
 * Every waiter has a deadline; nothing waits forever.
 */
import { setTimeout as delay } from 'node:timers';

export interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

interface PendingProposal<T> extends Waiter<T> {
  term: number;
  /** performance.now() past which it fails with the timeout error. */
  deadline: number;
}

/**
 * Every proposal gets the same timeout, so the map's insertion order is
 * deadline order: one timer, armed for the oldest proposal, serves them all,
 * so a write costs no timer-list insert and removal of its own.
 */
export class ProposalTracker<T> {
  private readonly byIndex = new Map<number, PendingProposal<T>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutError: () => Error,
    private readonly timeoutMs: number,
  ) {}

  get size(): number {
    return this.byIndex.size;
  }

  add(index: number, term: number, waiter: Waiter<T>): void {
    // Never expected (a step-down rejects all, and indexes grow within a term), but a waiter must
    // not be dropped unsettled; deleting first also keeps the map in deadline order.
    const displaced = this.byIndex.get(index);
    if (displaced !== undefined) {
      this.byIndex.delete(index);
      displaced.reject(this.timeoutError());
    }
    this.byIndex.set(index, { resolve: waiter.resolve, reject: waiter.reject, term, deadline: performance.now() + this.timeoutMs });
    this.timer ??= delay(() => this.expire(), this.timeoutMs);
  }

  /** The entry at `index` was applied with `term`: settle its proposal, if any. */
  settle(index: number, term: number, outcome: { value: T } | { error: Error }, lost: () => Error): void {
    const pending = this.byIndex.get(index);
    if (pending === undefined) return;
    this.byIndex.delete(index);
    if (this.byIndex.size === 0) this.disarm();
    // Another leader's entry replaced ours at this index: ours was never applied.
    if (pending.term !== term) return pending.reject(lost());
    if ('value' in outcome) pending.resolve(outcome.value);
    else pending.reject(outcome.error);
  }

  rejectAll(error: () => Error): void {
    this.disarm();
    const all = [...this.byIndex.values()];
    this.byIndex.clear();
    for (const pending of all) pending.reject(error());
  }

  /** Fails every proposal past its deadline, then waits for the oldest one left. */
  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const [index, pending] of this.byIndex) {
      if (pending.deadline > now) {
        this.timer = delay(() => this.expire(), Math.ceil(pending.deadline - now));
        return;
      }
      this.byIndex.delete(index);
      pending.reject(this.timeoutError());
    }
  }

  private disarm(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

interface PendingRead {
  waiters: Waiter<void>[];
  index: number | undefined;
  timer: NodeJS.Timeout;
}

/**
 * Linearizable reads are batched: all reads that arrive in one loop turn share
 * one ReadIndex request (one heartbeat round), identified by a context number.
 */
export class ReadTracker {
  private nextContext = 1;
  private readonly byContext = new Map<number, PendingRead>();
  private batch: Waiter<void>[] = [];
  /** Reads queued or waiting for their batch's confirmation. */
  private waiting = 0;

  constructor(
    private readonly timeoutError: () => Error,
    /** Reads that may wait at once (queued or confirming); one more is refused with tooMany(). */
    private readonly waitersMax: number,
    private readonly tooMany: () => Error,
  ) {}

  get size(): number {
    return this.waiting;
  }

  /** Queues a read for the next batch, or refuses it at once when waitersMax reads already wait. */
  enqueue(waiter: Waiter<void>): void {
    if (this.waiting >= this.waitersMax) return waiter.reject(this.tooMany());
    this.waiting += 1;
    this.batch.push(waiter);
  }

  hasQueued(): boolean {
    return this.batch.length > 0;
  }

  /** Takes the queued reads as one batch; returns its context, or undefined if none. */
  takeBatch(timeoutMs: number): Buffer | undefined {
    if (this.batch.length === 0) return undefined;
    const context = this.nextContext++;
    const waiters = this.batch;
    this.batch = [];
    const timer = delay(() => {
      if (!this.byContext.delete(context)) return;
      this.waiting -= waiters.length;
      for (const w of waiters) w.reject(this.timeoutError());
    }, timeoutMs);
    this.byContext.set(context, { waiters, index: undefined, timer });
    const buffer = Buffer.alloc(8);
    buffer.writeDoubleBE(context);
    return buffer;
  }

  /** Raft confirmed the read batch `context` at `index`. */
  confirmed(context: Uint8Array, index: number): void {
    if (context.length !== 8) return;
    const id = Buffer.from(context.buffer, context.byteOffset, 8).readDoubleBE(0);
    const pending = this.byContext.get(id);
    if (pending !== undefined && pending.index === undefined) pending.index = index;
  }

  /** Releases every confirmed batch whose index has been applied. */
  applied(appliedIndex: number): void {
    for (const [context, pending] of this.byContext) {
      if (pending.index === undefined || pending.index > appliedIndex) continue;
      this.byContext.delete(context);
      clearTimeout(pending.timer);
      this.waiting -= pending.waiters.length;
      for (const w of pending.waiters) w.resolve();
    }
  }

  rejectAll(error: () => Error): void {
    this.waiting = 0;
    const queued = this.batch;
    this.batch = [];
    for (const w of queued) w.reject(error());
    for (const pending of this.byContext.values()) {
      clearTimeout(pending.timer);
      for (const w of pending.waiters) w.reject(error());
    }
    this.byContext.clear();
  }
}
