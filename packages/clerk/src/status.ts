/**
 * Status events: what the clerk is doing about leadership and reachability,
 * as a discriminated union delivered through async iterators (NATS `status()`).
 */
import { STATUS_EVENTS_BUFFERED_MAX } from './limits.js';

export type ClerkStatus =
  /** A different node answered as leader (leaderId 0 when the node did not say its id). */
  | { readonly type: 'leader-changed'; readonly leaderId: number; readonly address: string }
  /** A NOT_LEADER answer sent the clerk from one node to another. */
  | { readonly type: 'redirect'; readonly from: string; readonly to: string }
  /** An attempt failed to reach a node or found no leader; `attempt` counts within the call. */
  | { readonly type: 'unavailable'; readonly address: string; readonly attempt: number; readonly code: string }
  /** The endpoint pool was refreshed from cluster membership. */
  | { readonly type: 'endpoints-updated'; readonly endpoints: readonly string[] };

/**
 * Fans events out to subscribers. Each subscriber buffers at most
 * STATUS_EVENTS_BUFFERED_MAX events; beyond that the oldest are dropped,
 * so a slow reader never makes the clerk grow without bound.
 */
export class StatusHub {
  private readonly subscribers = new Set<Subscriber>();
  private closed = false;

  emit(event: ClerkStatus): void {
    for (const subscriber of this.subscribers) subscriber.push(event);
  }

  subscribe(): AsyncIterableIterator<ClerkStatus> {
    const subscriber = new Subscriber(() => this.subscribers.delete(subscriber));
    if (this.closed) subscriber.end();
    else this.subscribers.add(subscriber);
    return subscriber;
  }

  close(): void {
    this.closed = true;
    for (const subscriber of [...this.subscribers]) subscriber.end();
    this.subscribers.clear();
  }
}

class Subscriber implements AsyncIterableIterator<ClerkStatus> {
  private readonly buffer: ClerkStatus[] = [];
  private waiting: ((result: IteratorResult<ClerkStatus>) => void) | undefined;
  private ended = false;

  constructor(private readonly unsubscribe: () => void) {}

  push(event: ClerkStatus): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: event, done: false });
      return;
    }
    this.buffer.push(event);
    if (this.buffer.length > STATUS_EVENTS_BUFFERED_MAX) this.buffer.shift();
  }

  end(): void {
    this.ended = true;
    this.unsubscribe();
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<ClerkStatus>> {
    const event = this.buffer.shift();
    if (event !== undefined) return Promise.resolve({ value: event, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  return(): Promise<IteratorResult<ClerkStatus>> {
    this.end();
    this.buffer.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ClerkStatus> {
    return this;
  }
}
