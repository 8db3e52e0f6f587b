/**
 * Transactions: the builders a caller writes a txn with (`compare.*`,
 * `op.*`), and their conversion to and from the wire messages.
 *
 * ```ts
 * const result = await clerk.txn({
 *   if: [compare.version('lock', '=', 0)],
 *   then: [op.put('lock', 'me', { lease })],
 *   else: [op.get('lock')],
 * });
 * ```
 */
import {
  type Compare,
  CompareResult,
  CompareTarget,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
  type WriteSession,
} from '@cairn/proto';
import { InternalError, InvalidArgumentError } from './errors.js';
import { type Bytes, fromWireKeyValue, type KeyValue, optionalLeaseId, optionalRevision, toBuffer, toKey } from './types.js';

/** How a compare relates the key's target to the operand. */
export type CompareOp = '=' | '!=' | '<' | '>';

/** One condition of a txn; build it with `compare.*`. */
export interface TxnCompare {
  readonly wire: Compare;
}

/** One operation of a txn branch; build it with `op.*`. */
export interface TxnOp {
  readonly kind: 'put' | 'get' | 'delete' | 'range';
  readonly wire: RequestOp;
}

/** If every compare in `if` holds, `then` runs, else `else`: atomically, at one revision. */
export interface TxnSpec {
  readonly if?: readonly TxnCompare[];
  readonly then?: readonly TxnOp[];
  readonly else?: readonly TxnOp[];
}

/** The result of one op of the branch that ran, in order. */
export type TxnOpResult =
  | { readonly type: 'put'; readonly version: number; readonly prevKv: KeyValue | undefined }
  | { readonly type: 'get'; readonly kv: KeyValue | undefined }
  | { readonly type: 'delete'; readonly deleted: boolean; readonly count: number; readonly prevKvs: readonly KeyValue[] }
  | { readonly type: 'range'; readonly kvs: readonly KeyValue[]; readonly more: boolean };

export interface TxnResult {
  /** Whether every compare held (so `then` ran). */
  readonly succeeded: boolean;
  readonly responses: readonly TxnOpResult[];
  /** The revision of the txn's changes (the current one when it changed nothing). */
  readonly revision: number;
}

const RESULTS: Readonly<Record<CompareOp, CompareResult>> = {
  '=': CompareResult.EQUAL,
  '!=': CompareResult.NOT_EQUAL,
  '<': CompareResult.LESS,
  '>': CompareResult.GREATER,
};

function compareResult(operator: CompareOp): CompareResult {
  const result = RESULTS[operator];
  if (result === undefined) throw new InvalidArgumentError(`compare operator must be one of = != < > (got ${String(operator)})`);
  return result;
}

function counter(name: string, n: number): number {
  if (!(Number.isSafeInteger(n) && n >= 0)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
}

/**
 * Compare builders. An absent key has version, createRevision, modRevision
 * and lease 0, and no value (a value compare on it fails).
 */
export const compare = {
  value: (key: Bytes, operator: CompareOp, value: Bytes): TxnCompare => ({
    wire: { result: compareResult(operator), target: CompareTarget.VALUE, key: toKey(key), value: toBuffer(value, 'value') },
  }),
  version: (key: Bytes, operator: CompareOp, version: number): TxnCompare => ({
    wire: { result: compareResult(operator), target: CompareTarget.VERSION, key: toKey(key), version: counter('version', version) },
  }),
  createRevision: (key: Bytes, operator: CompareOp, revision: number): TxnCompare => ({
    wire: {
      result: compareResult(operator),
      target: CompareTarget.CREATE,
      key: toKey(key),
      createRevision: counter('createRevision', revision),
    },
  }),
  modRevision: (key: Bytes, operator: CompareOp, revision: number): TxnCompare => ({
    wire: { result: compareResult(operator), target: CompareTarget.MOD, key: toKey(key), modRevision: counter('modRevision', revision) },
  }),
  lease: (key: Bytes, operator: CompareOp, lease: number): TxnCompare => ({
    wire: { result: compareResult(operator), target: CompareTarget.LEASE, key: toKey(key), lease: counter('lease', lease) },
  }),
};

/** Operation builders for a txn branch. */
export const op = {
  put: (key: Bytes, value: Bytes, options: { readonly lease?: number; readonly prevKv?: boolean } = {}): TxnOp => ({
    kind: 'put',
    wire: {
      put: { key: toKey(key), value: toBuffer(value, 'value'), prevKv: options.prevKv ?? false, lease: optionalLeaseId(options.lease) },
    },
  }),
  get: (key: Bytes, options: { readonly revision?: number } = {}): TxnOp => ({
    kind: 'get',
    wire: { get: { key: toKey(key), consistency: 0, revision: optionalRevision('revision', options.revision) } },
  }),
  delete: (key: Bytes, options: { readonly prefix?: boolean; readonly prevKv?: boolean } = {}): TxnOp => ({
    kind: 'delete',
    wire: { delete: { key: toKey(key), prefix: options.prefix ?? false, prevKv: options.prevKv ?? false } },
  }),
  range: (prefix: Bytes, options: { readonly limit?: number; readonly keysOnly?: boolean; readonly revision?: number } = {}): TxnOp => ({
    kind: 'range',
    wire: {
      range: {
        prefix: toBuffer(prefix, 'prefix'),
        startAfter: Buffer.alloc(0),
        limit: counter('limit', options.limit ?? 0),
        consistency: 0,
        keysOnly: options.keysOnly ?? false,
        revision: optionalRevision('revision', options.revision),
      },
    },
  }),
};

/** The wire request of a txn, carrying the write's session. */
export function txnRequest(spec: TxnSpec, session: WriteSession): TxnRequest {
  const checkOps = (ops: readonly TxnOp[] | undefined, name: string): RequestOp[] => {
    if (ops === undefined) return [];
    if (!Array.isArray(ops)) throw new InvalidArgumentError(`txn ${name} must be an array of op.* values`);
    return ops.map((item: TxnOp) => {
      if (item === null || typeof item !== 'object' || item.wire === undefined) {
        throw new InvalidArgumentError(`txn ${name} must hold op.* values`);
      }
      return item.wire;
    });
  };
  const compares = spec.if ?? [];
  if (!Array.isArray(compares)) throw new InvalidArgumentError('txn if must be an array of compare.* values');
  return {
    compare: compares.map((item: TxnCompare) => {
      if (item === null || typeof item !== 'object' || item.wire === undefined)
        throw new InvalidArgumentError('txn if must hold compare.* values');
      return item.wire;
    }),
    success: checkOps(spec.then, 'then'),
    failure: checkOps(spec.else, 'else'),
    session,
  };
}

/** The caller's view of a txn response. */
export function txnResult(response: TxnResponse): TxnResult {
  return { succeeded: response.succeeded, responses: response.responses.map(opResult), revision: response.header?.revision ?? 0 };
}

function opResult(response: ResponseOp): TxnOpResult {
  if (response.put !== undefined) return { type: 'put', version: response.put.version, prevKv: fromWireKeyValue(response.put.prevKv) };
  if (response.get !== undefined) return { type: 'get', kv: fromWireKeyValue(response.get.kv) };
  if (response.delete !== undefined) {
    const deleted = response.delete;
    return { type: 'delete', deleted: deleted.deleted, count: deleted.count, prevKvs: deleted.prevKvs.map((kv) => fromWireKeyValue(kv)!) };
  }
  if (response.range !== undefined) {
    return { type: 'range', kvs: response.range.kvs.map((kv) => fromWireKeyValue(kv)!), more: response.range.more };
  }
  throw new InternalError('txn response op carries no result');
}
