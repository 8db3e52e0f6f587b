/**
 * A binary min-heap of timed items, ordered by (at, sequence) so that items
 * due at the same virtual instant come out in insertion order. Determinism of
 * the whole simulator rests on this tie-break.
 */
export class EventQueue<T> {
  private readonly heap: { at: number; sequence: number; item: T }[] = [];
  private sequenceNext = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, item: T): void {
    this.heap.push({ at, sequence: this.sequenceNext++, item });
    this.siftUp(this.heap.length - 1);
  }

  /** The instant of the earliest item, or Infinity when empty. */
  peekAt(): number {
    return this.heap.length === 0 ? Infinity : this.heap[0]!.at;
  }

  /** Removes and returns the earliest item if it is due at or before `now`. */
  popDue(now: number): T | undefined {
    const top = this.heap[0];
    if (top === undefined || top.at > now) return undefined;
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return top.item;
  }

  clear(): void {
    this.heap.length = 0;
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.at < y.at || (x.at === y.at && x.sequence < y.sequence);
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a]!;
    this.heap[a] = this.heap[b]!;
    this.heap[b] = x;
  }

  private siftUp(index: number): void {
    let child = index;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if (!this.less(child, parent)) return;
      this.swap(child, parent);
      child = parent;
    }
  }

  private siftDown(index: number): void {
    let parent = index;
    for (;;) {
      const left = parent * 2 + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < this.heap.length && this.less(left, smallest)) smallest = left;
      if (right < this.heap.length && this.less(right, smallest)) smallest = right;
      if (smallest === parent) return;
      this.swap(parent, smallest);
      parent = smallest;
    }
  }
}
