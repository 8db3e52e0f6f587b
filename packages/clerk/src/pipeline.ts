/**
 * KV calls to one node over one long-lived pipeline stream: every call
 * issued in an event-loop turn leaves in one stream message, and results
 * come back batched the same way. A unary gRPC call costs each end several
 * hundred microseconds of CPU on a small machine; a stream message a few.
 *
 * The stream runs over one carrier, chosen by the transport's options: the
 * raw KV link or the gRPC `Pipeline` call (pipeline-carriers.ts).
 *
 * Each call keeps unary semantics towards the retry loop (a `CallResult`):
 * an error result from the node is `fromServer`; a stream that fails or ends
 * fails the calls it carried as UNAVAILABLE, and they "may have reached the
 * server" exactly when its connection was ready at some point of the
 * stream's life. The next call opens a new stream. A stream idle for
 * PIPELINE_IDLE_CLOSE_MS stops keeping the process alive: a raw link is
 * unref'd (and reused, up to PARKED_LINK_CLOSE_MS idle), a gRPC stream cancelled.
 *
 * A stream's first message names the node's cluster. If `checkClusterId`
 * refuses it (a node of another cluster), the stream's calls fail with that
 * error, and so does every later call, without sending anything.
 */
import type { PipelineOp, PipelineResponse, PipelineResult } from '@cairn/proto';
import type { AttemptOptions, CallResult } from './attempt.js';
import { AbortedError, type ClerkError, errorFromDetail, TimeoutError, UnavailableError } from './errors.js';
import { PARKED_LINK_CLOSE_MS, PIPELINE_IDLE_CLOSE_MS, PIPELINE_MESSAGE_BYTES_TARGET } from './limits.js';
import type { Carrier, OpenCarrier } from './pipeline-carriers.js';

/** The KV methods a pipeline carries, by their field in `PipelineOp` / `PipelineResult`. */
export const PIPELINE_METHODS = [
  'put',
  'get',
  'append',
  'delete',
  'cas',
  'range',
  'leaseGrant',
  'leaseRevoke',
  'leaseTimeToLive',
  'txn',
  'compact',
] as const;
export type PipelineMethod = (typeof PIPELINE_METHODS)[number];
type OpRequest<M extends PipelineMethod> = NonNullable<PipelineOp[M]>;
type OpResponse<M extends PipelineMethod> = NonNullable<PipelineResult[M]>;

export function isPipelineMethod(method: string): method is PipelineMethod {
  return (PIPELINE_METHODS as readonly string[]).includes(method);
}

type Settled = CallResult<never> | { ok: true; response: unknown };

interface PendingCall {
  readonly method: PipelineMethod;
  /** `stream.received` when the op was written. */
  receivedAtWrite: number;
  readonly resolve: (result: Settled) => void;
  readonly timer: NodeJS.Timeout;
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
  /** The stream the op was written to; undefined while queued. */
  stream: OpenStream | undefined;
}

interface OpenStream {
  carrier: Carrier;
  done: boolean;
  /** Counts messages received, so a timed-out call can tell a stalled stream from a slow op. */
  received: number;
}

export interface PipelineLinkOptions {
  /** Opens a stream on the carrier the transport chose (raw KV link or gRPC `Pipeline`). */
  readonly open: OpenCarrier;
  /** Checks the cluster id a node names; an error refuses the node for good. */
  readonly checkClusterId?: (clusterId: string) => ClerkError | undefined;
  /** @default PIPELINE_IDLE_CLOSE_MS and PARKED_LINK_CLOSE_MS (shorter in tests) */
  readonly timing?: { readonly idleMs: number; readonly parkedCloseMs: number };
}

export class PipelineLink {
  private stream: OpenStream | undefined;
  private readonly pending = new Map<number, PendingCall>();
  private queue: PipelineOp[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private nextId = 1;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Set once the node named another cluster: every call fails with it. */
  private refusal: ClerkError | undefined;
  private readonly open: OpenCarrier;
  private readonly checkClusterId: ((clusterId: string) => ClerkError | undefined) | undefined;
  private readonly timing: { readonly idleMs: number; readonly parkedCloseMs: number };

  constructor(options: PipelineLinkOptions) {
    this.open = options.open;
    this.checkClusterId = options.checkClusterId;
    this.timing = options.timing ?? { idleMs: PIPELINE_IDLE_CLOSE_MS, parkedCloseMs: PARKED_LINK_CLOSE_MS };
  }

  call<M extends PipelineMethod>(method: M, request: OpRequest<M>, options: AttemptOptions): Promise<CallResult<OpResponse<M>>> {
    return new Promise((resolve) => {
      if (options.signal.aborted || this.closed) {
        resolve({ ok: false, error: new AbortedError(), fromServer: false, mayHaveReachedServer: false });
        return;
      }
      if (this.refusal !== undefined) {
        resolve({ ok: false, error: this.refusal, fromServer: true, mayHaveReachedServer: false });
        return;
      }
      this.stopIdleTimer();
      const id = this.nextId++;
      const onAbort = (): void => this.abort(id);
      const timer = setTimeout(() => this.timeOut(id), options.timeoutMs);
      this.pending.set(id, {
        method,
        receivedAtWrite: 0,
        resolve: resolve as PendingCall['resolve'],
        timer,
        signal: options.signal,
        onAbort,
        stream: undefined,
      });
      options.signal.addEventListener('abort', onAbort, { once: true });
      this.enqueue({ id, [method]: request }, requestBytes(request));
    });
  }

  private enqueue(op: PipelineOp, bytes: number): void {
    this.queue.push(op);
    this.queuedBytes += bytes;
    if (this.queuedBytes >= PIPELINE_MESSAGE_BYTES_TARGET) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // At the end of this synchronous run: the calls the application issued
      // together share one message, and a lone call waits for no event-loop
      // phase (waiting for the check phase would cost it tens of µs).
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  close(): void {
    this.closed = true;
    this.stopIdleTimer();
    for (const id of [...this.pending.keys()]) this.finish(id, this.failure(id, new AbortedError('clerk closed')));
    // Cancel rather than half-close: a stream to an unreachable node would otherwise keep the process alive.
    if (this.stream !== undefined) this.cancel(this.stream);
  }

  /**
   * An abort. An op written to a stream whose connection was never ready is
   * still buffered on this side: cancelling the stream keeps it from leaving,
   * so "never reached the node" stays true (its other calls are retried).
   */
  private abort(id: number): void {
    const stream = this.pending.get(id)?.stream;
    this.finish(id, this.failure(id, new AbortedError()));
    if (stream !== undefined && !stream.carrier.sawReady()) this.cancel(stream);
  }

  /** Cancels a stream; later calls open a new one at once. Its calls fail through its `ended` event. */
  private cancel(stream: OpenStream): void {
    if (this.stream === stream) this.stream = undefined;
    stream.carrier.cancel();
  }

  /**
   * A call's own timeout. If its stream delivered nothing since the op was
   * written, the stream is presumed stalled (a dead connection, a wedged
   * node) and is cancelled, so that the next call opens a fresh one, as a
   * unary call would; its other calls fail as unavailable and are retried.
   */
  private timeOut(id: number): void {
    const pending = this.pending.get(id);
    const stream = pending?.stream;
    const result = this.failure(id, new TimeoutError('request timed out'));
    this.finish(id, result);
    if (stream !== undefined && !stream.done && stream.received === pending!.receivedAtWrite) this.cancel(stream);
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    const ops = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    // Calls that timed out or were aborted while queued are gone from `pending`.
    const live = ops.filter((op) => this.pending.has(op.id));
    if (live.length === 0) return;
    const stream = this.openStream();
    for (const op of live) {
      const pending = this.pending.get(op.id)!;
      pending.stream = stream;
      pending.receivedAtWrite = stream.received;
    }
    stream.carrier.write({ ops: live });
  }

  private openStream(): OpenStream {
    if (this.stream !== undefined && !this.stream.done) return this.stream;
    const stream: OpenStream = { carrier: undefined!, done: false, received: 0 };
    this.stream = stream;
    stream.carrier = this.open({
      response: (response: PipelineResponse) => {
        stream.received += 1;
        if (response.clusterId !== undefined && this.refusedCluster(stream, response.clusterId)) return;
        for (const result of response.results) this.onResult(result);
      },
      ended: (reason) => this.ended(stream, reason),
    });
    return stream;
  }

  /** True (the stream's calls failed, the stream cancelled) when the node named a cluster that is refused. */
  private refusedCluster(stream: OpenStream, clusterId: string): boolean {
    const refusal = this.checkClusterId?.(clusterId);
    if (refusal === undefined) return false;
    this.refusal = refusal;
    for (const [id, pending] of [...this.pending]) {
      if (pending.stream === stream) this.finish(id, { ok: false, error: refusal, fromServer: true, mayHaveReachedServer: true });
    }
    this.cancel(stream);
    return true;
  }

  private ended(stream: OpenStream, reason: string): void {
    if (stream.done) return;
    stream.done = true;
    if (this.stream === stream) this.stream = undefined;
    for (const [id, pending] of [...this.pending]) {
      if (pending.stream !== stream) continue;
      const error = new UnavailableError(`pipeline stream ended: ${reason}`);
      this.finish(id, { ok: false, error, fromServer: false, mayHaveReachedServer: stream.carrier.sawReady() });
    }
  }

  private onResult(result: PipelineResult): void {
    const pending = this.pending.get(result.id);
    if (pending === undefined) return; // timed out or aborted meanwhile
    if (result.error !== undefined) {
      this.finish(result.id, { ok: false, error: errorFromDetail(result.error), fromServer: true, mayHaveReachedServer: true });
      return;
    }
    const response = result[pending.method];
    if (response === undefined) {
      this.finish(result.id, {
        ok: false,
        error: new UnavailableError(`pipeline result ${result.id} carries no ${pending.method} response`),
        fromServer: false,
        mayHaveReachedServer: true,
      });
      return;
    }
    this.finish(result.id, { ok: true, response });
  }

  /** The failure of a call that ends on this side (timeout, abort). */
  private failure(id: number, error: ClerkError): CallResult<never> {
    const stream = this.pending.get(id)?.stream;
    return { ok: false, error, fromServer: false, mayHaveReachedServer: stream?.carrier.sawReady() ?? false };
  }

  private finish(id: number, result: Settled): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.signal.removeEventListener('abort', pending.onAbort);
    pending.resolve(result);
    if (this.pending.size === 0 && this.stream !== undefined && !this.closed) this.startIdleTimer();
  }

  private startIdleTimer(): void {
    this.stopIdleTimer();
    const stream = this.stream;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pending.size > 0 || this.stream !== stream || stream === undefined) return;
      // Nothing is in flight on it: a raw link stays open but stops holding the process (its next
      // call needs no new connection); a gRPC stream is cancelled, which loses nothing.
      if (stream.carrier.park === undefined) return this.cancel(stream);
      stream.carrier.park();
      // Parked links are closed after a longer idle period: a node that vanished silently meanwhile
      // would otherwise cost the next call its whole timeout, reported as "may have reached".
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (this.pending.size === 0 && this.stream === stream) this.cancel(stream);
      }, this.timing.parkedCloseMs);
      this.idleTimer.unref();
    }, this.timing.idleMs);
    // The open stream keeps the process alive until this fires; the timer itself does not.
    this.idleTimer.unref();
  }

  private stopIdleTimer(): void {
    if (this.idleTimer === undefined) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/** A cheap estimate of an op's encoded size (keys and values dominate). */
function requestBytes(request: object): number {
  let bytes = 64;
  for (const field of ['key', 'value', 'expectedValue', 'prefix'] as const) {
    const value = (request as Partial<Record<typeof field, Uint8Array>>)[field];
    if (value !== undefined) bytes += value.length;
  }
  return bytes;
}
