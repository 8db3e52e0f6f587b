/**
 * HTTP front end on --client-addr: `PUT/GET/DELETE /kv/<key>` (the body is the
 * value; the key is the URL-decoded path as UTF-8 bytes), `GET /status`,
 * `/healthz`, `/readyz`, `/metrics`, and the dashboard at `/`.
 * Errors are JSON `{ code, message, leaderId?, leaderAddress? }` with the
 * status from ERROR_WIRE; a follower answers 503 "not the leader" with the
 * leader's HTTP address in `x-cairn-leader`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Consistency } from '@cairn/proto';
import { ERROR_WIRE, InvalidArgumentError, KvError, NotLeaderError, ValueTooLargeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { buildStatus, type StatusSource } from './cluster-service.js';
import { renderDashboard } from './dashboard.js';
import { toKvError } from './grpc-errors.js';
import type { KvApi } from './kv-api.js';

export interface HttpDeps {
  api: KvApi;
  status: StatusSource;
  metrics: Metrics;
  logger: Logger;
  valueBytesMax: number;
  recentEvents: () => unknown[];
}

export function createHttpServer(deps: HttpDeps): Server {
  return createServer((request, response) => {
    route(deps, request, response).catch((error: unknown) =>
      sendError(response, toKvError(error, deps.logger), (id) => deps.status.loop.members.get(id)?.httpAddress),
    );
  });
}

async function route(deps: HttpDeps, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const path = url.pathname;
  if (path.startsWith('/kv/')) return handleKv(deps, request, response, url);
  if (request.method !== 'GET' && request.method !== 'HEAD') return sendJson(response, 405, { code: 'METHOD_NOT_ALLOWED', message: `${request.method} not allowed on ${path}` });
  switch (path) {
    case '/status':
      return sendJson(response, 200, { ...(toJson(await buildStatus(deps.status)) as object), events: deps.recentEvents() });
    case '/healthz':
      return sendText(response, 200, 'ok\n');
    case '/readyz': {
      const loop = deps.status.loop;
      const ready = loop.currentLeaderId !== 0;
      return sendText(response, ready ? 200 : 503, ready ? 'ready\n' : 'no leader known\n');
    }
    case '/metrics':
      response.setHeader('content-type', 'text/plain; version=0.0.4');
      return sendText(response, 200, deps.metrics.render());
    case '/':
    case '/dashboard':
      response.setHeader('content-type', 'text/html; charset=utf-8');
      return sendText(response, 200, renderDashboard());
    default:
      return sendJson(response, 404, { code: 'NOT_FOUND', message: `no route ${path}` });
  }
}

async function handleKv(deps: HttpDeps, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
  let keyText: string;
  try {
    keyText = decodeURIComponent(url.pathname.slice('/kv/'.length));
  } catch {
    throw new InvalidArgumentError('the key in the URL is not valid percent-encoding');
  }
  const key = Buffer.from(keyText, 'utf8');
  switch (request.method) {
    case 'GET': {
      const consistency = url.searchParams.get('consistency') === 'serializable' ? Consistency.SERIALIZABLE : Consistency.LINEARIZABLE;
      const result = await deps.api.get({ key, consistency });
      if (result.kv === undefined) return sendJson(response, 404, { code: 'NOT_FOUND', message: 'key not found' });
      response.setHeader('x-cairn-version', String(result.kv.version));
      response.setHeader('content-type', 'application/octet-stream');
      response.statusCode = 200;
      response.end(result.kv.value);
      return;
    }
    case 'PUT': {
      const value = await readBody(request, deps.valueBytesMax);
      const result = await deps.api.put({ key, value, prevKv: false });
      return sendJson(response, 200, { version: result.version });
    }
    case 'DELETE': {
      const result = await deps.api.delete({ key });
      return sendJson(response, result.deleted ? 200 : 404, { deleted: result.deleted });
    }
    default:
      return sendJson(response, 405, { code: 'METHOD_NOT_ALLOWED', message: `${request.method} not allowed on /kv/` });
  }
}

function readBody(request: IncomingMessage, bytesMax: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > bytesMax) {
      request.resume();
      return reject(new ValueTooLargeError(declared, bytesMax));
    }
    const parts: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bytesMax) {
        request.removeAllListeners('data');
        request.resume();
        reject(new ValueTooLargeError(size, bytesMax));
        return;
      }
      parts.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(parts)));
    request.on('error', reject);
  });
}

function sendError(response: ServerResponse, error: KvError, leaderHttpAddress: (id: number) => string | undefined): void {
  if (response.headersSent) return void response.end();
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error instanceof NotLeaderError) {
    const leaderHttp = leaderHttpAddress(error.leaderId) ?? '';
    body.message = 'not the leader';
    body.leaderId = error.leaderId;
    body.leaderAddress = leaderHttp;
    if (leaderHttp !== '') response.setHeader('x-cairn-leader', leaderHttp);
  }
  sendJson(response, ERROR_WIRE[error.code].http, body);
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.statusCode = status;
  response.setHeader('content-type', 'application/json');
  response.end(JSON.stringify(body) + '\n');
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response.statusCode = status;
  response.end(text);
}

/** Buffers become UTF-8 strings so /status reads well. */
function toJson(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('utf8') : v)));
}
