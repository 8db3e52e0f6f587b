/**
 * Serializable reads that carry a `min_index` (a client's read-your-writes
 * token) and reached a node whose reads do not yet see that index. Each one
 * waits until the node's readable index reaches its min_index, or fails at
 * its deadline with a retryable error so that the client asks another node.
 *
 * Every waiter gets the same timeout, so insertion order is deadline order:
 * one timer, armed for the oldest waiter, serves them all (as in
 * ProposalTracker). `advance()` runs after every apply batch, so when nothing
 * waits it costs one comparison.
 */
import { setTimeout as delay } from 'node:timers';

interface IndexWaiter {
  readonly index: number;
  /** performance.now() past which it fails. */
  readonly deadline: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class AppliedIndexWaiters {
  /** Insertion (= deadline) order. */
  private readonly waiting = new Set<IndexWaiter>();
  /** The smallest index waited for; Infinity when none. */
  private lowest = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly timeoutMs: number,
    private readonly waitersMax: number,
    /** The error of a read whose index was not reached in time. */
    private readonly timeoutError: (index: number) => Error,
    private readonly tooMany: () => Error,
  ) {}

  get size(): number {
    return this.waiting.size;
  }

  /** Resolves once advance() reports `index` or more; the caller checked that it is not reached yet. */
  wait(index: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.waiting.size >= this.waitersMax) return reject(this.tooMany());
      this.waiting.add({ index, deadline: performance.now() + this.timeoutMs, resolve, reject });
      if (index < this.lowest) this.lowest = index;
      this.timer ??= delay(() => this.expire(), this.timeoutMs);
    });
  }

  /** Reads now see every entry up to `readableIndex`: release the waiters it covers. */
  advance(readableIndex: number): void {
    if (readableIndex < this.lowest) return;
    let lowest = Number.POSITIVE_INFINITY;
    for (const waiter of this.waiting) {
      if (waiter.index <= readableIndex) {
        this.waiting.delete(waiter);
        waiter.resolve();
      } else if (waiter.index < lowest) {
        lowest = waiter.index;
      }
    }
    this.lowest = lowest;
    if (this.waiting.size === 0) this.disarm();
  }

  rejectAll(error: () => Error): void {
    this.disarm();
    const all = [...this.waiting];
    this.waiting.clear();
    this.lowest = Number.POSITIVE_INFINITY;
    for (const waiter of all) waiter.reject(error());
  }

  /** Fails every waiter past its deadline, then waits for the oldest one left. */
  private expire(): void {
    this.timer = undefined;
    const now = performance.now();
    for (const waiter of this.waiting) {
      if (waiter.deadline > now) {
        this.timer = delay(() => this.expire(), Math.ceil(waiter.deadline - now));
        break;
      }
      this.waiting.delete(waiter);
      waiter.reject(this.timeoutError(waiter.index));
    }
    // `lowest` may now be below every waiter left: advance() then rescans once and corrects it.
  }

  private disarm(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
