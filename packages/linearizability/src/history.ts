/**
 * The history the checker reads: the clerk's JSON lines, one record when a KV
 * operation is invoked and one when it returns. Field meanings follow
 * packages/clerk/README.md "History format"; the clerk's own HistoryRecord,
 * which writes them, is assignable to this one (kvctl's tests check both ways).
 */
import { HistoryFormatError } from './errors.js';

export type HistoryOp = 'put' | 'get' | 'append' | 'delete' | 'cas';

/**
 * `invoke`: the call started. `ok`: it took effect (writes) or returned (reads).
 * `fail`: it certainly did not take effect. `info`: a write whose outcome is
 * unknown; it may take effect at any time after its invoke.
 */
export type HistoryRecordType = 'invoke' | 'ok' | 'fail' | 'info';

export interface HistoryRecord {
  readonly type: HistoryRecordType;
  /** The recording clerk's `clientId`. */
  readonly process: string;
  readonly op: HistoryOp;
  /** Unique per process; pairs an invoke with its return. */
  readonly id: number;
  /** Monotonic nanoseconds from the clerk's clock. */
  readonly time: number;
  readonly key: string;
  /** put: the value; append: the suffix; cas: the new value. */
  readonly value?: string;
  /** cas by value: the expected value ('' never matches an absent key). */
  readonly expected?: string;
  /** cas by version: the expected version (0 = absent). */
  readonly expectedVersion?: number;
  /** On `ok`: get → value or null; delete → deleted; cas → succeeded; put/append → new version. */
  readonly result?: string | number | boolean | null;
  /** On `fail`/`info`: the error code. */
  readonly error?: string;
  /** Present and true when key, value, expected and result are base64 because some were not UTF-8. */
  readonly binary?: true;
}

const RECORD_TYPES: ReadonlySet<string> = new Set<HistoryRecordType>(['invoke', 'ok', 'fail', 'info']);
const OPS: ReadonlySet<string> = new Set<HistoryOp>(['put', 'get', 'append', 'delete', 'cas']);

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
  if (typeof record['op'] !== 'string' || !OPS.has(record['op'])) fail('op must be put, get, append, delete or cas');
  if (!Number.isSafeInteger(record['id'])) fail('id must be an integer');
  if (typeof record['time'] !== 'number' || !Number.isFinite(record['time'])) fail('time must be a number');
  if (typeof record['key'] !== 'string') fail('key must be a string');
  for (const field of ['value', 'expected', 'error'] as const) {
    if (record[field] !== undefined && typeof record[field] !== 'string') fail(`${field} must be a string`);
  }
  if (record['expectedVersion'] !== undefined && !Number.isSafeInteger(record['expectedVersion']))
    fail('expectedVersion must be an integer');
  const result = record['result'];
  if (result !== undefined && result !== null && !['string', 'number', 'boolean'].includes(typeof result)) fail('result has a bad type');
  return { ...(record as unknown as HistoryRecord), process: String(record['process']) };
}
