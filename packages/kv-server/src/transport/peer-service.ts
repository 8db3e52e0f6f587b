/**
 * The gRPC side of the peer transport, registered on the node's gRPC server:
 * the startup survey (what this node knows of the asker), and snapshots a
 * leader sends in chunks (InstallSnapshot), checked whole against their
 * CRC32 before raft sees them. Batches do not come this way: they come on
 * the raw link (peer-listener.ts).
 */
import { crc32 } from 'node:zlib';
import type { Message, RaftTransportServiceServer, SnapshotAck, SnapshotChunk, SurveyResponse } from '@cairn/proto';
import type { Logger } from '../logger.js';
import { SNAPSHOT_RECEIVE_BYTES_MAX } from '../limits.js';
import type { SurveyAnswer } from '../loop/ports.js';

export interface PeerServiceDeps {
  readonly logger: Logger;
  /** A reason to refuse a peer's request (another cluster, not addressed to us, not a member), if any. */
  check(clusterId: string, to: number, from: number): string | undefined;
  /** Whether messages from `peer` are taken in now. */
  admit(peer: number): boolean;
  receive(messages: Message[]): void;
  surveyAnswer(peer: number): SurveyAnswer | undefined;
  /** The highest term seen from `peer`'s runs other than `incarnation` (TermsSeen). */
  termSeenBefore(peer: number, incarnation: number): number;
  /** A seam for tests: the bound is SNAPSHOT_RECEIVE_BYTES_MAX. */
  readonly snapshotBytesMax?: number;
}

export function peerService(deps: PeerServiceDeps): RaftTransportServiceServer {
  return {
    survey: (call, callback) => {
      const { clusterId, to, from, incarnation } = call.request;
      const problem = deps.check(clusterId, to, from);
      const answer = problem === undefined ? deps.surveyAnswer(from) : undefined;
      const response: SurveyResponse = {
        error: problem ?? (answer === undefined ? 'this node does not answer surveys' : ''),
        clusterStarted: answer?.clusterStarted ?? false,
        termSeenFromYou: deps.termSeenBefore(from, incarnation),
        matchIndex: answer?.matchIndex ?? 0,
        matchIndexBeforeLoss: answer?.matchIndexBeforeLoss ?? 0,
        term: answer?.term ?? 0,
        voting: answer?.voting ?? false,
        voters: answer?.voters ?? [],
      };
      callback(null, response);
    },
    installSnapshot: (call, callback) => {
      const parts: Buffer[] = [];
      let bytes = 0;
      const bytesMax = deps.snapshotBytesMax ?? SNAPSHOT_RECEIVE_BYTES_MAX;
      let header: Message | undefined;
      let answered = false;
      const fail = (error: string): void => {
        if (answered) return;
        answered = true;
        deps.logger.warn('snapshot-receive-refused', { error });
        callback(null, { accepted: false, error } satisfies SnapshotAck);
      };
      call.on('data', (chunk: SnapshotChunk) => {
        if (answered) return;
        if (chunk.header !== undefined) {
          const problem = deps.check(chunk.clusterId, chunk.header.to, chunk.header.from);
          if (problem !== undefined) return fail(problem);
          header = chunk.header;
        }
        if (header === undefined) return fail('snapshot chunk before header');
        bytes += chunk.data.length;
        if (bytes > bytesMax) {
          parts.length = 0;
          return fail(`snapshot larger than ${bytesMax} bytes`);
        }
        parts.push(chunk.data);
        if (!chunk.last) return;
        const data = Buffer.concat(parts);
        if (crc32(data) !== chunk.checksum) return fail('snapshot checksum mismatch');
        if (!deps.admit(header.from)) return fail(`messages from node ${header.from} are not admitted now`);
        const snapshot = header.snapshot ? { ...header.snapshot, data } : undefined;
        deps.receive([{ ...header, snapshot }]);
        answered = true;
        callback(null, { accepted: true, error: '' });
      });
      call.on('error', () => fail('stream error'));
      call.on('end', () => {
        if (!answered) fail('snapshot stream ended early');
      });
    },
  };
}
