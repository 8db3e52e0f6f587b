/**
 * The two carriers of a pipeline stream. The raw KV link is a TCP connection
 * to the node's port that opens with CLIENT_LINK_MAGIC and then carries
 * length-prefixed PipelineRequest / PipelineResponse frames; it spares both
 * ends HTTP/2's per-message work (the largest CPU cost of a 1-client round
 * trip after the disk). The gRPC `Pipeline` call carries the same messages
 * wherever the raw link cannot go (TLS credentials, an HTTP proxy) or is
 * turned off (`rawLink: false`, e.g. for a server in front of the node that
 * speaks only HTTP/2). A connection uses one of the two, never both.
 */
import * as grpc from '@grpc/grpc-js';
import { CLIENT_LINK_MAGIC, FramedLink, KVServiceService, type LinkClosed, PipelineRequest, PipelineResponse } from '@cairn/proto';
import { CLIENT_LINK_FRAME_BYTES_MAX, CLIENT_LINK_KEEPALIVE_MS } from './limits.js';
import { watchReadiness } from './readiness.js';

/** One open stream to a node. */
export interface Carrier {
  write(request: PipelineRequest): void;
  /** Ends the stream from this side; `ended` follows (asynchronously). */
  cancel(): void;
  /** Whether anything written may have reached the node: a connection was ready at some moment. */
  sawReady(): boolean;
  /** Idle: stop keeping the process alive, staying open (the next write resumes). Absent: cancel instead. */
  park?(): void;
}

export interface CarrierEvents {
  response(response: PipelineResponse): void;
  /** The stream is over; `reason` says why, for the calls' error. */
  ended(reason: string): void;
}

export type OpenCarrier = (events: CarrierEvents) => Carrier;

const definition = KVServiceService.pipeline;

/** A `Pipeline` call on the node's gRPC channel. */
export function grpcCarrier(client: grpc.Client): OpenCarrier {
  return (events) => {
    const call = client.makeBidiStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      new grpc.Metadata(),
      {},
    );
    const readiness = watchReadiness(client.getChannel());
    let done = false;
    const end = (reason: string): void => {
      if (done) return;
      done = true;
      readiness.stop();
      events.ended(reason);
    };
    call.on('data', (response: PipelineResponse) => events.response(response));
    call.on('error', (error: grpc.ServiceError) => end(error.details || error.message));
    call.on('status', (status: grpc.StatusObject) => end(status.details || grpc.status[status.code] || 'closed'));
    call.on('end', () => end('closed by the node'));
    return { write: (request) => call.write(request), cancel: () => call.cancel(), sawReady: () => readiness.sawReady() };
  };
}

/**
 * Host and port of a `host:port` or `[v6]:port` address, for the raw link;
 * undefined (gRPC only) for any other address, and where grpc-js would go
 * through an HTTP proxy (grpc_proxy / https_proxy / http_proxy, unless the
 * host matches no_grpc_proxy / no_proxy): the raw link cannot.
 */
export function rawLinkTarget(address: string, env: NodeJS.ProcessEnv = process.env): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/\s[\]]+)):(\d{1,5})$/.exec(address);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port <= 0 || port > 65_535) return undefined;
  const host = match[1] ?? match[2]!;
  if (proxied(host, env)) return undefined;
  return { host, port };
}

/** Whether grpc-js would send a connection to `host` through an HTTP proxy (CIDR entries are not matched: counted as proxied). */
function proxied(host: string, env: NodeJS.ProcessEnv): boolean {
  if (!(env.grpc_proxy || env.https_proxy || env.http_proxy)) return false;
  const exempt = (env.no_grpc_proxy || env.no_proxy || '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  return !exempt.some((entry) => host.endsWith(entry));
}

/**
 * The raw KV link. Ops wait until the node echoes the magic: any other
 * answer (an HTTP/2 server speaks first) ends the link with nothing sent,
 * so its calls fail as never having reached the node.
 */
export function rawCarrier(target: { host: string; port: number }): OpenCarrier {
  return (events) => {
    const link = FramedLink.dial<PipelineResponse, PipelineRequest>({
      host: target.host,
      port: target.port,
      keepAliveMs: CLIENT_LINK_KEEPALIVE_MS,
      hello: CLIENT_LINK_MAGIC,
      // The node's first message (its cluster id) leaves in the same write as the echo: it is
      // checked before any op is sent, so a node of another cluster is refused having run none.
      expectHello: CLIENT_LINK_MAGIC,
      receive: { codec: PipelineResponse, what: 'PipelineResponse', frameBytesMax: CLIENT_LINK_FRAME_BYTES_MAX },
      sendCodec: PipelineRequest,
      onMessage: (response) => events.response(response),
      onClose: (cause) => events.ended(closeReason(cause, target)),
    });
    return {
      write: (request) => {
        if (link.closed) return;
        link.ref();
        link.send(request);
      },
      // Reported through onClose, after this returns, as a cancelled gRPC call reports its status.
      cancel: () => link.close('connection closed'),
      sawReady: () => link.ready,
      park: () => link.unref(),
    };
  };
}

function closeReason(cause: LinkClosed, target: { host: string; port: number }): string {
  switch (cause.kind) {
    case 'error':
      return cause.code ?? cause.reason;
    case 'remote-end':
      return 'closed by the node';
    case 'bad-frame':
      return `the node sent ${cause.reason}`;
    case 'hello-mismatch':
      return `node at ${formatAddress(target)} did not answer the raw KV link (is it a Cairn node of this version?)`;
    case 'timeout':
    case 'local':
      return cause.reason;
    case 'closed':
      return 'connection closed';
  }
}

function formatAddress(target: { host: string; port: number }): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}
