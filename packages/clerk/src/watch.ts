/**
 * A watch as an async iterator of events, resumable across node failures.
 *
 * The iterator keeps the revision up to which it has received every event
 * (`revision`). When its stream fails, the node dies or cancels the watch for
 * any reason but a compaction or a bad request, it opens a new stream on
 * another member and asks for events from `revision + 1`: the node replays
 * them from its history, so the caller sees no gap and no duplicate (events
 * at or below `revision` are dropped should a node send them again).
 *
 * A stream silent for two request timeouts is asked for progress; if the
 * node does not answer within one more (a partitioned or wedged node: a
 * dead TCP peer may not be noticed for minutes), the watch resumes elsewhere.
 *
 * Each node response holds every event of its revisions, so a whole response
 * is queued at once. A caller slower than the events makes the queue grow up
 * to WATCH_QUEUE_MAX events; past it the stream is cancelled and reopened
 * from `revision + 1` once the caller has caught up (the node, not this
 * process, holds the backlog).
 */
import { EventType, type WatchCreateRequest, WatchFilter, type WatchRequest, type WatchResponse } from '@cairn/proto';
import type { Random } from './clock.js';
import type { BidiStream, Connection } from './connection.js';
import {
  AbortedError,
  type ClerkError,
  CompactedError,
  errorFromCode,
  InvalidArgumentError,
  isClerkErrorCode,
  UnavailableError,
  WrongClusterError,
} from './errors.js';
import type { LeaderTracker } from './leader-tracker.js';
import type { RetryOptions } from './options.js';
import { backoffDelayMs } from './retry.js';
import { type Bytes, fromWireKeyValue, type KeyValue, toBuffer } from './types.js';

/** Events queued beyond this pause the stream until the caller catches up. */
export const WATCH_QUEUE_MAX = 10_000;

export interface WatchOptions {
  /** Watch every key starting with `key`. @default false */
  readonly prefix?: boolean;
  /** Replay events from this revision on (still in the retained history). @default the next revision */
  readonly fromRevision?: number;
  /** Give each event the key-value before it (`prevKv`). @default false */
  readonly prevKv?: boolean;
  /** Leave out puts ('noPut') or deletes ('noDelete'). @default none */
  readonly filters?: readonly ('noPut' | 'noDelete')[];
  /** Ask the node for progress notifications (they advance `revision` while no event matches). @default false */
  readonly progressNotify?: boolean;
  /** Ends the iteration (cleanly: the loop just ends). */
  readonly signal?: AbortSignal;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: Buffer;
  /** The new value; empty for a delete. */
  readonly value: Buffer;
  /** The key after the event; for a delete, `modRevision` is the deleting revision. */
  readonly kv: KeyValue;
  /** The key before the event, when `prevKv` was asked and it existed. */
  readonly prevKv: KeyValue | undefined;
  /** The revision of the change. */
  readonly revision: number;
}

/** An async iterator of events in revision order; `revision` is the last one fully received. */
export interface Watch extends AsyncIterableIterator<WatchEvent> {
  readonly revision: number;
  /** The member serving the watch now; undefined between streams. */
  readonly endpoint: string | undefined;
}

export interface WatchDeps {
  readonly connection: (address: string) => Connection;
  readonly tracker: LeaderTracker;
  readonly random: Random;
  readonly retry: Readonly<Required<RetryOptions>>;
  /** Fires when the clerk closes. */
  readonly closing: AbortSignal;
  /** A progress request unanswered this long means the stream is dead; it is sent after twice this long idle. */
  readonly requestTimeoutMs: number;
}

const WATCH_ID = 1;

export class WatchIterator implements Watch {
  private readonly key: Buffer;
  private readonly create: Omit<WatchCreateRequest, 'startRevision'>;
  private readonly signal: AbortSignal;
  /** Every event up to this revision was received (0: none yet and no start known). */
  private received: number;
  private readonly queue: WatchEvent[] = [];
  private failure: ClerkError | undefined;
  private done = false;
  private stream: BidiStream<WatchRequest> | undefined;
  private streamAddress: string | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  /** When the current stream last delivered anything (or opened). */
  private lastHeardAt = 0;
  /** When a progress request was sent on a silent stream; undefined when none is pending. */
  private probeSentAt: number | undefined;
  private paused = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Rotates through the pool: a resumed watch goes to the next member. */
  private cursor = 0;
  private wake: (() => void) | undefined;
  /** Whether the watch's start is fixed (by `fromRevision`, or the node's answer to a watch from now). */
  private startKnown: boolean;
  private readonly onAbort = (): void => {
    this.queue.length = 0;
    this.finish(undefined);
  };

  constructor(
    key: Bytes,
    options: WatchOptions,
    private readonly deps: WatchDeps,
  ) {
    this.key = toBuffer(key, 'key');
    const prefix = options.prefix ?? false;
    if (this.key.length === 0 && !prefix) throw new InvalidArgumentError('key must not be empty (use prefix to watch every key)');
    const from = options.fromRevision;
    if (from !== undefined && !(Number.isSafeInteger(from) && from > 0))
      throw new InvalidArgumentError('fromRevision must be a positive integer');
    this.received = from === undefined ? 0 : from - 1;
    this.startKnown = from !== undefined;
    this.create = {
      key: this.key,
      prefix,
      progressNotify: options.progressNotify ?? false,
      filters: (options.filters ?? []).map((filter) => {
        if (filter === 'noPut') return WatchFilter.NOPUT;
        if (filter === 'noDelete') return WatchFilter.NODELETE;
        throw new InvalidArgumentError(`watch filters are 'noPut' and 'noDelete' (got ${String(filter)})`);
      }),
      prevKv: options.prevKv ?? false,
      watchId: WATCH_ID,
    };
    this.signal = options.signal ? AbortSignal.any([options.signal, deps.closing]) : deps.closing;
    this.cursor = Math.max(0, deps.tracker.endpoints().indexOf(deps.tracker.target()));
    if (this.signal.aborted) {
      this.done = true;
      return;
    }
    this.signal.addEventListener('abort', this.onAbort, { once: true });
    this.open();
  }

  get revision(): number {
    return this.received;
  }

  get endpoint(): string | undefined {
    return this.stream === undefined ? undefined : this.streamAddress;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<WatchEvent, undefined>> {
    for (;;) {
      const event = this.queue.shift();
      if (event !== undefined) {
        if (this.paused && this.queue.length <= WATCH_QUEUE_MAX / 2) this.resume();
        return { done: false, value: event };
      }
      if (this.failure !== undefined) {
        const failure = this.failure;
        this.failure = undefined;
        throw failure;
      }
      if (this.done) return { done: true, value: undefined };
      if (this.paused) this.resume();
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  async return(): Promise<IteratorResult<WatchEvent, undefined>> {
    this.finish(undefined);
    this.queue.length = 0;
    return { done: true, value: undefined };
  }

  private open(): void {
    if (this.done || this.stream !== undefined) return;
    const pool = this.deps.tracker.endpoints();
    const address = pool[this.cursor % pool.length]!;
    const connection = this.deps.connection(address);
    if (connection.openStream === undefined) {
      this.finish(new UnavailableError('this transport has no streams: watch needs gRPC'));
      return;
    }
    // Identifies this stream in its callbacks (a resumed one may have replaced it).
    const self: { stream?: BidiStream<WatchRequest> } = {};
    const stream = connection.openStream('watch', {
      message: (response) => {
        if (this.stream === self.stream) this.onResponse(response);
      },
      ended: (error) => {
        if (this.stream !== self.stream) return;
        this.stream = undefined;
        this.onEnded(error);
      },
    });
    self.stream = stream;
    this.stream = stream;
    this.streamAddress = address;
    this.lastHeardAt = performance.now();
    this.probeSentAt = undefined;
    if (this.healthTimer === undefined) {
      this.healthTimer = setInterval(() => this.checkHealth(), this.deps.requestTimeoutMs);
      this.healthTimer.unref();
    }
    stream.write({ createRequest: { ...this.create, startRevision: this.startKnown ? this.received + 1 : 0 } });
  }

  /** Probes a silent stream; gives up on it when the probe goes unanswered. */
  private checkHealth(): void {
    const stream = this.stream;
    if (stream === undefined) return;
    const now = performance.now();
    if (this.probeSentAt !== undefined) {
      if (now - this.probeSentAt < this.deps.requestTimeoutMs) return;
      this.stopStream();
      this.onEnded(new UnavailableError(`watch stream on ${this.streamAddress} silent for ${Math.round(now - this.lastHeardAt)} ms`));
      return;
    }
    if (now - this.lastHeardAt < 2 * this.deps.requestTimeoutMs) return;
    this.probeSentAt = now;
    stream.write({ progressRequest: {} });
  }

  private onResponse(response: WatchResponse): void {
    this.lastHeardAt = performance.now();
    this.probeSentAt = undefined;
    const headerRevision = response.header?.revision ?? 0;
    if (response.canceled) return this.onCanceled(response);
    this.failures = 0;
    if (response.created) {
      // A watch from "now" starts after the node's revision: resuming from there leaves no gap.
      if (!this.startKnown) {
        this.received = headerRevision;
        this.startKnown = true;
      }
    }
    if (response.events.length === 0) {
      // A progress notification: every event up to the header's revision was sent.
      if (!response.created && headerRevision > this.received) this.received = headerRevision;
      return;
    }
    for (const wire of response.events) {
      const kv = fromWireKeyValue(wire.kv);
      if (kv === undefined) continue;
      const revision = kv.modRevision;
      if (revision <= this.received) continue; // replayed again after a resume
      this.queue.push({
        type: wire.type === EventType.DELETE ? 'delete' : 'put',
        key: kv.key,
        value: kv.value,
        kv,
        prevKv: fromWireKeyValue(wire.prevKv),
        revision,
      });
    }
    const last = this.queue.at(-1)?.revision ?? 0;
    // Every event of a revision comes in one response, so the last event's revision is complete.
    if (last > this.received) this.received = last;
    if (this.queue.length > WATCH_QUEUE_MAX) this.pause();
    this.notify();
  }

  private onCanceled(response: WatchResponse): void {
    const code = response.cancelCode;
    if (code === 'COMPACTED' || response.compactRevision > 0) {
      return this.finish(new CompactedError(response.compactRevision, `watch from revision ${this.received + 1} was compacted`));
    }
    if (code === 'INVALID_ARGUMENT') return this.finish(new InvalidArgumentError(response.cancelReason || 'invalid watch'));
    const error = isClerkErrorCode(code)
      ? errorFromCode(code, response.cancelReason || undefined)
      : new UnavailableError(response.cancelReason);
    this.stopStream();
    this.onEnded(error);
  }

  private onEnded(error: ClerkError): void {
    if (this.done || this.paused) return;
    // Errors that no other member would answer differently end the watch.
    if (error instanceof WrongClusterError || error.code === 'INVALID_ARGUMENT' || error instanceof CompactedError)
      return this.finish(error);
    if (error instanceof AbortedError && this.signal.aborted) return this.finish(undefined);
    this.cursor += 1;
    const pool = this.deps.tracker.endpoints();
    // Straight to the next member; back off once every member failed in a row.
    const delayMs =
      this.failures > 0 && this.failures % pool.length === 0
        ? backoffDelayMs(this.failures / pool.length - 1, this.deps.retry, this.deps.random)
        : 0;
    this.failures += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.open();
    }, delayMs);
  }

  private pause(): void {
    this.paused = true;
    this.stopStream();
  }

  private resume(): void {
    this.paused = false;
    this.open();
  }

  private stopStream(): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.cancel();
  }

  /** Ends the watch: with an error the caller sees after the queued events, or cleanly. */
  private finish(error: ClerkError | undefined): void {
    if (this.done) return;
    this.done = true;
    this.failure = error;
    this.signal.removeEventListener('abort', this.onAbort);
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    clearInterval(this.healthTimer);
    this.stopStream();
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
