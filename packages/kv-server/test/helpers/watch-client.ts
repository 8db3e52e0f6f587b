/**
 * Test clients for watches: a gRPC Watch stream that records every response,
 * and an SSE reader over plain node:http (what `curl -N` sees).
 */
import * as grpc from '@grpc/grpc-js';
import { request } from 'node:http';
import { type WatchCreateRequest, type WatchResponse, WatchServiceClient } from '@cairn/proto';
import { waitFor } from '@cairn/testkit';

export class WatchStreamClient {
  readonly responses: WatchResponse[] = [];
  ended: grpc.StatusObject | undefined;
  readonly call: grpc.ClientDuplexStream<import('@cairn/proto').WatchRequest, WatchResponse>;
  private readonly client: WatchServiceClient;

  constructor(address: string) {
    this.client = new WatchServiceClient(address, grpc.credentials.createInsecure());
    this.call = this.client.watch();
    this.call.on('data', (response: WatchResponse) => this.responses.push(response));
    this.call.on('status', (status: grpc.StatusObject) => (this.ended = status));
    this.call.on('error', () => undefined);
  }

  create(request: Partial<WatchCreateRequest>): void {
    this.call.write({
      createRequest: {
        key: Buffer.alloc(0),
        prefix: false,
        startRevision: 0,
        progressNotify: false,
        filters: [],
        prevKv: false,
        watchId: 0,
        ...request,
      },
    });
  }

  cancel(watchId: number): void {
    this.call.write({ cancelRequest: { watchId } });
  }

  progress(): void {
    this.call.write({ progressRequest: {} });
  }

  /** Waits for a response matching `match` (searching from response `from`). */
  async next(match: (r: WatchResponse) => boolean, what: string, deadlineMs = 20_000): Promise<WatchResponse> {
    return waitFor(() => this.responses.find(match), { what, deadlineMs });
  }

  /** The revisions of watch `id`'s events, in order received. */
  revisions(id: number): number[] {
    return this.responses.filter((r) => r.watchId === id).flatMap((r) => [...new Set(r.events.map((e) => e.kv!.modRevision))]);
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

export interface SseMessage {
  event?: string;
  id?: string;
  data?: string;
  comments: string[];
}

/** Reads `GET path` as Server-Sent Events; `messages` grows as they arrive. */
export class SseClient {
  readonly messages: SseMessage[] = [];
  status = 0;
  headers: Record<string, string | string[] | undefined> = {};
  body = '';
  ended = false;
  private readonly req: ReturnType<typeof request>;
  private buffer = '';
  response: import('node:http').IncomingMessage | undefined;

  constructor(httpAddress: string, path: string, headers: Record<string, string> = {}) {
    const [host, port] = httpAddress.split(':');
    this.req = request({ host, port: Number(port), path, headers }, (response) => {
      this.response = response;
      this.status = response.statusCode ?? 0;
      this.headers = response.headers;
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => this.receive(chunk));
      response.on('end', () => (this.ended = true));
      response.on('error', () => (this.ended = true));
    });
    this.req.on('error', () => (this.ended = true));
    this.req.end();
  }

  private receive(chunk: string): void {
    this.body += chunk;
    this.buffer += chunk;
    for (let at = this.buffer.indexOf('\n\n'); at >= 0; at = this.buffer.indexOf('\n\n')) {
      const block = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at + 2);
      const message: SseMessage = { comments: [] };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) message.comments.push(line.slice(1).trim());
        else {
          const colon = line.indexOf(':');
          const field = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event' || field === 'id' || field === 'data') message[field] = value;
        }
      }
      this.messages.push(message);
    }
  }

  /** The revisions of the data events received, in order. */
  revisions(): number[] {
    return this.messages.filter((m) => m.data !== undefined && m.event === undefined).map((m) => Number(m.id));
  }

  close(): void {
    this.req.destroy();
  }
}
