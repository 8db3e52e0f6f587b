/**
 * The state machine's KV and session keys live under a generation number
 * (storage/keys.ts). A snapshot reads one generation through a LevelDB view;
 * a restore loads a snapshot into the next generation and then switches to
 * it in one synced batch (kv-state-machine.ts), so a crash mid-restore leaves
 * the old state in force. See snapshot-stream.ts for the stream's format.
 */
import { InvalidArgumentError } from '../errors.js';
import { decodeRecord } from '../storage/codec.js';
import { type BatchOp, NodeDatabase } from '../storage/database.js';
import { APPLIED_KEY, generationPrefix, kvKey, PREFIX, prefixEnd, sessionKey } from '../storage/keys.js';
import { retainedHistory } from './compaction.js';
import { decodeAppliedState } from './records.js';
import {
  decodeHeaderValue,
  encodeHeaderValue,
  FrameKind,
  readSnapshotFrames,
  type SnapshotHeader,
  SnapshotWriter,
} from './snapshot-stream.js';

/** A snapshot of the state as chunks; close() releases its LevelDB view if the stream is never read to its end. */
export interface SnapshotStream extends AsyncIterable<Buffer> {
  close(): Promise<void>;
}

/** Restore writes a snapshot's records in batches of about this many bytes. */
const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;

/**
 * A consistent view (LevelDB snapshot) of `generation` as a stream of chunks
 * of about `chunkBytes`. Capturing is immediate; applying may continue while
 * the stream is read. Reading it to the end (or an error while reading)
 * closes the view; otherwise call close().
 */
export function snapshotGeneration(database: NodeDatabase, generation: number, chunkBytes: number): SnapshotStream {
  const db = database.db;
  const view = db.snapshot();
  let viewClosed = false;
  const closeView = async (): Promise<void> => {
    if (viewClosed) return;
    viewClosed = true;
    await view.close();
  };
  const dataDir = database.dataDir;
  return {
    close: closeView,
    async *[Symbol.asyncIterator]() {
      try {
        const appliedRecord = await db.get(APPLIED_KEY, { snapshot: view });
        const state = appliedRecord
          ? decodeAppliedState(decodeRecord(APPLIED_KEY, appliedRecord, { dataDir, what: 'state machine applied state' }), dataDir)
          : { appliedIndex: 0, generation, clockMs: 0, activitySeq: 0, keyCount: 0, revision: 0, compactRevision: 0 };
        const writer = new SnapshotWriter(chunkBytes);
        writer.frame(FrameKind.header, Buffer.alloc(0), encodeHeaderValue(state));
        for (const [prefix, kind] of [
          [PREFIX.kv, FrameKind.kv],
          [PREFIX.session, FrameKind.session],
          [PREFIX.lease, FrameKind.lease],
          [PREFIX.leaseKey, FrameKind.leaseKey],
        ] as const) {
          const base = generationPrefix(prefix, generation);
          for await (const [key, record] of db.iterator({ gte: base, lt: prefixEnd(base), snapshot: view })) {
            const what = (): string => `${FRAME_NAME[kind]} record ${key.toString('hex')}`;
            writer.frame(kind, key.subarray(base.length), decodeRecord(key, record, { dataDir, what }));
            yield* writer.takeChunks();
          }
        }
        for await (const { kind, key, payload } of retainedHistory(database, view, generation, state.compactRevision)) {
          writer.frame(kind, key, payload);
          yield* writer.takeChunks();
        }
        yield* writer.finish();
      } finally {
        await closeView();
      }
    },
  };
}

/**
 * Writes a snapshot stream's records under `generation` (unsynced; the
 * caller's switch is synced) and returns its header. On any error the
 * partial generation is deleted, leaving only `current`.
 */
export async function loadGeneration(
  database: NodeDatabase,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  generation: number,
  current: number,
): Promise<SnapshotHeader> {
  let header: SnapshotHeader | undefined;
  let ops: BatchOp[] = [];
  let opsBytes = 0;
  try {
    for await (const frame of readSnapshotFrames(chunks)) {
      if (frame.kind === FrameKind.header) {
        header = decodeHeaderValue(frame.value);
        continue;
      }
      if (frame.kind === FrameKind.trailer) break;
      if (header === undefined) throw new InvalidArgumentError('snapshot stream has no header frame');
      const key = storedKeyOf(frame.kind, frame.key, generation);
      ops.push(NodeDatabase.putRecord(key, frame.value));
      opsBytes += key.length + frame.value.length;
      if (opsBytes >= RESTORE_BATCH_BYTES) {
        await database.write(ops, { sync: false });
        ops = [];
        opsBytes = 0;
      }
    }
    if (header === undefined) throw new InvalidArgumentError('snapshot stream has no header frame');
    await database.write(ops, { sync: false });
    return header;
  } catch (error) {
    await clearOtherGenerations(database, current);
    throw error;
  }
}

const FRAME_NAME: Readonly<Record<number, string>> = {
  [FrameKind.kv]: 'key',
  [FrameKind.session]: 'session',
  [FrameKind.lease]: 'lease',
  [FrameKind.leaseKey]: 'lease key',
};

/** The prefix under which each kind of record frame is stored (besides KV and SESSION). */
const FRAME_PREFIX: Readonly<Record<number, number>> = {
  [FrameKind.lease]: PREFIX.lease,
  [FrameKind.leaseKey]: PREFIX.leaseKey,
  [FrameKind.historyValue]: PREFIX.historyValue,
  [FrameKind.historyEvents]: PREFIX.historyEvents,
};

/** Where a snapshot frame's record goes in `generation`. */
function storedKeyOf(kind: FrameKind, key: Buffer, generation: number): Buffer {
  if (kind === FrameKind.kv) return kvKey(generation, key);
  if (kind === FrameKind.session) return sessionKey(generation, key.toString('utf8'));
  const prefix = FRAME_PREFIX[kind];
  if (prefix !== undefined) return Buffer.concat([generationPrefix(prefix, generation), key]);
  throw new InvalidArgumentError(`snapshot frame kind ${kind} holds no record`);
}

/** Deletes KV, session, lease and history keys of every generation except `keep`. */
export async function clearOtherGenerations(database: NodeDatabase, keep: number): Promise<void> {
  for (const prefix of [PREFIX.kv, PREFIX.session, PREFIX.lease, PREFIX.leaseKey, PREFIX.historyValue, PREFIX.historyEvents]) {
    await database.db.clear({ gte: Buffer.of(prefix), lt: generationPrefix(prefix, keep) });
    await database.db.clear({ gte: prefixEnd(generationPrefix(prefix, keep)), lt: Buffer.of(prefix + 1) });
  }
}
