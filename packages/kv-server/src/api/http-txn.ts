/**
 * `POST /txn` on the HTTP API: a TxnRequest as JSON (docs/http-api.md).
 * Keys and values are UTF-8 strings, or base64 with `"encoding": "base64"`
 * (then the reply's keys and values are base64 too):
 *
 *   { "compare": [{ "key": "k", "target": "version", "result": "=", "version": 2 }],
 *     "success": [{ "put": { "key": "k", "value": "v", "lease": 0 } },
 *                 { "get": { "key": "k" } },
 *                 { "delete": { "key": "p/", "prefix": true } },
 *                 { "range": { "prefix": "p/", "limit": 10 } }],
 *     "failure": [] }
 *
 * target: value | version | create | mod | lease, with the operand field of
 * the same name (create_revision / mod_revision also accepted as
 * createRevision / modRevision); result: = | != | < | >.
 * Reply: { succeeded, revision, index, responses: [{ put | get | delete | range }] }.
 */
import type { IncomingMessage } from 'node:http';
import {
  type Compare,
  CompareResult,
  CompareTarget,
  type KeyValue,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from '@cairn/proto';
import { InvalidArgumentError, ValueTooLargeError } from '../errors.js';
import { parseUintParam, readBody } from './http-io.js';
import type { KvApi } from './kv-api.js';
import type { MeasuredCall } from './measured-call.js';

type Encoding = 'utf8' | 'base64';

const TARGETS: Record<string, CompareTarget> = {
  value: CompareTarget.VALUE,
  version: CompareTarget.VERSION,
  create: CompareTarget.CREATE,
  mod: CompareTarget.MOD,
  lease: CompareTarget.LEASE,
};
const RESULTS: Record<string, CompareResult> = {
  '=': CompareResult.EQUAL,
  '!=': CompareResult.NOT_EQUAL,
  '<': CompareResult.LESS,
  '>': CompareResult.GREATER,
};

/** Parses the JSON body of `POST /txn` into a TxnRequest; INVALID_ARGUMENT naming the field otherwise. */
export function parseTxnJson(body: Buffer): { request: TxnRequest; encoding: Encoding } {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new InvalidArgumentError('the txn body is not JSON');
  }
  const root = object(json, 'the txn body');
  const encoding = root.encoding === undefined ? 'utf8' : root.encoding;
  if (encoding !== 'utf8' && encoding !== 'base64') throw new InvalidArgumentError('encoding must be "utf8" or "base64"');
  const bytes = (value: unknown, field: string): Buffer => {
    if (typeof value !== 'string') throw new InvalidArgumentError(`${field} must be a string`);
    return Buffer.from(value, encoding);
  };
  const compare = list(root.compare, 'compare').map((item, i): Compare => {
    const c = object(item, `compare[${i}]`);
    const target = TARGETS[String(c.target)];
    const result = RESULTS[String(c.result ?? '=')];
    if (target === undefined) throw new InvalidArgumentError(`compare[${i}].target must be value, version, create, mod or lease`);
    if (result === undefined) throw new InvalidArgumentError(`compare[${i}].result must be =, !=, < or >`);
    const number = (value: unknown): number | undefined => (value === undefined ? undefined : count(value, `compare[${i}] operand`));
    return {
      key: bytes(c.key, `compare[${i}].key`),
      target,
      result,
      value: c.value === undefined ? undefined : bytes(c.value, `compare[${i}].value`),
      version: number(c.version),
      createRevision: number(c.createRevision ?? c.create_revision ?? c.create),
      modRevision: number(c.modRevision ?? c.mod_revision ?? c.mod),
      lease: number(c.lease),
    };
  });
  const ops = (value: unknown, branch: string): RequestOp[] =>
    list(value, branch).map((item, i): RequestOp => {
      const op = object(item, `${branch}[${i}]`);
      const field = `${branch}[${i}]`;
      if (op.put !== undefined) {
        const put = object(op.put, `${field}.put`);
        const lease = put.lease === undefined ? undefined : count(put.lease, `${field}.put.lease`);
        return {
          put: {
            key: bytes(put.key, `${field}.put.key`),
            value: bytes(put.value ?? '', `${field}.put.value`),
            prevKv: put.prevKv === true,
            lease,
          },
        };
      }
      if (op.get !== undefined) return { get: { key: bytes(object(op.get, `${field}.get`).key, `${field}.get.key`), consistency: 0 } };
      if (op.delete !== undefined) {
        const del = object(op.delete, `${field}.delete`);
        return { delete: { key: bytes(del.key, `${field}.delete.key`), prefix: del.prefix === true, prevKv: del.prevKv === true } };
      }
      if (op.range !== undefined) {
        const range = object(op.range, `${field}.range`);
        return {
          range: {
            prefix: bytes(range.prefix ?? '', `${field}.range.prefix`),
            startAfter: Buffer.alloc(0),
            limit: range.limit === undefined ? 0 : count(range.limit, `${field}.range.limit`),
            consistency: 0,
            keysOnly: range.keysOnly === true,
          },
        };
      }
      throw new InvalidArgumentError(`${field} must have put, get, delete or range`);
    });
  return { request: { compare, success: ops(root.success, 'success'), failure: ops(root.failure, 'failure') }, encoding };
}

/** The JSON reply of `POST /txn`. */
export function txnJson(response: TxnResponse, encoding: Encoding): unknown {
  const kv = (value: KeyValue | undefined): unknown =>
    value === undefined
      ? undefined
      : {
          key: Buffer.from(value.key).toString(encoding),
          value: Buffer.from(value.value).toString(encoding),
          version: value.version,
          createRevision: value.createRevision,
          modRevision: value.modRevision,
          lease: value.lease,
        };
  const one = (op: ResponseOp): unknown => {
    if (op.put !== undefined) return { put: { version: op.put.version, prevKv: kv(op.put.prevKv) } };
    if (op.get !== undefined) return { get: { kv: kv(op.get.kv) } };
    if (op.delete !== undefined) return { delete: { deleted: op.delete.count, prevKvs: op.delete.prevKvs.map(kv) } };
    return { range: { kvs: op.range?.kvs.map(kv) ?? [], more: op.range?.more ?? false } };
  };
  return {
    succeeded: response.succeeded,
    revision: response.header?.revision ?? 0,
    index: response.index,
    responses: response.responses.map(one),
  };
}

/** `?rev=N`: a read at revision N (0 or absent = the latest). */
export function parseRevisionParam(text: string | null): number {
  if (text === null) return 0;
  return parseUintParam(text, 'rev must be a non-negative integer');
}

function object(value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InvalidArgumentError(`${field} must be an object`);
  return value as Record<string, unknown>;
}

function list(value: unknown, field: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidArgumentError(`${field} must be an array`);
  return value;
}

function count(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgumentError(`${field} must be a non-negative integer`);
  return value;
}

/** `POST /txn`: runs the txn and returns the JSON reply. */
export async function serveTxn(
  api: Pick<KvApi, 'txn'>,
  measured: MeasuredCall,
  request: IncomingMessage,
  valueBytesMax: number,
): Promise<unknown> {
  if (request.method !== 'POST') throw new InvalidArgumentError(`use POST /txn, not ${request.method}`);
  // Room for a branch of large values in base64.
  const bytesMax = 4 * valueBytesMax;
  let body: Buffer;
  try {
    body = await readBody(request, bytesMax);
  } catch (error) {
    if (error instanceof ValueTooLargeError) throw new InvalidArgumentError(`the body is larger than ${bytesMax} bytes`);
    throw error;
  }
  const { request: txn, encoding } = parseTxnJson(body);
  return txnJson(await measured('txn', () => api.txn(txn)), encoding);
}
