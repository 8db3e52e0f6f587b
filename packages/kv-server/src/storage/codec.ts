/**
 * Framing of every record stored in LevelDB: a checksum is computed when a
 * record is encoded and verified on every read (TigerStyle pair assertion).
 *
 * Stored value layout:
 *   byte 0      record format version (RECORD_FORMAT)
 *   bytes 1..4  CRC32 (IEEE, zlib) big-endian, over the LevelDB key, the
 *               version byte and the payload
 *   bytes 5..   payload (usually a protobuf encoding)
 *
 * Covering the key means a record that ends up under the wrong key (e.g. a
 * log entry at another index) fails verification too.
 */
import { crc32 } from 'node:zlib';
import { CorruptionError } from '../errors.js';

export const RECORD_FORMAT = 1;
const HEADER_BYTES = 5;
/** Bytes a payload encoder reserves in front for sealRecord(). */
export const RECORD_HEADER_BYTES = HEADER_BYTES;

/** The version byte as bytes, one per possible value: checksumming allocates nothing. */
const VERSION_BYTES = Array.from({ length: 256 }, (_, version) => Buffer.of(version));

function recordChecksum(key: Uint8Array, version: number, payload: Uint8Array): number {
  let checksum = crc32(key);
  checksum = crc32(VERSION_BYTES[version]!, checksum);
  return crc32(payload, checksum);
}

/** Frames `payload` for storage under `key`. */
export function encodeRecord(key: Uint8Array, payload: Uint8Array): Buffer {
  const record = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  record.set(payload, HEADER_BYTES);
  return sealRecord(key, record);
}

/**
 * Frames a record in place: `record` holds the payload after
 * RECORD_HEADER_BYTES reserved bytes, so the payload is not copied again.
 */
export function sealRecord(key: Uint8Array, record: Buffer): Buffer {
  record[0] = RECORD_FORMAT;
  record.writeUInt32BE(recordChecksum(key, RECORD_FORMAT, record.subarray(HEADER_BYTES)), 1);
  return record;
}

/** Where a record came from, for the error message when it fails verification. */
export interface RecordSource {
  dataDir: string;
  /** What the record is, e.g. "log entry 42" or "hard state"; a function where building it costs (hot paths). */
  what: Description;
}

/** A record's name for error messages, built only when an error needs it. */
export type Description = string | (() => string);

export function describe(what: Description): string {
  return typeof what === 'string' ? what : what();
}

/**
 * Verifies and unframes a stored record; returns the payload (a view into
 * `record`). Throws CorruptionError naming the record and the data dir.
 */
export function decodeRecord(key: Uint8Array, record: Uint8Array, source: RecordSource): Buffer {
  if (record.length < HEADER_BYTES) {
    throw new CorruptionError(source.dataDir, `${describe(source.what)} is truncated (${record.length} bytes)`);
  }
  const bytes = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  const version = bytes[0]!;
  if (version !== RECORD_FORMAT) {
    throw new CorruptionError(source.dataDir, `${describe(source.what)} has unknown record format ${version}`);
  }
  const payload = bytes.subarray(HEADER_BYTES);
  const stored = bytes.readUInt32BE(1);
  const computed = recordChecksum(key, version, payload);
  if (stored !== computed) {
    throw new CorruptionError(
      source.dataDir,
      `${describe(source.what)} failed its checksum (stored ${hex32(stored)}, computed ${hex32(computed)})`,
    );
  }
  return payload;
}

/** Decodes a verified record's protobuf payload; a payload that does not decode is CorruptionError. */
export function decodeProto<T>(codec: { decode(input: Uint8Array): T }, payload: Uint8Array, dataDir: string, what: string): T {
  try {
    return codec.decode(payload);
  } catch (error) {
    throw new CorruptionError(dataDir, `${what} does not decode (${(error as Error).message})`);
  }
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/** A plain CRC32 over a byte stream, for snapshot streams. */
export function crc32Update(checksum: number, data: Uint8Array): number {
  return crc32(data, checksum);
}
