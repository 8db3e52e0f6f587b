/**
 * Reads waiting on the loop: linearizable ones (ReadIndex: a batch per turn,
 * confirmed by a heartbeat round, released once applied) and serializable
 * ones carrying a min_index (released once this node's reads see it). Both
 * are bounded and every waiter has a deadline.
 */
import { TimeoutError, TooManyRequestsError, UnavailableError } from '../errors.js';
import { MIN_INDEX_WAIT_MS_MAX, MIN_INDEX_WAITERS_MAX, PENDING_READS_MAX } from '../limits.js';
import { AppliedIndexWaiters } from './applied-waiters.js';
import { ReadTracker, type Waiter } from './proposals.js';

export class Reads {
  private readonly linearizable: ReadTracker;
  private readonly minIndex: AppliedIndexWaiters;

  constructor(options: { nodeId: number; requestTimeoutMs: number; readableIndex: () => number }) {
    this.linearizable = new ReadTracker(
      () => new TimeoutError('the read could not be confirmed with a quorum in time'),
      PENDING_READS_MAX,
      () => new TooManyRequestsError('too many linearizable reads waiting for a read index'),
    );
    this.minIndex = new AppliedIndexWaiters(
      Math.min(options.requestTimeoutMs, MIN_INDEX_WAIT_MS_MAX),
      MIN_INDEX_WAITERS_MAX,
      (index) =>
        new UnavailableError(
          `node ${options.nodeId} has applied up to ${options.readableIndex()}, short of the read's min_index ${index}; ask another node`,
        ),
      () => new TooManyRequestsError('too many reads waiting for their min_index'),
    );
  }

  /** Queues a linearizable read for the next turn's ReadIndex batch. */
  enqueue(waiter: Waiter<void>): void {
    this.linearizable.enqueue(waiter);
  }

  hasQueued(): boolean {
    return this.linearizable.hasQueued();
  }

  /** The queued reads as one ReadIndex request's context, if any. */
  takeBatch(timeoutMs: number): Buffer | undefined {
    return this.linearizable.takeBatch(timeoutMs);
  }

  /** Raft confirmed the batch `context` at `index`. */
  confirmed(context: Uint8Array, index: number): void {
    this.linearizable.confirmed(context, index);
  }

  /** Resolves once reads see `index` (a serializable read's min_index). */
  waitReadable(index: number): Promise<void> {
    return this.minIndex.wait(index);
  }

  /** Reads now see entries up to `readableIndex` (answered, maybe not yet applied). */
  readable(readableIndex: number): void {
    this.minIndex.advance(readableIndex);
  }

  /** Entries up to `appliedIndex` are applied: confirmed batches at or below it go, and so do min_index reads. */
  applied(appliedIndex: number, readableIndex: number): void {
    this.linearizable.applied(appliedIndex);
    this.minIndex.advance(readableIndex);
  }

  /** This node stopped leading: no batch in flight can be confirmed here. */
  lostLeadership(error: () => Error): void {
    this.linearizable.rejectAll(error);
  }

  rejectAll(error: () => Error): void {
    this.linearizable.rejectAll(error);
    this.minIndex.rejectAll(error);
  }
}
