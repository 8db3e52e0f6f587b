/**
 * A txn in the history format (@cairn/proto HistoryTxn / HistoryTxnResult):
 * the compares and branches as sent, and the branch's results as returned.
 * Keys and values are UTF-8 text, or all base64 (the record's `binary`) when
 * any of them is not valid UTF-8, as for the other operations.
 */
import { isUtf8 } from 'node:buffer';
import {
  type Compare,
  CompareResult,
  CompareTarget,
  type HistoryCompare,
  type HistoryKv,
  type HistoryTxn,
  type HistoryTxnOp,
  type HistoryTxnResult,
  type RequestOp,
  type TxnRequest,
} from '@cairn/proto';
import { ClerkError } from './errors.js';
import type { HistoryRecorder, HistoryRecordType } from './history.js';
import type { TxnResult } from './txn.js';
import type { KeyValue } from './types.js';

type Encode = (bytes: Uint8Array) => string;

const OPS: Readonly<Record<CompareResult, HistoryCompare['op'] | undefined>> = {
  [CompareResult.EQUAL]: '=',
  [CompareResult.NOT_EQUAL]: '!=',
  [CompareResult.LESS]: '<',
  [CompareResult.GREATER]: '>',
  [CompareResult.UNRECOGNIZED]: undefined,
};

/** An encoder for `fields`: UTF-8, or base64 for all when any is not UTF-8. */
export function historyEncoder(fields: readonly Uint8Array[]): { encode: Encode; binary: boolean } {
  const binary = !fields.every((field) => isUtf8(field));
  return { encode: (bytes) => Buffer.from(bytes).toString(binary ? 'base64' : 'utf8'), binary };
}

/** Every byte field of a txn request. */
export function txnRequestBytes(request: TxnRequest): Uint8Array[] {
  const fields: Uint8Array[] = [];
  for (const c of request.compare) {
    fields.push(c.key);
    if (c.value !== undefined) fields.push(c.value);
  }
  for (const item of [...request.success, ...request.failure]) {
    const key = item.put?.key ?? item.get?.key ?? item.delete?.key ?? item.range?.prefix;
    if (key !== undefined) fields.push(key);
    if (item.put !== undefined) fields.push(item.put.value);
  }
  return fields;
}

/** Every byte field of a txn result. */
export function txnResultBytes(result: TxnResult): Uint8Array[] {
  const kvs = result.responses.flatMap((response) =>
    response.type === 'get' ? (response.kv === undefined ? [] : [response.kv]) : response.type === 'range' ? [...response.kvs] : [],
  );
  return kvs.flatMap((kv) => [kv.key, kv.value]);
}

export function historyTxn(request: TxnRequest, encode: Encode): HistoryTxn {
  return {
    compare: request.compare.map((c) => historyCompare(c, encode)),
    success: request.success.map((item) => historyOp(item, encode)),
    failure: request.failure.map((item) => historyOp(item, encode)),
  };
}

function historyCompare(c: Compare, encode: Encode): HistoryCompare {
  const op = OPS[c.result] ?? '=';
  const key = encode(c.key);
  switch (c.target) {
    case CompareTarget.VALUE:
      return { key, target: 'value', op, operand: encode(c.value ?? Buffer.alloc(0)) };
    case CompareTarget.CREATE:
      return { key, target: 'create', op, operand: c.createRevision ?? 0 };
    case CompareTarget.MOD:
      return { key, target: 'mod', op, operand: c.modRevision ?? 0 };
    case CompareTarget.LEASE:
      return { key, target: 'lease', op, operand: c.lease ?? 0 };
    default:
      return { key, target: 'version', op, operand: c.version ?? 0 };
  }
}

function historyOp(item: RequestOp, encode: Encode): HistoryTxnOp {
  if (item.put !== undefined) {
    const lease = item.put.lease ?? 0;
    return { op: 'put', key: encode(item.put.key), value: encode(item.put.value), ...(lease !== 0 ? { lease } : {}) };
  }
  if (item.get !== undefined) return { op: 'get', key: encode(item.get.key) };
  if (item.delete !== undefined) {
    return { op: 'delete', key: encode(item.delete.key), ...(item.delete.prefix === true ? { prefix: true } : {}) };
  }
  return { op: 'range', key: encode(item.range?.prefix ?? Buffer.alloc(0)) };
}

export function historyTxnResult(result: TxnResult, encode: Encode): HistoryTxnResult {
  const kv = (entry: KeyValue): HistoryKv => ({
    key: encode(entry.key),
    value: encode(entry.value),
    version: entry.version,
    createRevision: entry.createRevision,
    modRevision: entry.modRevision,
    lease: entry.lease,
  });
  return {
    succeeded: result.succeeded,
    results: result.responses.map((response) => {
      switch (response.type) {
        case 'put':
          return { op: 'put' };
        case 'get':
          return { op: 'get', kv: response.kv === undefined ? null : kv(response.kv) };
        case 'delete':
          return { op: 'delete', deleted: response.count };
        case 'range':
          return { op: 'range', kvs: response.kvs.map(kv) };
      }
    }),
  };
}

/** Runs a txn between its invoke and return records (the same outcome rule as the other writes). */
export async function recordTxn(
  history: HistoryRecorder,
  context: { readonly process: string; readonly id: number; readonly now: () => number },
  request: TxnRequest,
  run: () => Promise<TxnResult>,
): Promise<TxnResult> {
  const requestBytes = txnRequestBytes(request);
  const emit = (type: HistoryRecordType, result: TxnResult | undefined, error: string | undefined): void => {
    const { encode, binary } = historyEncoder(result === undefined ? requestBytes : [...requestBytes, ...txnResultBytes(result)]);
    history.record({
      type,
      process: context.process,
      op: 'txn',
      id: context.id,
      time: Math.round(context.now() * 1e6),
      key: '',
      txn: historyTxn(request, encode),
      ...(result !== undefined ? { result: result.succeeded, revision: result.revision, txnResult: historyTxnResult(result, encode) } : {}),
      ...(error !== undefined ? { error } : {}),
      ...(binary ? { binary: true as const } : {}),
    });
  };
  emit('invoke', undefined, undefined);
  try {
    const result = await run();
    emit('ok', result, undefined);
    return result;
  } catch (error) {
    const code = error instanceof ClerkError ? error.code : 'INTERNAL';
    emit(code === 'UNKNOWN_OUTCOME' || !(error instanceof ClerkError) ? 'info' : 'fail', undefined, code);
    throw error;
  }
}
