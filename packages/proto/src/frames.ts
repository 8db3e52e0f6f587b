/**
 * Length-prefixed frames, the wire format of Cairn's raw TCP links (node to
 * node, and clerk to node). After a link's 8-byte magic, each direction is a
 * sequence of frames: a u32 (big-endian) length, then that many bytes of
 * protobuf. The links exist because on a small machine a gRPC stream message
 * costs each end tens of microseconds more than a socket write (HTTP/2
 * framing, flow control, grpc-js's stream layers).
 */

import type { BinaryWriter } from '@bufbuild/protobuf/wire';
import { encodeToBuffer } from './encode.js';

/** Opens a clerk's raw KV link: PipelineRequest frames in, PipelineResponse frames out, as KVService.Pipeline. */
export const CLIENT_LINK_MAGIC = Buffer.from('CAIRNKV1', 'latin1');

const HEADER_BYTES = 4;

export class FrameTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`frame of ${bytes} bytes exceeds the ${limit}-byte limit`);
  }
}

/** The frame of one protobuf message, encoded in place after its header (no second copy). */
export function encodeMessageFrame<T>(codec: { encode(message: T, writer?: BinaryWriter): BinaryWriter }, message: T): Buffer {
  const frame = encodeToBuffer(codec, message, HEADER_BYTES);
  frame.writeUInt32BE(frame.length - HEADER_BYTES, 0);
  return frame;
}

/** One frame: the length header and the payload, in a single buffer (one socket write). */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/**
 * Splits a byte stream into frames. The chunks of an incomplete frame are
 * kept as they came and joined once, when the frame is complete: joining
 * them on every chunk cost quadratic time, which a client sending one large
 * frame slowly could use to wedge a node.
 */
export class FrameReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Header plus payload bytes of the frame being assembled; -1 until its header has arrived. */
  private frameBytes = -1;

  constructor(private readonly frameBytesMax: number) {}

  /** The frames completed by `chunk`; throws FrameTooLargeError on a length over the limit. */
  push(chunk: Buffer): Buffer[] {
    let data = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.frameBytes < 0) {
        if (this.pendingBytes < HEADER_BYTES) return [];
        // At most the header's few bytes plus this chunk: cheap, and once per frame.
        const head = Buffer.concat(this.pending, this.pendingBytes);
        this.pending = [head];
        this.frameBytes = HEADER_BYTES + this.checkedLength(head, 0);
      }
      if (this.pendingBytes < this.frameBytes) return [];
      data = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.frameBytes = -1;
    }
    const frames: Buffer[] = [];
    let offset = 0;
    while (data.length - offset >= HEADER_BYTES) {
      const length = this.checkedLength(data, offset);
      if (data.length - offset - HEADER_BYTES < length) {
        this.frameBytes = HEADER_BYTES + length;
        break;
      }
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

  private checkedLength(data: Buffer, offset: number): number {
    const length = data.readUInt32BE(offset);
    if (length > this.frameBytesMax) throw new FrameTooLargeError(length, this.frameBytesMax);
    return length;
  }
}

/**
 * A FrameReader that decodes each frame as `what`. `push` returns the
 * messages completed by a chunk, in order, and an `error` (a reason to close
 * the link with) if the stream went wrong after them: a frame over the limit,
 * or one that does not decode.
 */
export class MessageReader<T> {
  private readonly frames: FrameReader;

  constructor(
    private readonly codec: { decode(bytes: Uint8Array): T },
    private readonly what: string,
    frameBytesMax: number,
  ) {
    this.frames = new FrameReader(frameBytesMax);
  }

  push(chunk: Buffer): { messages: T[]; error?: string } {
    let frames: Buffer[];
    try {
      frames = this.frames.push(chunk);
    } catch (error) {
      return { messages: [], error: (error as Error).message };
    }
    const messages: T[] = [];
    for (const frame of frames) {
      try {
        messages.push(this.codec.decode(frame));
      } catch {
        return { messages, error: `a frame that is not a ${this.what}` };
      }
    }
    return { messages };
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
