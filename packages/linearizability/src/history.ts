/**
 * Reads the history the clerk writes (JSON lines; the record type is
 * @cairn/proto's HistoryRecord, shared with the writer), checking each line.
 */
import type { HistoryOp, HistoryRecord, HistoryRecordType } from '@cairn/proto';
import { HistoryFormatError } from './errors.js';

export type {
  HistoryOp,
  HistoryRecord,
  HistoryRecordType,
  HistoryCompare,
  HistoryKeyMeta,
  HistoryKv,
  HistoryTxn,
  HistoryTxnOp,
  HistoryTxnOpResult,
  HistoryTxnResult,
} from '@cairn/proto';

const RECORD_TYPES: ReadonlySet<string> = new Set<HistoryRecordType>(['invoke', 'ok', 'fail', 'info']);
const OPS: ReadonlySet<string> = new Set<HistoryOp>(['put', 'get', 'append', 'delete', 'cas', 'txn']);

/**
 * Parses JSON lines (blank lines allowed) into records; throws
 * HistoryFormatError on the first bad line. `range` records (not written by
 * today's clerk) are skipped: each key is checked from its point operations.
 */
export function parseHistory(text: string): HistoryRecord[] {
  const records: HistoryRecord[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      throw new HistoryFormatError('HISTORY_MALFORMED', 'not a JSON object', index + 1);
    }
    if (isRangeRecord(parsed)) continue;
    records.push(validateRecord(parsed, index + 1));
  }
  return records;
}

function isRangeRecord(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { op?: unknown }).op === 'range';
}

function validateRecord(value: unknown, line: number): HistoryRecord {
  const fail = (what: string): never => {
    throw new HistoryFormatError('HISTORY_MALFORMED', what, line);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('not a JSON object');
  const record = value as Record<string, unknown>;
  if (typeof record['type'] !== 'string' || !RECORD_TYPES.has(record['type'])) fail('type must be invoke, ok, fail or info');
  if (typeof record['process'] !== 'string' && typeof record['process'] !== 'number') fail('process must be a string');
  if (typeof record['op'] !== 'string' || !OPS.has(record['op'])) fail('op must be put, get, append, delete, cas or txn');
  if (!Number.isSafeInteger(record['id'])) fail('id must be an integer');
  if (typeof record['time'] !== 'number' || !Number.isFinite(record['time'])) fail('time must be a number');
  if (typeof record['key'] !== 'string') fail('key must be a string');
  for (const field of ['value', 'expected', 'error'] as const) {
    if (record[field] !== undefined && typeof record[field] !== 'string') fail(`${field} must be a string`);
  }
  if (record['expectedVersion'] !== undefined && !Number.isSafeInteger(record['expectedVersion']))
    fail('expectedVersion must be an integer');
  for (const field of ['revision', 'lease'] as const) {
    if (record[field] !== undefined && !Number.isSafeInteger(record[field])) fail(`${field} must be an integer`);
  }
  if (record['op'] === 'txn') validateTxnFields(record, fail);
  const result = record['result'];
  if (result !== undefined && result !== null && !['string', 'number', 'boolean'].includes(typeof result)) fail('result has a bad type');
  return { ...(record as unknown as HistoryRecord), process: String(record['process']) };
}

/** A txn record names its compares and branches; its `ok` record says which branch ran and what each op returned. */
function validateTxnFields(record: Record<string, unknown>, fail: (what: string) => never): void {
  const txn = record['txn'] as { compare?: unknown; success?: unknown; failure?: unknown } | undefined;
  if (typeof txn !== 'object' || txn === null) fail('a txn record needs txn');
  if (![txn!.compare, txn!.success, txn!.failure].every(Array.isArray)) fail('txn needs compare, success and failure lists');
  const outcome = record['txnResult'] as { succeeded?: unknown; results?: unknown } | undefined;
  if (outcome === undefined) return;
  if (typeof outcome.succeeded !== 'boolean' || !Array.isArray(outcome.results)) fail('txnResult needs succeeded and results');
}
