/** A fake transport whose connections answer unary calls from a function and record the streams opened on them. */
import type {
  AttemptOptions,
  BidiStream,
  CallResult,
  Connection,
  RpcMethod,
  RpcRequest,
  RpcResponse,
  StreamEvents,
  StreamMethod,
  StreamRequest,
  StreamResponse,
  Transport,
} from '../src/index.js';
import { AbortedError, type ClerkError } from '../src/index.js';

/** One stream a clerk opened: what it wrote, and handles to answer or end it. */
export class FakeStream<M extends StreamMethod = StreamMethod> {
  readonly written: StreamRequest<M>[] = [];
  cancelled = false;
  ended = false;

  constructor(
    readonly address: string,
    readonly method: M,
    private readonly events: StreamEvents<StreamResponse<M>>,
  ) {}

  send(response: StreamResponse<M>): void {
    if (!this.ended) this.events.message(response);
  }

  end(error: ClerkError): void {
    if (this.ended) return;
    this.ended = true;
    this.events.ended(error);
  }
}

export type Unary = (address: string, method: RpcMethod, request: unknown) => object;

export class FakeStreamTransport implements Transport {
  readonly streams: FakeStream[] = [];
  readonly calls: Array<{ address: string; method: RpcMethod; request: unknown }> = [];
  /** Called whenever a stream opens (after it is recorded). */
  onOpen: (stream: FakeStream) => void = () => undefined;

  constructor(private readonly unary: Unary = () => ({})) {}

  connect(address: string): Connection {
    return {
      address,
      call: <M extends RpcMethod>(method: M, request: RpcRequest<M>, _options: AttemptOptions): Promise<CallResult<RpcResponse<M>>> => {
        this.calls.push({ address, method, request });
        return Promise.resolve({ ok: true, response: this.unary(address, method, request) as RpcResponse<M> });
      },
      openStream: <M extends StreamMethod>(method: M, events: StreamEvents<StreamResponse<M>>): BidiStream<StreamRequest<M>> => {
        const stream = new FakeStream<M>(address, method, events);
        this.streams.push(stream as unknown as FakeStream);
        queueMicrotask(() => this.onOpen(stream as unknown as FakeStream));
        return {
          write: (request) => {
            if (!stream.ended) stream.written.push(request);
          },
          cancel: () => {
            stream.cancelled = true;
            queueMicrotask(() => stream.end(new AbortedError('stream cancelled')));
          },
        };
      },
      close: () => undefined,
    };
  }

  streamsOf<M extends StreamMethod>(method: M): FakeStream<M>[] {
    return this.streams.filter((stream) => stream.method === method) as unknown as FakeStream<M>[];
  }
}
