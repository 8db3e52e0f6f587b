/**
 * Operation history for linearizability checking: one record when a KV
 * operation is invoked and one when it returns. The format is specified in
 * the package README ("History format"); checkers depend on it exactly.
 */
import { isUtf8 } from 'node:buffer';
import type { HistoryRecord } from '@cairn/proto';

export type { HistoryOp, HistoryRecord, HistoryRecordType } from '@cairn/proto';

/** Receives records; must not throw. */
export interface HistoryRecorder {
  record(record: HistoryRecord): void;
}

/** Writes each record as one JSON line (e.g. to `fs.createWriteStream(path)`). */
export class JsonLinesHistory implements HistoryRecorder {
  constructor(private readonly sink: { write(chunk: string): unknown }) {}

  record(record: HistoryRecord): void {
    this.sink.write(`${JSON.stringify(record)}\n`);
  }
}

/** Byte fields of a record before encoding. */
export interface HistoryBytes {
  readonly key: Uint8Array;
  readonly value?: Uint8Array | undefined;
  readonly expected?: Uint8Array | undefined;
  readonly result?: Uint8Array | null | undefined;
}

/**
 * Encodes the byte fields as UTF-8 text, or all as base64 (with
 * `binary: true`) when any of them is not valid UTF-8.
 */
export function encodeHistoryBytes(bytes: HistoryBytes): {
  key: string;
  value?: string;
  expected?: string;
  result?: string | null;
  binary?: true;
} {
  const present = [bytes.key, bytes.value, bytes.expected, bytes.result].filter(
    (field): field is Uint8Array => field instanceof Uint8Array,
  );
  const binary = !present.every((field) => isUtf8(field));
  const encode = (field: Uint8Array): string => Buffer.from(field).toString(binary ? 'base64' : 'utf8');
  return {
    key: encode(bytes.key),
    ...(bytes.value !== undefined ? { value: encode(bytes.value) } : {}),
    ...(bytes.expected !== undefined ? { expected: encode(bytes.expected) } : {}),
    ...(bytes.result !== undefined ? { result: bytes.result === null ? null : encode(bytes.result) } : {}),
    ...(binary ? { binary: true as const } : {}),
  };
}
