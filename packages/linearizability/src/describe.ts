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
  }
}

export function describeOutcome(operation: HistoryOperation): string {
  const completion = operation.completion;
  if (completion === undefined) return 'no return (unknown)';
  if (completion.type === 'info') return `unknown (${completion.error ?? 'info'})`;
  return describeResult(completion);
}

function describeResult(record: HistoryRecord): string {
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
  }
}
