/**
 * The leader's view of one follower (etcd's tracker.Progress): how far its log
 * matches, what to send next, and the flow-control state that decides whether
 * anything may be sent now.
 */
import { assert } from '@cairn/proto';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/**
 * A bounded FIFO of the last index of each MsgApp in flight, as a ring buffer;
 * acknowledgements free every message up to the acknowledged index.
 */
export class Inflights {
  private readonly buffer: number[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, 'inflights capacity is positive');
    this.buffer = new Array<number>(capacity).fill(0);
  }

  get size(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'cannot add to a full inflights window');
    if (this.count > 0) assert(lastIndex > this.newest(), 'inflight indexes increase');
    this.buffer[(this.start + this.count) % this.capacity] = lastIndex;
    this.count += 1;
  }

  /** Frees every message whose last index is <= `index`. */
  freeLE(index: number): void {
    while (this.count > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count -= 1;
    }
    if (this.count === 0) this.start = 0;
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(this.buffer[this.start]!);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }

  private newest(): number {
    return this.buffer[(this.start + this.count - 1) % this.capacity]!;
  }
}

export class Progress {
  /** Highest index known to match the leader's log (the paper's matchIndex). */
  matchIndex: number;
  /** Next index to send (the paper's nextIndex). */
  nextIndex: number;
  state: ProgressState = 'probe';
  /** In probe state: one probe is outstanding, send nothing until it is answered or a heartbeat response arrives. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** The follower said it lost its storage: only its after-loss responses are believed, for this leader's term. */
  lostStorage = false;
  /** The follower says it is still recovering: it counts toward no quorum (commit, reads, CheckQuorum). */
  recovering = false;
  /**
   * The highest matchIndex this leader knew before it learned that the
   * follower's log lost entries: evidence the follower's startup check asks for.
   */
  matchIndexBeforeLoss = 0;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(options: { matchIndex: number; nextIndex: number; inflightsMax: number; isLearner: boolean }) {
    assert(options.nextIndex > options.matchIndex, 'nextIndex is past matchIndex');
    this.matchIndex = options.matchIndex;
    this.nextIndex = options.nextIndex;
    this.isLearner = options.isLearner;
    this.inflights = new Inflights(options.inflightsMax);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      // The snapshot may or may not have landed; resume after it either way.
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState('probe');
      this.nextIndex = Math.max(this.matchIndex + 1, pendingSnapshot + 1);
    } else {
      this.resetState('probe');
      this.nextIndex = this.matchIndex + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.nextIndex = this.matchIndex + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    assert(snapshotIndex > 0, 'a snapshot to send has an index');
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records an acknowledgement up to `index`; returns whether matchIndex moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.matchIndex < index) {
      this.matchIndex = index;
      updated = true;
      this.probeSent = false;
    }
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    return updated;
  }

  /** Records that a MsgApp carrying entries up to `lastIndex` (or none) was sent. */
  sentEntries(entryCount: number, lastIndex: number): void {
    switch (this.state) {
      case 'replicate':
        if (entryCount > 0) {
          assert(lastIndex === this.nextIndex + entryCount - 1, 'replicated entries follow nextIndex');
          this.nextIndex = lastIndex + 1;
          this.inflights.add(lastIndex);
        }
        break;
      case 'probe':
        this.probeSent = true;
        break;
      case 'snapshot':
        assert(false, 'no MsgApp is sent in snapshot state');
    }
  }

  /**
   * Handles a rejected MsgApp for `rejectedIndex`; `hintIndex` is where the
   * follower's log may match. Returns false if the rejection is stale.
   */
  maybeDecrTo(rejectedIndex: number, hintIndex: number): boolean {
    if (this.state === 'replicate') {
      if (rejectedIndex <= this.matchIndex) return false;
      this.nextIndex = this.matchIndex + 1;
      return true;
    }
    if (this.nextIndex - 1 !== rejectedIndex) return false;
    this.nextIndex = Math.max(Math.min(rejectedIndex, hintIndex + 1), this.matchIndex + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * The follower's log ends below what it once acknowledged (`hintIndex` <
   * matchIndex): its data dir was wiped or restored from an old backup. Start
   * probing from its real end (a snapshot follows if the leader compacted
   * past it). A reordered old rejection looks the same; resetting for it
   * costs only one probe round, since the next ack raises matchIndex again.
   * Lowering matchIndex is safe: it only makes the quorum commit index
   * smaller, and the commit index never decreases.
   */
  resetAfterLogLoss(hintIndex: number): void {
    assert(hintIndex < this.matchIndex, 'only a log that lost acknowledged entries is reset');
    this.matchIndexBeforeLoss = Math.max(this.matchIndexBeforeLoss, this.matchIndex);
    this.becomeProbe();
    // The follower's log ends at the hint, but nothing says it matches ours there: probe from it.
    this.matchIndex = 0;
    this.nextIndex = hintIndex + 1;
  }

  /**
   * The follower lost its storage (it said so): nothing acknowledged before
   * is known to be there. Probe from where we were, walking back on its
   * rejections; only acknowledgements from now on raise matchIndex again.
   */
  forgetForRecovery(): void {
    this.lostStorage = true;
    this.matchIndexBeforeLoss = Math.max(this.matchIndexBeforeLoss, this.matchIndex);
    const nextIndex = this.nextIndex;
    this.becomeProbe();
    this.matchIndex = 0;
    this.nextIndex = Math.max(1, Math.min(nextIndex, this.nextIndex));
  }

  /** Whether flow control forbids sending a MsgApp now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
