/**
 * Paired history operations in the kv model's terms (kv-model.ts): keys and
 * values canonical, txn compares and branches, and every observation an `ok`
 * record carries (result, revision, key metadata, txn op results).
 */
import type { HistoryKv, HistoryRecord, HistoryTxnOp, HistoryTxnOpResult } from './history.js';
import { HistoryFormatError } from './errors.js';
import type { KvInput, KvObserved, KvOperation, KvOutput, KvTxnOp, KvTxnOpResult } from './kv-model.js';
import { canonical, describe, type HistoryOperation } from './operations.js';

/** The kv model's view of one paired operation (same invoke/return times and `required`). */
export function toKvOperation(operation: HistoryOperation): KvOperation {
  const record = operation.invoke;
  const text = (field: string | undefined, what: string): string => {
    if (field === undefined) throw new HistoryFormatError('HISTORY_MALFORMED', `${describe(record)} has no ${what}`);
    return canonical(field, record.binary === true);
  };
  return {
    input: kvInputOf(record, text),
    output: operation.required && operation.completion !== undefined ? kvOutputOf(operation.completion) : undefined,
    required: operation.required,
    invokeTime: operation.invokeTime,
    returnTime: operation.returnTime,
  };
}

type Text = (field: string | undefined, what: string) => string;

function kvInputOf(record: HistoryRecord, text: Text): KvInput {
  const key = (): string => text(record.key, 'key');
  switch (record.op) {
    case 'get':
      return { kind: 'get', key: key() };
    case 'delete':
      return { kind: 'delete', key: key() };
    case 'put':
      return { kind: 'put', key: key(), value: text(record.value, 'value'), lease: record.lease ?? 0 };
    case 'append':
      return { kind: 'append', key: key(), suffix: text(record.value, 'value') };
    case 'cas': {
      const expected =
        record.expectedVersion !== undefined ? { version: record.expectedVersion } : { value: text(record.expected, 'expectation') };
      return { kind: 'cas', key: key(), expected, newValue: text(record.value, 'value') };
    }
    case 'txn': {
      const txn = record.txn;
      if (txn === undefined) throw new HistoryFormatError('HISTORY_MALFORMED', `${describe(record)} has no txn`);
      return {
        kind: 'txn',
        compare: txn.compare.map((compare) => ({
          key: text(compare.key, 'compare key'),
          target: compare.target,
          op: compare.op,
          operand: typeof compare.operand === 'string' ? text(compare.operand, 'compare operand') : compare.operand,
        })),
        success: txn.success.map((op) => txnOpOf(op, text)),
        failure: txn.failure.map((op) => txnOpOf(op, text)),
      };
    }
  }
}

function txnOpOf(op: HistoryTxnOp, text: Text): KvTxnOp {
  const key = text(op.key, 'txn op key');
  switch (op.op) {
    case 'put':
      return { op: 'put', key, value: text(op.value, 'txn put value'), lease: op.lease ?? 0 };
    case 'get':
      return { op: 'get', key };
    case 'range':
      return { op: 'range', key };
    case 'delete':
      return { op: 'delete', key, prefix: op.prefix === true };
  }
}

function kvOutputOf(record: HistoryRecord): KvOutput {
  const binary = record.binary === true;
  const observed = (kv: HistoryKv): KvObserved => ({ ...kv, key: canonical(kv.key, binary), value: canonical(kv.value, binary) });
  const opResult = (result: HistoryTxnOpResult): KvTxnOpResult => {
    switch (result.op) {
      case 'get':
        return { op: 'get', kv: result.kv === null ? null : observed(result.kv) };
      case 'range':
        return { op: 'range', kvs: result.kvs.map(observed) };
      default:
        return result;
    }
  };
  const result = record.op === 'txn' ? record.txnResult?.succeeded : record.result;
  return {
    ...(result !== undefined ? { result: typeof result === 'string' ? canonical(result, binary) : result } : {}),
    ...(record.revision !== undefined ? { revision: record.revision } : {}),
    ...(record.meta !== undefined ? { meta: record.meta } : {}),
    ...(record.txnResult !== undefined ? { txnResults: record.txnResult.results.map(opResult) } : {}),
  };
}
