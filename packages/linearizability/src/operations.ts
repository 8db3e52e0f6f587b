/**
 * Pairs invoke and return records by (process, id) into operations the model
 * can check. `fail` operations certainly had no effect and are dropped, as are
 * reads without an answer; a write that never returned counts as `info`.
 */
import type { HistoryRecord } from './history.js';
import { HistoryFormatError } from './errors.js';
import type { ModelOperation, OperationInput, OperationOutput } from './model.js';

/** A paired operation: what the model checks plus the raw records for display. */
export interface HistoryOperation extends ModelOperation {
  readonly process: string;
  readonly id: number;
  readonly op: HistoryRecord['op'];
  /** The key in canonical form (one char per byte), for grouping. */
  readonly modelKey: string;
  readonly invoke: HistoryRecord;
  /** The `ok` or `info` record; undefined when the history ends before the operation returned. */
  readonly completion: HistoryRecord | undefined;
}

/** How many records were paired into operations and how many were left out. */
export interface PairingStats {
  readonly records: number;
  readonly ok: number;
  readonly info: number;
  /** `fail` operations: certainly no effect, not checked. */
  readonly failed: number;
  /** Writes with no return record, checked as `info`. */
  readonly unfinished: number;
  /** Reads with no answer (`info` or no return): no effect, not checked. */
  readonly unansweredReads: number;
}

export function pairOperations(records: readonly HistoryRecord[]): { operations: HistoryOperation[]; stats: PairingStats } {
  const pending = new Map<string, HistoryRecord>();
  const operations: HistoryOperation[] = [];
  const stats = { records: records.length, ok: 0, info: 0, failed: 0, unfinished: 0, unansweredReads: 0 };
  records.forEach((record, index) => {
    const pairKey = `${record.process}\u0000${record.id}`;
    if (record.type === 'invoke') {
      if (pending.has(pairKey)) throw new HistoryFormatError('HISTORY_UNPAIRED', `${describe(record)} is invoked twice`, index + 1);
      pending.set(pairKey, record);
      return;
    }
    const invoke = pending.get(pairKey);
    if (invoke === undefined) throw new HistoryFormatError('HISTORY_UNPAIRED', `${describe(record)} returns without an invoke`, index + 1);
    if (invoke.op !== record.op || invoke.key !== record.key) {
      throw new HistoryFormatError(
        'HISTORY_UNPAIRED',
        `${describe(record)} does not match its invoke (${invoke.op} ${invoke.key})`,
        index + 1,
      );
    }
    pending.delete(pairKey);
    if (record.type === 'fail') {
      stats.failed++;
    } else if (record.op === 'get' && record.type === 'info') {
      stats.unansweredReads++;
    } else {
      stats[record.type]++;
      operations.push(toOperation(invoke, record, index + 1));
    }
  });
  for (const invoke of pending.values()) {
    if (invoke.op === 'get') {
      stats.unansweredReads++;
    } else {
      stats.unfinished++;
      operations.push(toOperation(invoke, undefined, undefined));
    }
  }
  operations.sort((a, b) => a.invokeTime - b.invokeTime);
  return { operations, stats };
}

function toOperation(invoke: HistoryRecord, completion: HistoryRecord | undefined, line: number | undefined): HistoryOperation {
  const required = completion?.type === 'ok';
  const returnTime = required ? completion!.time : Infinity;
  if (returnTime < invoke.time) throw new HistoryFormatError('HISTORY_MALFORMED', `${describe(invoke)} returns before it is invoked`, line);
  const binary = invoke.binary === true;
  return {
    process: invoke.process,
    id: invoke.id,
    op: invoke.op,
    modelKey: canonical(invoke.key, binary),
    input: inputOf(invoke, binary, line),
    output: required ? outputOf(invoke.op, completion!, line) : undefined,
    required,
    invokeTime: invoke.time,
    returnTime,
    invoke,
    completion,
  };
}

function inputOf(record: HistoryRecord, binary: boolean, line: number | undefined): OperationInput {
  const value = (): string => {
    if (record.value === undefined) throw new HistoryFormatError('HISTORY_MALFORMED', `${describe(record)} has no value`, line);
    return canonical(record.value, binary);
  };
  switch (record.op) {
    case 'get':
      return { kind: 'get' };
    case 'delete':
      return { kind: 'delete' };
    case 'put':
      return { kind: 'put', value: value() };
    case 'append':
      return { kind: 'append', suffix: value() };
    case 'txn':
      return { kind: 'txn' };
    case 'cas': {
      if (record.expectedVersion !== undefined) return { kind: 'cas', expected: { version: record.expectedVersion }, newValue: value() };
      if (record.expected === undefined) throw new HistoryFormatError('HISTORY_MALFORMED', `${describe(record)} has no expectation`, line);
      return { kind: 'cas', expected: { value: canonical(record.expected, binary) }, newValue: value() };
    }
  }
}

/** The `ok` record's result, type-checked per operation; a missing result constrains nothing. */
function outputOf(op: HistoryRecord['op'], record: HistoryRecord, line: number | undefined): OperationOutput {
  const result = record.result;
  if (result === undefined) return undefined;
  const expectedType = op === 'get' ? 'string' : op === 'put' || op === 'append' ? 'number' : 'boolean';
  if (op === 'get' && result === null) return null;
  if (typeof result !== expectedType)
    throw new HistoryFormatError('HISTORY_MALFORMED', `${describe(record)} result must be a ${expectedType}`, line);
  return typeof result === 'string' ? canonical(result, record.binary === true) : result;
}

/** Bytes as a string with one char per byte, so UTF-8 and base64 records of one key compare equal. */
export function canonical(text: string, binary: boolean): string {
  if (binary) return Buffer.from(text, 'base64').toString('latin1');
  // ASCII is already one char per byte.
  return /^[\u0000-\u007f]*$/.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}

export function describe(record: HistoryRecord): string {
  return `${record.op} ${record.process}#${record.id}`;
}
