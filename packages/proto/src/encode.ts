/**
 * Encoding on the hot path. A fresh BinaryWriter grows its buffer from
 * nothing (128, 256, … bytes) for every message, and `finish()` copies the
 * result out: two to four ArrayBuffers per message, which a heap profile
 * showed as a large share of a node's garbage per write, and whose sweeping
 * was up to half of a young-generation GC pause. One shared writer keeps its
 * buffer, and the result is copied into a Buffer from Node's pool (small
 * messages share one 8 KiB slab), so encoding a message allocates no
 * ArrayBuffer of its own.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';

/** A writer whose buffer grew past this is dropped after use, so one large message does not pin memory. */
const SHARED_WRITER_BYTES_MAX = 1024 * 1024;

/**
 * BinaryWriter's private state, read to copy the result without `finish()`'s
 * fresh ArrayBuffer. Checked on every use: if a new version of the library
 * names them differently, encoding falls back to `finish()` (and the proto
 * tests' `pooledEncoding` check fails, so the regression is seen).
 */
interface WriterInternals {
  buffer?: unknown;
  pos?: unknown;
  stackPos?: unknown;
}

let shared = new BinaryWriter();

/** Whether the last encodeToBuffer() took the pooled path (for the tests). */
export let pooledEncoding = false;

/** `message`'s encoding, after `prefixBytes` zero bytes the caller fills in (a frame header: one allocation, one copy). */
export function encodeToBuffer<T>(codec: { encode(message: T, writer?: BinaryWriter): BinaryWriter }, message: T, prefixBytes = 0): Buffer {
  const writer = shared;
  try {
    codec.encode(message, writer);
  } catch (error) {
    // A failed encode leaves the writer mid-message: never reuse it.
    shared = new BinaryWriter();
    throw error;
  }
  const internals = writer as unknown as WriterInternals;
  const { buffer, pos, stackPos } = internals;
  pooledEncoding = buffer instanceof Uint8Array && typeof pos === 'number' && Array.isArray(stackPos) && stackPos.length === 0;
  // A view of the writer's buffer (then reset by hand), or finish()'s copy.
  const bytes = pooledEncoding ? (buffer as Uint8Array).subarray(0, pos as number) : writer.finish();
  const out = Buffer.allocUnsafe(prefixBytes + bytes.length);
  out.fill(0, 0, prefixBytes);
  out.set(bytes, prefixBytes);
  if (pooledEncoding) internals.pos = 0;
  if (buffer instanceof Uint8Array && buffer.length > SHARED_WRITER_BYTES_MAX) shared = new BinaryWriter();
  return out;
}
