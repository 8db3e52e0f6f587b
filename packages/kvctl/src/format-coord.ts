/** Text and JSON forms of the coordination results and watch events (shared by plain, JSON and Ink output). */
import { displayBytes } from '@cairn/linearizability';
import type { KeyValueLike, TxnOpResultLike, WatchEventLike } from './clerk-like.js';
import { jsonBytes } from './json-bytes.js';
import type { CoordResult } from './run-coord.js';

/** A key-value in JSON with its revisions (when the clerk gave them). */
export function jsonKv(kv: KeyValueLike): Record<string, unknown> {
  return {
    key: jsonBytes(kv.key),
    value: jsonBytes(kv.value),
    version: kv.version,
    createRevision: kv.createRevision ?? null,
    modRevision: kv.modRevision ?? null,
    lease: kv.lease ?? 0,
  };
}

/** Lines for people: etcdctl's shape (SUCCESS/FAILURE then each op) for txn, one sentence for the rest. */
export function coordText(result: CoordResult): string {
  switch (result.kind) {
    case 'txn':
      return [`${result.succeeded ? 'SUCCESS' : 'FAILURE'} (revision ${result.revision})`, ...result.responses.map(txnOpText)].join('\n');
    case 'compact':
      return `compacted at revision ${result.revision}`;
    case 'lease-grant':
      return `lease ${result.id} granted with TTL ${result.ttl}s`;
    case 'lease-revoke':
      return `lease ${result.id} revoked (${result.deleted} key${result.deleted === 1 ? '' : 's'} deleted)`;
    case 'lease-ttl': {
      if (result.ttl < 0) return `lease ${result.id} not found (expired or revoked)`;
      const keys = result.keys === undefined ? '' : `, attached keys: ${result.keys.map((key) => displayBytes(key)).join(', ') || 'none'}`;
      return `lease ${result.id} granted with TTL ${result.grantedTtl}s, remaining ${result.ttl}s${keys}`;
    }
    case 'lease-list':
      return result.ids.length === 0 ? 'no leases' : result.ids.join('\n');
  }
}

function txnOpText(response: TxnOpResultLike): string {
  switch (response.type) {
    case 'put':
      return `OK (version ${response.version})`;
    case 'get':
      return response.kv === undefined ? '(not found)' : `${displayBytes(response.kv.key)}\t${displayBytes(response.kv.value)}`;
    case 'delete':
      return `deleted ${response.count}`;
    case 'range':
      return response.kvs.length === 0
        ? '(no keys)'
        : response.kvs.map((kv) => `${displayBytes(kv.key)}\t${displayBytes(kv.value)}`).join('\n');
  }
}

export function coordJson(result: CoordResult): unknown {
  switch (result.kind) {
    case 'txn':
      return {
        succeeded: result.succeeded,
        revision: result.revision,
        responses: result.responses.map((response) => {
          switch (response.type) {
            case 'put':
              return { type: 'put', version: response.version };
            case 'get':
              return { type: 'get', kv: response.kv === undefined ? null : jsonKv(response.kv) };
            case 'delete':
              return { type: 'delete', deleted: response.count };
            case 'range':
              return { type: 'range', kvs: response.kvs.map(jsonKv), more: response.more };
          }
        }),
      };
    case 'lease-ttl':
      return { id: result.id, ttl: result.ttl, grantedTtl: result.grantedTtl, keys: result.keys?.map(jsonBytes) ?? null };
    default: {
      const { kind: _kind, ...fields } = result;
      return fields;
    }
  }
}

/** `12 PUT config/a v2` (with --prev-kv: `(prev: v1)`); `13 DELETE config/a`. */
export function watchEventLine(event: WatchEventLike, prevKv: boolean): string {
  const value = event.type === 'put' ? ` ${displayBytes(event.value)}` : '';
  const previous = prevKv ? ` (prev: ${event.prevKv === undefined ? 'none' : displayBytes(event.prevKv.value)})` : '';
  return `${event.revision} ${event.type.toUpperCase()} ${displayBytes(event.key)}${value}${previous}`;
}

export function watchEventJson(event: WatchEventLike): Record<string, unknown> {
  return {
    type: event.type,
    revision: event.revision,
    key: jsonBytes(event.key),
    ...(event.type === 'put' ? { value: jsonBytes(event.value) } : {}),
    kv: jsonKv(event.kv),
    prevKv: event.prevKv === undefined ? null : jsonKv(event.prevKv),
  };
}
