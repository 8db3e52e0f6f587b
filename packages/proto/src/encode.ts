/**
 * Encoding on the hot path. A fresh BinaryWriter grows its buffer from
 * nothing (128, 256, … bytes) for every message, and `finish()` copies the
 * result out: two to four ArrayBuffers per message, which a heap profile
 * showed as a large share of a node's garbage per write, and whose sweeping
 * was up to half of a young-generation GC pause. One shared writer keeps its
 * buffer; only the result is allocated, and it is wrapped as a Buffer
 * without another copy.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';

/** A writer whose buffer grew past this is dropped after use, so one large message does not pin memory. */
const SHARED_WRITER_BYTES_MAX = 1024 * 1024;

let shared = new BinaryWriter();

/** `message`'s encoding, after `prefixBytes` zero bytes the caller fills in (a frame header: one allocation, one copy). */
export function encodeToBuffer<T>(codec: { encode(message: T, writer?: BinaryWriter): BinaryWriter }, message: T, prefixBytes = 0): Buffer {
  let bytes: Uint8Array;
  try {
    if (prefixBytes > 0) shared.raw(new Uint8Array(prefixBytes));
    bytes = codec.encode(message, shared).finish();
  } catch (error) {
    // A failed encode leaves the writer mid-message: never reuse it.
    shared = new BinaryWriter();
    throw error;
  }
  if (bytes.length > SHARED_WRITER_BYTES_MAX) shared = new BinaryWriter();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
