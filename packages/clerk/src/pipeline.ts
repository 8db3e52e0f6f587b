/**
 * KV calls to one node over one long-lived `KVService.Pipeline` stream: every
 * call issued in an event-loop turn leaves in one stream message, and results
 * come back batched the same way. A unary gRPC call costs each end several
 * hundred microseconds of CPU on a small machine; a stream message a few.
 *
 * Each call keeps unary semantics towards the retry loop (a `CallResult`):
 * an error result from the node is `fromServer`; a stream that fails or ends
 * fails the calls it carried as UNAVAILABLE, and they "may have reached the
 * server" exactly when the channel was ready at some point of the stream's
 * life. The next call opens a new stream. A stream idle for
 * PIPELINE_IDLE_CLOSE_MS is cancelled, so that it never keeps the process alive.
 */
import * as grpc from '@grpc/grpc-js';
import { KVServiceService, type PipelineOp, type PipelineRequest, type PipelineResponse, type PipelineResult } from '@cairn/proto';
import type { AttemptOptions, CallResult } from './connection.js';
import { AbortedError, type ClerkError, errorFromDetail, TimeoutError, UnavailableError } from './errors.js';
import { PIPELINE_IDLE_CLOSE_MS, PIPELINE_MESSAGE_BYTES_TARGET } from './limits.js';
import { type ReadinessWatch, watchReadiness } from './readiness.js';

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
  readonly call: grpc.ClientDuplexStream<PipelineRequest, PipelineResponse>;
  /** Whether the channel was READY at some moment since the stream opened. */
  readonly readiness: ReadinessWatch;
  done: boolean;
  /** Counts messages received, so a timed-out call can tell a stalled stream from a slow op. */
  received: number;
}

const definition = KVServiceService.pipeline;

export class PipelineLink {
  private stream: OpenStream | undefined;
  private readonly pending = new Map<number, PendingCall>();
  private queue: PipelineOp[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private nextId = 1;
  private closed = false;
  private idleTimer: NodeJS.Timeout | undefined;
  /** False once the node answered UNIMPLEMENTED (a node from before Pipeline existed). */
  supported = true;

  constructor(private readonly client: grpc.Client) {}

  call<M extends PipelineMethod>(method: M, request: OpRequest<M>, options: AttemptOptions): Promise<PipelineOutcome<OpResponse<M>>> {
    return new Promise((resolve) => {
      if (options.signal.aborted || this.closed) {
        resolve({ ok: false, error: new AbortedError(), fromServer: false, mayHaveReachedServer: false });
        return;
      }
      this.stopIdleTimer();
      const id = this.nextId++;
      const onAbort = (): void => this.abort(id);
      const timer = setTimeout(() => this.timeOut(id), options.timeoutMs);
      this.pending.set(id, { method, receivedAtWrite: 0, resolve: resolve as PendingCall['resolve'], timer, signal: options.signal, onAbort, stream: undefined });
      options.signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push({ id, [method]: request });
      this.queuedBytes += requestBytes(request);
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
    });
  }

  close(): void {
    this.closed = true;
    this.stopIdleTimer();
    for (const id of [...this.pending.keys()]) this.finish(id, this.failure(id, new AbortedError('clerk closed')));
    // Cancel rather than half-close: a stream to an unreachable node would otherwise keep the process alive.
    this.stream?.call.cancel();
  }

  /**
   * An abort. An op written to a stream whose channel was never ready is
   * still in grpc-js's buffer: cancelling the stream keeps it from leaving,
   * so "never reached the node" stays true (its other calls are retried).
   */
  private abort(id: number): void {
    const stream = this.pending.get(id)?.stream;
    this.finish(id, this.failure(id, new AbortedError()));
    if (stream !== undefined && !stream.readiness.sawReady()) this.cancel(stream);
  }

  /** Cancels a stream; later calls open a new one at once. Its calls fail through its error event. */
  private cancel(stream: OpenStream): void {
    if (this.stream === stream) this.stream = undefined;
    stream.call.cancel();
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
    stream.call.write({ ops: live });
  }

  private openStream(): OpenStream {
    if (this.stream !== undefined && !this.stream.done) return this.stream;
    const call = this.client.makeBidiStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      new grpc.Metadata(),
      {},
    );
    const stream: OpenStream = { call, readiness: watchReadiness(this.client.getChannel()), done: false, received: 0 };
    this.stream = stream;
    call.on('data', (response: PipelineResponse) => {
      stream.received += 1;
      for (const result of response.results) this.onResult(result);
    });
    const fail = (reason: string, unimplemented = false): void => {
      if (stream.done) return;
      stream.done = true;
      stream.readiness.stop();
      if (this.stream === stream) this.stream = undefined;
      // UNIMPLEMENTED proves the node ran none of the ops: they go unary instead.
      if (unimplemented) this.supported = false;
      for (const [id, pending] of [...this.pending]) {
        if (pending.stream !== stream) continue;
        const error = new UnavailableError(`pipeline stream ended: ${reason}`);
        this.finish(id, unimplemented ? PIPELINE_UNSUPPORTED : { ok: false, error, fromServer: false, mayHaveReachedServer: stream.readiness.sawReady() });
      }
    };
    const unimplemented = (code: grpc.status): boolean => code === grpc.status.UNIMPLEMENTED;
    call.on('error', (error: grpc.ServiceError) => fail(error.details || error.message, unimplemented(error.code)));
    call.on('status', (status: grpc.StatusObject) => fail(status.details || grpc.status[status.code] || 'closed', unimplemented(status.code)));
    call.on('end', () => fail('closed by the node'));
    return stream;
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
    return { ok: false, error, fromServer: false, mayHaveReachedServer: stream?.readiness.sawReady() ?? false };
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
      // Nothing is in flight on it: cancelling loses nothing.
      this.cancel(stream);
    }, PIPELINE_IDLE_CLOSE_MS);
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
