/**
 * Leases over HTTP (JSON bodies and answers), the same LeaseApi as gRPC:
 *   POST /lease/grant      {"ttl": seconds, "id"?: n}  -> {"id", "ttl", "index"}
 *   POST /lease/revoke     {"id": n}                   -> {"deleted", "index"}
 *   POST /lease/keepalive  {"id": n}                   -> {"id", "ttl"} (404 LEASE_NOT_FOUND once it is gone)
 *   GET  /lease/<id>[?keys=1]  -> {"id", "ttl" (remaining), "grantedTtl", "keys"?} (404 LEASE_NOT_FOUND)
 *   GET  /leases               -> {"leases": [id, ...]}
 * Errors are thrown and answered by http-server.ts like every other route.
 * Keys are listed as UTF-8 text.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidArgumentError, LeaseNotFoundError, ValueTooLargeError } from '../errors.js';
import { parseUintParam, readBody, sendJson } from './http-io.js';
import type { LeaseApi } from './lease-api.js';
import type { MeasuredCall } from './measured-call.js';

/** A lease request body is a few numbers. */
const LEASE_BODY_BYTES_MAX = 4096;

export async function handleLease(
  leases: LeaseApi | undefined,
  measured: MeasuredCall,
  request: IncomingMessage,
  response: ServerResponse,
  target: { path: string; query: URLSearchParams },
): Promise<void> {
  if (leases === undefined) return sendJson(response, 404, { code: 'NOT_FOUND', message: 'this node serves no leases' });
  const { path, query } = target;
  if (request.method === 'POST') {
    const body = await readJson(request);
    switch (path) {
      case '/lease/grant': {
        const ttl = numberField(body, 'ttl', true);
        const granted = await measured('lease_grant', () => leases.grant({ ttl, id: numberField(body, 'id', false) }));
        return sendJson(response, 200, { id: granted.id, ttl: granted.ttl, index: granted.index });
      }
      case '/lease/revoke': {
        const id = numberField(body, 'id', true);
        const revoked = await measured('lease_revoke', () => leases.revoke({ id, expired: false }));
        return sendJson(response, 200, { deleted: revoked.deleted, index: revoked.index });
      }
      case '/lease/keepalive': {
        const id = numberField(body, 'id', true);
        const kept = await measured('lease_keepalive', () => leases.keepAlive(id));
        if (kept.ttl === 0) throw new LeaseNotFoundError(id);
        return sendJson(response, 200, { id, ttl: kept.ttl });
      }
    }
  } else if (request.method === 'GET' || request.method === 'HEAD') {
    if (path === '/leases') {
      const list = await measured('lease_leases', () => leases.list());
      return sendJson(response, 200, { leases: list.leases.map((lease) => lease.id) });
    }
    const idText = path.slice('/lease/'.length);
    if (path.startsWith('/lease/') && /^[0-9]{1,16}$/.test(idText)) {
      const id = Number(idText);
      const withKeys = query.get('keys') === '1' || query.get('keys') === 'true';
      const ttl = await measured('lease_time_to_live', () => leases.timeToLive({ id, keys: withKeys }));
      if (ttl.ttl < 0) throw new LeaseNotFoundError(id);
      const keys = withKeys ? { keys: ttl.keys.map((key) => key.toString('utf8')) } : {};
      return sendJson(response, 200, { id, ttl: ttl.ttl, grantedTtl: ttl.grantedTtl, ...keys });
    }
  } else {
    return sendJson(response, 405, { code: 'METHOD_NOT_ALLOWED', message: `${request.method} not allowed on ${path}` });
  }
  return sendJson(response, 404, { code: 'NOT_FOUND', message: `no route ${request.method} ${path}` });
}

/** `?lease=ID` on PUT /kv/<key>: a positive integer, or absent (no lease). */
export function parseLeaseParam(text: string | null): number {
  if (text === null || text === '') return 0;
  return parseUintParam(text, 'lease must be a lease id (a positive integer)');
}

function numberField(body: Record<string, unknown>, name: string, required: boolean): number {
  const value = body[name];
  if (value === undefined && !required) return 0;
  const number = typeof value === 'string' && /^-?[0-9]{1,16}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number))
    throw new InvalidArgumentError(`the JSON body needs "${name}" as an integer${required ? '' : ' (or no such field)'}`);
  return number;
}

async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
  let body: Buffer;
  try {
    body = await readBody(request, LEASE_BODY_BYTES_MAX);
  } catch (error) {
    if (error instanceof ValueTooLargeError)
      throw new InvalidArgumentError(`a lease request body is at most ${LEASE_BODY_BYTES_MAX} bytes`);
    throw error;
  }
  const text = body.toString('utf8');
  try {
    const parsed: unknown = text.trim() === '' ? {} : JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new InvalidArgumentError('the body must be a JSON object');
  }
}
