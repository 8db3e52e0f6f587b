/** Short text for an operation's arguments and result, as recorded (not canonicalized). */
import type { HistoryRecord } from './history.js';
import type { HistoryOperation } from './operations.js';
import { displayBytes } from './text.js';

/** A recorded byte field for people: text when printable UTF-8, else 0x-hex (base64 fields decoded first). */
export function displayField(text: string, binary: boolean): string {
  return displayBytes(Buffer.from(text, binary ? 'base64' : 'utf8'));
}

export function describeKey(operation: HistoryOperation): string {
  return displayField(operation.invoke.key, operation.invoke.binary === true);
}

export function describeArgs(operation: HistoryOperation): string {
  const record = operation.invoke;
  const quoted = (text: string | undefined): string => JSON.stringify(displayField(text ?? '', record.binary === true));
  switch (record.op) {
    case 'get':
    case 'delete':
      return '';
    case 'put':
      return quoted(record.value);
    case 'append':
      return `+${quoted(record.value)}`;
    case 'cas': {
      const expected = record.expectedVersion !== undefined ? `version ${record.expectedVersion}` : quoted(record.expected);
      return `${expected} -> ${quoted(record.value)}`;
    }
    case 'txn':
      return describeTxn(record);
  }
}

/** `if mod(a) = 5 then put a "x"; get b else get a`, keys and values as displayed elsewhere. */
function describeTxn(record: HistoryRecord): string {
  const txn = record.txn;
  if (txn === undefined) return '';
  const field = (text: string): string => displayField(text, record.binary === true);
  const compares = txn.compare.map((compare) => {
    const operand = typeof compare.operand === 'string' ? JSON.stringify(field(compare.operand)) : String(compare.operand);
    return `${compare.target}(${field(compare.key)}) ${compare.op} ${operand}`;
  });
  const ops = (list: NonNullable<HistoryRecord['txn']>['success']): string =>
    list
      .map((op) => {
        const prefix = op.op === 'delete' && op.prefix === true ? ' --prefix' : '';
        return `${op.op} ${field(op.key)}${op.op === 'put' ? ` ${JSON.stringify(field(op.value))}` : prefix}`;
      })
      .join('; ') || '-';
  return `if ${compares.join(' && ') || 'true'} then ${ops(txn.success)} else ${ops(txn.failure)}`;
}

export function describeOutcome(operation: HistoryOperation): string {
  const completion = operation.completion;
  if (completion === undefined) return 'no return (unknown)';
  if (completion.type === 'info') return `unknown (${completion.error ?? 'info'})`;
  return describeResult(completion);
}

function describeResult(record: HistoryRecord): string {
  const revision = record.revision === undefined ? '' : ` @${record.revision}`;
  if (record.op === 'txn') {
    const outcome = record.txnResult;
    if (outcome === undefined) return `ok${revision}`;
    return `${outcome.succeeded ? 'then' : 'else'}${revision} ${JSON.stringify(outcome.results)}`;
  }
  return describePlainResult(record) + revision;
}

function describePlainResult(record: HistoryRecord): string {
  const result = record.result;
  if (result === undefined) return 'ok';
  switch (record.op) {
    case 'get':
      return result === null ? 'absent' : JSON.stringify(displayField(String(result), record.binary === true));
    case 'put':
    case 'append':
      return `version ${String(result)}`;
    case 'delete':
      return result === true ? 'deleted' : 'not found';
    case 'cas':
      return result === true ? 'succeeded' : 'failed';
    case 'txn':
      return 'ok';
  }
}
