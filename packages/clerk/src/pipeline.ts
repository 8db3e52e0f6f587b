/**
 * KV calls to one node over one long-lived pipeline stream: every call
 * issued in an event-loop turn leaves in one stream message, and results
 * come back batched the same way. A unary gRPC call costs each end several
 * hundred microseconds of CPU on a small machine; a stream message a few.
 *
 * The stream runs over the raw KV link where the node serves it, else over
 * the gRPC `Pipeline` call (pipeline-carriers.ts). A node that turns out not
 * to serve the raw link provably ran nothing sent on it: those calls are
 * sent again over gRPC, and the raw link is tried again after a gRPC stream
 * fails or RAW_LINK_RETRY_MS later (the node may have been upgraded).
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
import { PARKED_LINK_CLOSE_MS, PIPELINE_IDLE_CLOSE_MS, PIPELINE_MESSAGE_BYTES_TARGET, RAW_LINK_RETRY_MS } from './limits.js';
import type { Carrier, OpenCarrier } from './pipeline-carriers.js';

/** The KV methods a pipeline carries, by their field in `PipelineOp` / `PipelineResult`. */
export const PIPELINE_METHODS = ['put', 'get', 'append', 'delete', 'cas', 'range'] as const;
export type PipelineMethod = (typeof PIPELINE_METHODS)[number];
type OpRequest<M extends PipelineMethod> = NonNullable<PipelineOp[M]>;
type OpResponse<M extends PipelineMethod> = NonNullable<PipelineResult[M]>;

export function isPipelineMethod(method: string): method is PipelineMethod {
  return (PIPELINE_METHODS as readonly string[]).includes(method);
}

/** What a pipelined call resolves to: its result, or word that the node has no Pipeline (send it unary). */
export type PipelineOutcome<R> = CallResult<R> | typeof PIPELINE_UNSUPPORTED;
export const PIPELINE_UNSUPPORTED = Symbol('pipeline unsupported');

type Settled = CallResult<never> | { ok: true; response: unknown } | typeof PIPELINE_UNSUPPORTED;

interface PendingCall {
  readonly method: PipelineMethod;
  /** Kept until answered: sent again if its stream's node turns out not to serve the raw link. */
  readonly op: PipelineOp;
  /** requestBytes() of its request. */
  readonly bytes: number;
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
  /** Ended by this side (a stall, an abort, idleness): says nothing about the node. */
  cancelled: boolean;
  /** Counts messages received, so a timed-out call can tell a stalled stream from a slow op. */
  received: number;
}

export interface PipelineCarriers {
  /** The raw KV link, when it may be used (plaintext, a host:port address). */
  readonly raw: OpenCarrier | undefined;
  readonly grpc: OpenCarrier;
  /** Checks the cluster id a node names; an error refuses the node for good. */
  readonly checkClusterId?: (clusterId: string) => ClerkError | undefined;
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
  private supportedRetryAtMs = 0;
  private unsupported = false;
  /** False while the node is believed not to serve the raw link. */
  private rawServed: boolean;
  /** When to try the raw link again after the node answered it in HTTP/2 (this.now() ms). */
  private rawRetryAtMs = 0;
  /** Set once the node named another cluster: every call fails with it. */
  private refusal: ClerkError | undefined;

  constructor(
    private readonly carriers: PipelineCarriers,
    /** Milliseconds, for the retry times only (a seam for tests). */
    private readonly now: () => number = () => performance.now(),
    private readonly timing: { idleMs: number; parkedCloseMs: number } = { idleMs: PIPELINE_IDLE_CLOSE_MS, parkedCloseMs: PARKED_LINK_CLOSE_MS },
  ) {
    this.rawServed = carriers.raw !== undefined;
  }

  /**
   * False after the node answered the gRPC Pipeline with UNIMPLEMENTED (a node
   * from before Pipeline existed, or one still starting); asked again
   * RAW_LINK_RETRY_MS later, since the node may have been upgraded or started.
   */
  get supported(): boolean {
    if (this.unsupported && this.now() >= this.supportedRetryAtMs) this.unsupported = false;
    return !this.unsupported;
  }

  call<M extends PipelineMethod>(method: M, request: OpRequest<M>, options: AttemptOptions): Promise<PipelineOutcome<OpResponse<M>>> {
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
      // A node found without the raw link is asked again now and then: it may have been upgraded.
      // (Checked for new calls only: the calls it refused must go to gRPC, whatever the time.)
      if (!this.rawServed && this.carriers.raw !== undefined && this.now() >= this.rawRetryAtMs) this.rawServed = true;
      const id = this.nextId++;
      const onAbort = (): void => this.abort(id);
      const timer = setTimeout(() => this.timeOut(id), options.timeoutMs);
      const op: PipelineOp = { id, [method]: request };
      const bytes = requestBytes(request);
      this.pending.set(id, { method, op, bytes, receivedAtWrite: 0, resolve: resolve as PendingCall['resolve'], timer, signal: options.signal, onAbort, stream: undefined });
      options.signal.addEventListener('abort', onAbort, { once: true });
      this.enqueue(op, bytes);
    });
  }

  private enqueue(op: PipelineOp, bytes: number): void {
    this.queue.push(op);
    this.queuedBytes += bytes;
    if (this.queuedBytes >= PIPELINE_MESSAGE_BYTES_TARGET) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // At the end of this synchronous run: the calls the application issued
      // together share one message. (A setImmediate waited for the event
      // loop's check phase, which cost a 1-client write tens of µs.)
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
    stream.cancelled = true;
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
    const open = this.rawServed ? this.carriers.raw! : this.carriers.grpc;
    const stream: OpenStream = { carrier: undefined!, done: false, cancelled: false, received: 0 };
    this.stream = stream;
    stream.carrier = open({
      response: (response: PipelineResponse) => {
        stream.received += 1;
        if (response.clusterId !== undefined && this.refusedCluster(stream, response.clusterId)) return;
        for (const result of response.results) this.onResult(result);
      },
      ended: (reason, unsupported) => this.ended(stream, reason, unsupported),
    });
    return stream;
  }

  /** True (the stream's calls failed, the stream cancelled) when the node named a cluster that is refused. */
  private refusedCluster(stream: OpenStream, clusterId: string): boolean {
    const refusal = this.carriers.checkClusterId?.(clusterId);
    if (refusal === undefined) return false;
    this.refusal = refusal;
    for (const [id, pending] of [...this.pending]) {
      if (pending.stream === stream) this.finish(id, { ok: false, error: refusal, fromServer: true, mayHaveReachedServer: true });
    }
    this.cancel(stream);
    return true;
  }

  private ended(stream: OpenStream, reason: string, unsupported: boolean): void {
    if (stream.done) return;
    stream.done = true;
    if (this.stream === stream) this.stream = undefined;
    const raw = stream.carrier.kind === 'raw';
    const carried = [...this.pending].filter(([, pending]) => pending.stream === stream);
    if (raw && unsupported) {
      // Nothing was sent: the same ops go again, over gRPC.
      this.rawServed = false;
      this.rawRetryAtMs = this.now() + RAW_LINK_RETRY_MS;
      for (const [, pending] of carried) {
        pending.stream = undefined;
        this.enqueue(pending.op, pending.bytes);
      }
      return;
    }
    // A failed gRPC stream may mean the node restarted, perhaps upgraded: try the raw link again.
    if (!raw && !stream.cancelled && this.carriers.raw !== undefined) this.rawServed = true;
    // UNIMPLEMENTED proves the node ran none of the ops: they go unary instead.
    if (!raw && unsupported) {
      this.unsupported = true;
      this.supportedRetryAtMs = this.now() + RAW_LINK_RETRY_MS;
    }
    for (const [id] of carried) {
      const error = new UnavailableError(`pipeline stream ended: ${reason}`);
      this.finish(id, unsupported ? PIPELINE_UNSUPPORTED : { ok: false, error, fromServer: false, mayHaveReachedServer: stream.carrier.sawReady() });
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
      this.finish(result.id, { ok: false, error: new UnavailableError(`pipeline result ${result.id} carries no ${pending.method} response`), fromServer: false, mayHaveReachedServer: true });
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
