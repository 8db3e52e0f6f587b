/**
 * Sends a snapshot (MsgSnap) to a peer over a client-streaming gRPC
 * `InstallSnapshot` call: the message without its data first, then the data
 * in SNAPSHOT_SEND_CHUNK_BYTES chunks, the last one carrying a CRC32 of it
 * all. The peer answers once, accepted or not.
 */
import { crc32 } from 'node:zlib';
import type { Message, RaftTransportServiceClient, SnapshotChunk } from '@cairn/proto';
import { SNAPSHOT_SEND_CHUNK_BYTES, SNAPSHOT_SEND_TIMEOUT_MS } from '../limits.js';
import type { Logger } from '../logger.js';

export function sendSnapshot(
  client: RaftTransportServiceClient,
  message: Message,
  clusterId: string,
  logger: Logger,
  done: (ok: boolean) => void,
  /** A seam for tests: the bound is SNAPSHOT_SEND_TIMEOUT_MS. */
  timeoutMs = SNAPSHOT_SEND_TIMEOUT_MS,
): void {
  const peer = message.to;
  const data = message.snapshot?.data ?? Buffer.alloc(0);
  logger.info('snapshot-sending', { peer, index: message.snapshot?.metadata?.index, bytes: data.length });
  const header: Message = { ...message, snapshot: message.snapshot ? { ...message.snapshot, data: Buffer.alloc(0) } : undefined };
  const call = client.installSnapshot({ deadline: Date.now() + timeoutMs }, (error, ack) => {
    const ok = error === null && ack?.accepted === true;
    if (!ok) logger.warn('snapshot-send-failed', { peer, error: error?.message ?? ack?.error });
    else logger.info('snapshot-sent', { peer, index: message.snapshot?.metadata?.index, bytes: data.length });
    done(ok);
  });
  const checksum = crc32(data);
  let offset = 0;
  do {
    const end = Math.min(data.length, offset + SNAPSHOT_SEND_CHUNK_BYTES);
    const last = end === data.length;
    const chunk: SnapshotChunk = {
      clusterId,
      header: offset === 0 ? header : undefined,
      offset,
      data: data.subarray(offset, end),
      last,
      checksum: last ? checksum : 0,
    };
    call.write(chunk);
    offset = end;
  } while (offset < data.length);
  call.end();
}
