/**
 * The send side of one watch stream (a gRPC Watch call or an SSE response),
 * shared by its watches. Messages go straight to the transport while it takes
 * them (`write()` true); once it pushes back they wait here, in order, and
 * leave on 'drain'. What waits is counted per watch, so the hub can see one
 * watch going over its bound (and stop feeding it live events) while the
 * others carry on.
 */
export interface Channel<M> {
  /** Hands a message of about `bytes` on; false = the transport's buffer is full (the message is still taken), wait for drain. */
  write(message: M, bytes: number): boolean;
  onDrain(listener: () => void): void;
}

export interface OutboxBounds {
  readonly bytes: number;
  readonly messages: number;
}

interface Queued<M> {
  readonly watchId: number;
  readonly message: M;
  readonly bytes: number;
}

export class Outbox<M> {
  private blocked = false;
  private closed = false;
  private readonly queue: Array<Queued<M>> = [];
  private head = 0;
  private readonly perWatch = new Map<number, { bytes: number; messages: number }>();
  private waiters: Array<() => void> = [];

  constructor(
    private readonly channel: Channel<M>,
    private readonly bounds: OutboxBounds,
  ) {
    channel.onDrain(() => this.flush());
  }

  /** Sends or queues `message` of watch `watchId`; false when that watch's queue is now past its bound. */
  send(watchId: number, message: M, bytes: number): boolean {
    if (this.closed) return true;
    if (!this.blocked && this.head === this.queue.length) {
      this.blocked = !this.channel.write(message, bytes);
      return true;
    }
    this.queue.push({ watchId, message, bytes });
    let queued = this.perWatch.get(watchId);
    if (queued === undefined) this.perWatch.set(watchId, (queued = { bytes: 0, messages: 0 }));
    queued.bytes += bytes;
    queued.messages++;
    return queued.bytes <= this.bounds.bytes && queued.messages <= this.bounds.messages;
  }

  /** True while the transport pushes back or `watchId` has messages waiting here. */
  busy(watchId: number): boolean {
    return this.blocked || this.perWatch.has(watchId);
  }

  /** Bytes waiting here (all watches). */
  queuedBytes(): number {
    let bytes = 0;
    for (const queued of this.perWatch.values()) bytes += queued.bytes;
    return bytes;
  }

  /** Resolves once the transport takes messages again and nothing of `watchId` waits (at once if so, or once closed). */
  async whenWritable(watchId: number): Promise<void> {
    while (!this.closed && this.busy(watchId)) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Drops whatever waits; later sends are ignored. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.head = 0;
    this.perWatch.clear();
    this.wake();
  }

  private flush(): void {
    this.blocked = false;
    while (!this.blocked && this.head < this.queue.length) {
      const next = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Queued<M>;
      const queued = this.perWatch.get(next.watchId)!;
      queued.bytes -= next.bytes;
      if (--queued.messages === 0) this.perWatch.delete(next.watchId);
      this.blocked = !this.channel.write(next.message, next.bytes);
    }
    // Sent slots are dropped once they are half the array (a queue that never empties still stays bounded).
    if (this.head === this.queue.length || this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
