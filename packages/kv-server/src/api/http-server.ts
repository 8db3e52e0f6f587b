/**
 * HTTP front end on --client-addr: `PUT/GET/DELETE /kv/<key>` (the body is the
 * value; the key is every byte of the request target after `/kv/` up to the
 * query string, percent-decoded once and never path-normalised: `/kv/a/../b`
 * is the key `a/../b`), `GET /status`,
 * `/healthz`, `/readyz`, `/metrics`, and the dashboard at `/`.
 * Errors are JSON `{ code, message, leaderId?, leaderAddress? }` with the
 * status from ERROR_WIRE; a follower answers 503 "not the leader" with the
 * leader's HTTP address in `x-cairn-leader`. Every response names the
 * node's cluster in the `cairn-cluster-id` header.
 * Read-your-writes as over gRPC: PUT and DELETE answer `index` (the log index
 * the write was applied at), and `GET ?consistency=serializable&min_index=N`
 * waits until this node's reads see index N (UNAVAILABLE, 503, if it does
 * not get there in time).
 * Leases: `/lease/...` and `/leases` (http-lease.ts); `PUT /kv/<key>?lease=ID`
 * attaches the key to a lease.
 * History and txn: `GET /kv/<key>?rev=N` reads the key as of revision N;
 * `DELETE /kv/<prefix>?prefix=1` deletes every key with the prefix at one
 * revision; `POST /txn` takes a txn as JSON (http-txn.ts). GET answers the
 * revision read at in `x-cairn-revision`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { CLUSTER_ID_HEADER, Consistency } from '@cairn/proto';
import { CompactedError, InvalidArgumentError, KvError, NotLeaderError } from '../errors.js';
import { ERROR_WIRE } from './error-wire.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { buildStatus, type StatusSource } from './cluster-service.js';
import { renderDashboard } from './dashboard.js';
import { toKvError } from './grpc-errors.js';
import type { KvApi } from './kv-api.js';
import { parseUintParam, readBody, sendJson } from './http-io.js';
import { handleLease, parseLeaseParam } from './http-lease.js';
import { parseRevisionParam, serveTxn } from './http-txn.js';
import type { LeaseApi } from './lease-api.js';
import { measuredCall, type MeasuredCall } from './measured-call.js';
import { listKeys, renderKeyBrowser } from '../watch/key-browser.js';
import type { SseWatches } from '../watch/sse-watch.js';

export interface HttpDeps {
  api: KvApi;
  leases?: LeaseApi;
  status: StatusSource;
  metrics: Metrics;
  logger: Logger;
  valueBytesMax: number;
  recentEvents: () => unknown[];
  /** `GET /watch/<key>` as Server-Sent Events (watch/sse-watch.ts). */
  watch?: SseWatches;
}

export function createHttpServer(deps: HttpDeps): Server {
  // KV requests are counted in cairn_requests_total like gRPC ones (same op and code labels).
  const measured = measuredCall(deps.metrics);
  return createServer((request, response) => {
    // Every answer names the node's cluster, as gRPC answers do (absent while a joining node does not know it).
    const clusterId = deps.status.cluster.id;
    if (clusterId !== undefined) response.setHeader(CLUSTER_ID_HEADER, clusterId);
    route(deps, measured, request, response).catch((error: unknown) =>
      sendError(response, toKvError(error, deps.logger), (id) => deps.status.loop.members.get(id)?.httpAddress),
    );
  });
}

/**
 * The request target's path and query exactly as the client sent them. No
 * URL parser here: WHATWG URL resolves `..` and `%2E%2E` segments, which
 * would turn `PUT /kv/a/../b` into a write of key `b` and `/kv/../status`
 * into `/status`.
 */
export function splitRequestTarget(target: string): { path: string; query: URLSearchParams } {
  // Absolute form (`GET http://host/kv/k`, as proxies send): drop scheme and authority.
  const path = target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i, '');
  const queryAt = path.indexOf('?');
  if (queryAt < 0) return { path, query: new URLSearchParams() };
  return { path: path.slice(0, queryAt), query: new URLSearchParams(path.slice(queryAt + 1)) };
}

/**
 * Percent-decodes a raw path segment exactly once, into bytes: `%2F` is a
 * `/` in the key, `%25` a `%`, `%FF` the byte 0xFF (keys are bytes, as in gRPC).
 */
export function decodeKeyFromPath(raw: string): Buffer {
  const bytes = Buffer.allocUnsafe(raw.length);
  let length = 0;
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 0x25 /* % */) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/i.test(hex)) throw new InvalidArgumentError('the key in the URL is not valid percent-encoding');
      bytes[length++] = parseInt(hex, 16);
      i += 2;
    } else if (code <= 0x7f) {
      bytes[length++] = code;
    } else {
      // Node's parser refuses raw non-ASCII targets; this only guards direct callers.
      throw new InvalidArgumentError('the key in the URL must be percent-encoded ASCII');
    }
  }
  return bytes.subarray(0, length);
}

async function route(deps: HttpDeps, measured: MeasuredCall, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const target = splitRequestTarget(request.url ?? '/');
  const path = target.path;
  if (path.startsWith('/kv/')) return handleKv(deps, measured, request, response, target);
  if (path === '/leases' || path.startsWith('/lease/')) return handleLease(deps.leases, measured, request, response, target);
  if (path === '/txn') return sendJson(response, 200, await serveTxn(deps.api, measured, request, deps.valueBytesMax));
  if (request.method !== 'GET' && request.method !== 'HEAD')
    return sendJson(response, 405, { code: 'METHOD_NOT_ALLOWED', message: `${request.method} not allowed on ${path}` });
  if (path.startsWith('/watch/') && deps.watch !== undefined)
    return deps.watch.serve(request, response, decodeKeyFromPath(path.slice('/watch/'.length)), target.query);
  if (path.startsWith('/keys/'))
    return sendJson(response, 200, await listKeys(deps.api, decodeKeyFromPath(path.slice('/keys/'.length)), target.query));
  switch (path) {
    case '/keyvalue':
      response.setHeader('content-type', 'text/html; charset=utf-8');
      return sendText(response, 200, renderKeyBrowser());
    case '/status':
      return sendJson(response, 200, {
        ...(toJson(await buildStatus(deps.status)) as object),
        peerLinks: peerLinks(deps),
        events: deps.recentEvents(),
      });
    case '/healthz':
      return sendText(response, 200, 'ok\n');
    case '/readyz': {
      const loop = deps.status.loop;
      const ready = loop.currentLeaderId !== 0;
      return sendText(response, ready ? 200 : 503, ready ? 'ready\n' : 'no leader known\n');
    }
    case '/metrics':
      response.setHeader('content-type', deps.metrics.contentType);
      return sendText(response, 200, await deps.metrics.render());
    case '/':
    case '/dashboard':
      response.setHeader('content-type', 'text/html; charset=utf-8');
      return sendText(response, 200, renderDashboard());
    default:
      return sendJson(response, 404, { code: 'NOT_FOUND', message: `no route ${path}` });
  }
}

async function handleKv(
  deps: HttpDeps,
  measured: MeasuredCall,
  request: IncomingMessage,
  response: ServerResponse,
  target: { path: string; query: URLSearchParams },
): Promise<void> {
  const key = (): Buffer => decodeKeyFromPath(target.path.slice('/kv/'.length));
  switch (request.method) {
    case 'GET': {
      const consistency = target.query.get('consistency') === 'serializable' ? Consistency.SERIALIZABLE : Consistency.LINEARIZABLE;
      const result = await measured('get', () =>
        deps.api.get({
          key: key(),
          consistency,
          minIndex: parseMinIndex(target.query.get('min_index')),
          revision: parseRevisionParam(target.query.get('rev')),
        }),
      );
      response.setHeader('x-cairn-revision', String(result.header?.revision ?? 0));
      if (result.kv === undefined) return sendJson(response, 404, { code: 'NOT_FOUND', message: 'key not found' });
      response.setHeader('x-cairn-version', String(result.kv.version));
      response.setHeader('x-cairn-mod-revision', String(result.kv.modRevision));
      response.setHeader('content-type', 'application/octet-stream');
      response.statusCode = 200;
      response.end(result.kv.value);
      return;
    }
    case 'PUT': {
      const lease = parseLeaseParam(target.query.get('lease'));
      const result = await measured('put', async () =>
        deps.api.put({ key: key(), value: await readBody(request, deps.valueBytesMax), prevKv: false, lease }),
      );
      return sendJson(response, 200, { version: result.version, index: result.index });
    }
    case 'DELETE': {
      const prefix = target.query.get('prefix') === '1';
      const result = await measured('delete', () => deps.api.delete({ key: key(), prevKv: false, prefix }));
      return sendJson(response, result.deleted ? 200 : 404, { deleted: result.deleted, count: result.count, index: result.index });
    }
    default:
      return sendJson(response, 405, { code: 'METHOD_NOT_ALLOWED', message: `${request.method} not allowed on /kv/` });
  }
}

/** `?min_index=N`: a non-negative integer, or absent. */
function parseMinIndex(text: string | null): number | undefined {
  if (text === null) return undefined;
  return parseUintParam(text, 'min_index must be a non-negative integer');
}

function sendError(response: ServerResponse, error: KvError, leaderHttpAddress: (id: number) => string | undefined): void {
  if (response.headersSent) return void response.end();
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error instanceof CompactedError) body.compactRevision = error.compactRevision;
  if (error instanceof NotLeaderError) {
    const leaderHttp = leaderHttpAddress(error.leaderId) ?? '';
    body.message = 'not the leader';
    body.leaderId = error.leaderId;
    body.leaderAddress = leaderHttp;
    if (leaderHttp !== '') response.setHeader('x-cairn-leader', leaderHttp);
  }
  sendJson(response, ERROR_WIRE[error.code].http, body);
}

/** Each peer link: up, or down since when and why (a peer cut off shows here before raft notices). */
function peerLinks(deps: HttpDeps): unknown[] {
  return deps.status.loop.transport.linkStates().map((link) => ({
    peer: link.peer,
    address: link.address,
    up: link.up,
    since: new Date(link.sinceMs).toISOString(),
    ...(link.reason === undefined ? {} : { reason: link.reason }),
  }));
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response.statusCode = status;
  response.end(text);
}

/** Buffers become UTF-8 strings so /status reads well. */
function toJson(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v: unknown) =>
      v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer'
        ? Buffer.from((v as { data: number[] }).data).toString('utf8')
        : v,
    ),
  );
}
