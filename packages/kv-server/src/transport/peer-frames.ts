/**
 * The raw peer link's wire format. A dialing node opens a TCP connection to
 * the peer's gRPC port and sends PEER_LINK_MAGIC; the port's listener tells
 * this apart from gRPC's HTTP/2 preface ("PRI * HTTP/2.0…") by those first
 * bytes. After it, each direction is a sequence of frames: a u32 (big-endian)
 * length, then that many bytes of protobuf (MessageBatch from the dialer,
 * BatchAck back).
 *
 * Why not a gRPC stream: on the 2-core benchmark machine a gRPC stream
 * message cost ~40–60 µs more per hop than a plain socket write (HTTP/2
 * framing, flow control and grpc-js's stream layers on both ends), and a
 * 1-client write crosses the peer link twice.
 */
export const PEER_LINK_MAGIC = Buffer.from('CAIRNRL1', 'latin1');

const HEADER_BYTES = 4;

export class FrameTooLargeError extends Error {
  constructor(readonly bytes: number, readonly limit: number) {
    super(`peer frame of ${bytes} bytes exceeds the ${limit}-byte limit`);
  }
}

/** One frame: the length header and the payload, in a single buffer (one socket write). */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/**
 * Splits a byte stream into frames. A frame split across chunks is
 * assembled once it is complete.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly frameBytesMax: number) {}

  /** The frames completed by `chunk`; throws FrameTooLargeError on a length over the limit. */
  push(chunk: Buffer): Buffer[] {
    let data = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      data = Buffer.concat(this.pending, this.pendingBytes + chunk.length);
      this.pending = [];
      this.pendingBytes = 0;
    }
    const frames: Buffer[] = [];
    let offset = 0;
    while (data.length - offset >= HEADER_BYTES) {
      const length = data.readUInt32BE(offset);
      if (length > this.frameBytesMax) throw new FrameTooLargeError(length, this.frameBytesMax);
      if (data.length - offset - HEADER_BYTES < length) break;
      frames.push(ownBytes(data, offset + HEADER_BYTES, length));
      offset += HEADER_BYTES + length;
    }
    if (offset < data.length) {
      // Kept as a copy: the rest of `data` may be a view of a large chunk.
      const rest = Buffer.from(data.subarray(offset));
      this.pending.push(rest);
      this.pendingBytes = rest.length;
    }
    return frames;
  }
}

/**
 * The frame's bytes. Decoded entries keep views of them in the raft log's
 * memory until compaction, so a frame that is a small part of a large chunk
 * is copied (unpooled) rather than pin the whole chunk; one that is most of
 * its chunk is used in place.
 */
function ownBytes(data: Buffer, start: number, length: number): Buffer {
  const view = data.subarray(start, start + length);
  if (length * 2 >= data.length) return view;
  const copy = Buffer.allocUnsafeSlow(length);
  view.copy(copy);
  return copy;
}
