/**
 * The state machine snapshot format: one byte stream, cut into chunks of
 * SNAPSHOT_CHUNK_BYTES (a record may span chunks). Deterministic: two
 * machines that applied the same entries produce identical bytes (no
 * generation numbers or other local details are included).
 *
 *   magic "CKVS" | u32be format (1)
 *   frames, each: u8 kind | u32be keyLength | u32be valueLength | key | value
 *     kind 1 HEADER   key empty; value = u64be appliedIndex | u64be clockMs |
 *                     u64be activitySeq | u64be keyCount | u64be revision |
 *                     u64be compactRevision (first frame; a 32-byte header
 *                     from before revisions reads as revision 0)
 *     kind 2 KV       key = user key; value = stored KeyValue payload (no key)
 *     kind 3 SESSION  key = client id (UTF-8); value = session payload
 *     kind 4 TRAILER  key empty; value = u64be frame count (every kind but
 *                     HEADER and TRAILER) | u32be CRC32 of every byte before
 *                     this frame  (last frame)
 *     kind 5 LEASE    key = u64be lease id; value = lease payload (leases.ts)
 *     kind 6 LEASE_KEY  key = u64be lease id | user key; value empty
 *     kind 7 HISTORY_VALUE  key = esc(user key) | u64be revision; value =
 *                     history value payload (history.ts)
 *     kind 8 HISTORY_EVENTS key = u64be revision; value = the revision's
 *                     event list (history.ts)
 *
 * KV frames come in key order, then SESSION frames in client id order, then
 * LEASE and LEASE_KEY frames in key order, then the retained history (what
 * compaction to the header's compactRevision keeps, whether or not this node
 * deleted the rest yet): HISTORY_VALUE then HISTORY_EVENTS frames in key order.
 * A snapshot without history frames (from before history) loads with its
 * current values as the history at its revision (history-seed.ts).
 */
import { crc32 } from 'node:zlib';
import { CorruptionError } from '../errors.js';
import { readU64BE, writeU64BE } from '../storage/u64.js';

export const SNAPSHOT_MAGIC = Buffer.from('CKVS', 'latin1');
export const SNAPSHOT_FORMAT = 1;

export const FrameKind = { header: 1, kv: 2, session: 3, trailer: 4, lease: 5, leaseKey: 6, historyValue: 7, historyEvents: 8 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

const FRAME_HEADER_BYTES = 9;
const KNOWN_KINDS: ReadonlySet<number> = new Set(Object.values(FrameKind).filter((kind) => kind !== FrameKind.trailer));
/** A frame larger than this is damage, not data (keys and values are bounded far below). */
const FRAME_BYTES_MAX = 64 * 1024 * 1024;

export interface SnapshotHeader {
  appliedIndex: number;
  clockMs: number;
  activitySeq: number;
  keyCount: number;
  revision: number;
  compactRevision: number;
}

export interface Frame {
  kind: FrameKind;
  key: Buffer;
  value: Buffer;
}

export function encodeHeaderValue(header: SnapshotHeader): Buffer {
  const value = Buffer.allocUnsafe(48);
  writeU64BE(value, header.appliedIndex, 0);
  writeU64BE(value, header.clockMs, 8);
  writeU64BE(value, header.activitySeq, 16);
  writeU64BE(value, header.keyCount, 24);
  writeU64BE(value, header.revision, 32);
  writeU64BE(value, header.compactRevision, 40);
  return value;
}

export function decodeHeaderValue(value: Buffer): SnapshotHeader {
  if (value.length !== 32 && value.length !== 48) throw new CorruptionError('snapshot stream', `header frame has ${value.length} bytes`);
  return {
    appliedIndex: readU64BE(value, 0),
    clockMs: readU64BE(value, 8),
    activitySeq: readU64BE(value, 16),
    keyCount: readU64BE(value, 24),
    revision: value.length === 48 ? readU64BE(value, 32) : 0,
    compactRevision: value.length === 48 ? readU64BE(value, 40) : 0,
  };
}

/** Accumulates frames and hands out chunks of about `chunkBytes`. */
export class SnapshotWriter {
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private checksum = 0;
  private frameCount = 0;

  constructor(private readonly chunkBytes: number) {
    const preamble = Buffer.allocUnsafe(8);
    SNAPSHOT_MAGIC.copy(preamble, 0);
    preamble.writeUInt32BE(SNAPSHOT_FORMAT, 4);
    this.push(preamble);
  }

  frame(kind: FrameKind, key: Uint8Array, value: Uint8Array): void {
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    head[0] = kind;
    head.writeUInt32BE(key.length, 1);
    head.writeUInt32BE(value.length, 5);
    this.push(head);
    this.push(Buffer.from(key));
    this.push(Buffer.from(value));
    if (kind !== FrameKind.header && kind !== FrameKind.trailer) this.frameCount += 1;
  }

  /** Full chunks ready to go out. */
  *takeChunks(): Generator<Buffer> {
    while (this.partsBytes >= this.chunkBytes) {
      const all = Buffer.concat(this.parts);
      yield all.subarray(0, this.chunkBytes);
      const rest = all.subarray(this.chunkBytes);
      this.parts = rest.length > 0 ? [rest] : [];
      this.partsBytes = rest.length;
    }
  }

  /** Appends the trailer and returns the remaining chunks. */
  *finish(): Generator<Buffer> {
    const trailerValue = Buffer.allocUnsafe(12);
    writeU64BE(trailerValue, this.frameCount, 0);
    const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    head[0] = FrameKind.trailer;
    head.writeUInt32BE(0, 1);
    head.writeUInt32BE(trailerValue.length, 5);
    this.push(head);
    trailerValue.writeUInt32BE(this.checksum >>> 0, 8);
    this.parts.push(trailerValue);
    this.partsBytes += trailerValue.length;
    yield* this.takeChunks();
    if (this.partsBytes > 0) yield Buffer.concat(this.parts);
    this.parts = [];
    this.partsBytes = 0;
  }

  private push(bytes: Buffer): void {
    this.checksum = crc32(bytes, this.checksum);
    this.parts.push(bytes);
    this.partsBytes += bytes.length;
  }
}

/**
 * Parses a snapshot stream into frames, verifying the magic, the frame count
 * and the checksum. Throws CorruptionError (named "snapshot stream") on damage.
 */
export async function* readSnapshotFrames(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Frame> {
  let pending = Buffer.alloc(0);
  let checksum = 0;
  let preambleSeen = false;
  let frameCount = 0;
  for await (const chunk of chunks) {
    pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
    if (!preambleSeen) {
      if (pending.length < 8) continue;
      if (!pending.subarray(0, 4).equals(SNAPSHOT_MAGIC)) throw damaged('it does not start with the snapshot magic');
      const format = pending.readUInt32BE(4);
      if (format !== SNAPSHOT_FORMAT) throw damaged(`it has unknown format ${format}`);
      checksum = crc32(pending.subarray(0, 8), checksum);
      pending = pending.subarray(8);
      preambleSeen = true;
    }
    while (pending.length >= FRAME_HEADER_BYTES) {
      const kind = pending[0]!;
      const keyLength = pending.readUInt32BE(1);
      const valueLength = pending.readUInt32BE(5);
      if (keyLength + valueLength > FRAME_BYTES_MAX) throw damaged(`a frame claims ${keyLength + valueLength} bytes`);
      const frameBytes = FRAME_HEADER_BYTES + keyLength + valueLength;
      if (pending.length < frameBytes) break;
      const key = pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + keyLength);
      const value = pending.subarray(FRAME_HEADER_BYTES + keyLength, frameBytes);
      if (kind === FrameKind.trailer) {
        checksum = crc32(pending.subarray(0, FRAME_HEADER_BYTES), checksum);
        verifyTrailer(value, frameCount, checksum);
        if (pending.length > frameBytes) throw damaged('bytes follow the trailer');
        yield { kind, key, value };
        return;
      }
      if (!KNOWN_KINDS.has(kind)) throw damaged(`unknown frame kind ${kind}`);
      checksum = crc32(pending.subarray(0, frameBytes), checksum);
      if (kind !== FrameKind.header) frameCount += 1;
      yield { kind: kind as FrameKind, key: Buffer.from(key), value: Buffer.from(value) };
      pending = pending.subarray(frameBytes);
    }
  }
  throw damaged('it ends before its trailer');
}

function verifyTrailer(value: Buffer, frameCount: number, checksum: number): void {
  if (value.length !== 12) throw damaged('its trailer is malformed');
  const expectedFrames = readU64BE(value, 0);
  if (expectedFrames !== frameCount) throw damaged(`it holds ${frameCount} records, the trailer says ${expectedFrames}`);
  // The trailer's checksum covers everything before the trailer's own value.
  if (value.readUInt32BE(8) !== checksum >>> 0) throw damaged('it failed its checksum');
}

function damaged(detail: string): CorruptionError {
  return new CorruptionError('snapshot stream', detail);
}
