/**
 * Compaction of the history (history.ts). The Compact command moves the
 * replicated compacted revision: from then on every node answers COMPACTED
 * for reads and watches below it. Deleting the records no read may ask for
 * any more happens afterwards, in the background, on each node by itself:
 * it changes no answer (reads re-check the compacted revision after reading,
 * see history.ts), so nodes need not agree on when it runs.
 *
 * Semantics of compact(c): c above the current revision is FUTURE_REVISION;
 * c at or below the compacted revision is COMPACTED (as etcd); both change
 * nothing. Compacting to the current revision is allowed. Compaction makes
 * no revision of its own.
 */
import type { CompactRequest, CommandResult } from '@cairn/proto';
import { CompactedError, FutureRevisionError, type KvError } from '../errors.js';
import { decodeRecord } from '../storage/codec.js';
import { type BatchOp, type Database, NodeDatabase } from '../storage/database.js';
import { generationPrefix, historyEventsKey, historyValueKey, PREFIX, prefixEnd } from '../storage/keys.js';
import { type ApplyContext, headerAt } from './apply-command.js';
import { decodeEventList, isDeletionRecord, revisionOfHistoryKey } from './history.js';
import { FrameKind } from './snapshot-stream.js';

export function applyCompact(request: CompactRequest, ctx: ApplyContext): CommandResult | KvError {
  const { revision } = request;
  if (revision > ctx.state.revision) return new FutureRevisionError(revision, ctx.state.revision);
  if (revision <= ctx.state.compactRevision) return new CompactedError(revision, ctx.state.compactRevision);
  ctx.state.compactRevision = revision;
  return { compact: { header: headerAt(ctx) } };
}

/** Deletes are written in batches of this many. */
const DELETE_BATCH = 1000;

/**
 * Runs the physical deletion behind the compacted revision, one pass at a
 * time; a request while a pass runs is picked up after it (only the newest
 * counts). Failures are left for the next pass: nothing depends on them.
 */
export class HistoryCompactor {
  private wanted: { generation: number; revision: number } | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly database: NodeDatabase) {}

  request(generation: number, compactRevision: number): void {
    if (compactRevision <= 0) return;
    this.wanted = { generation, revision: compactRevision };
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves when no pass is running or wanted (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  private async run(): Promise<void> {
    while (this.wanted !== undefined) {
      const { generation, revision } = this.wanted;
      this.wanted = undefined;
      try {
        await compactHistory(this.database, generation, revision);
      } catch {
        // The database closed or a restore switched generations: a later pass redoes it.
      }
    }
  }
}

/**
 * Deletes the history records below `compactRevision` that no read at or
 * above it needs: every revision's event list below it, and per key every
 * value record below it except the newest (kept unless it is a deletion,
 * for reads at the compacted revision and the prevKv of later events).
 *
 * The work is proportional to what is compacted, not to what is retained:
 * the event lists still present below `compactRevision` name the keys that
 * changed there, and only those keys' records below it are visited. The
 * event lists go last, so a pass cut short is redone by the next one.
 */
export async function compactHistory(database: NodeDatabase, generation: number, compactRevision: number): Promise<void> {
  const eventsRange = { gte: historyEventsKey(generation, 0), lt: historyEventsKey(generation, compactRevision) };
  const keys = new Map<string, Buffer>();
  for await (const [storedKey, record] of database.db.iterator(eventsRange)) {
    const what = (): string => `history events ${storedKey.toString('hex')}`;
    for (const { key } of decodeEventList(decodeRecord(storedKey, record, { dataDir: database.dataDir, what }))) {
      keys.set(key.toString('latin1'), key);
    }
  }
  let ops: BatchOp[] = [];
  for (const key of keys.values()) {
    const below = { gte: historyValueKey(generation, key, 0), lt: historyValueKey(generation, key, compactRevision) };
    // The newest record below compactRevision of this key.
    let newest: { storedKey: Buffer; deletion: boolean } | undefined;
    for await (const [storedKey, record] of database.db.iterator(below)) {
      if (newest !== undefined) ops.push({ type: 'del', key: newest.storedKey });
      newest = { storedKey, deletion: isDeletionRecord(record) };
    }
    if (newest?.deletion === true) ops.push({ type: 'del', key: newest.storedKey });
    if (ops.length >= DELETE_BATCH) {
      await database.write(ops, { sync: false });
      ops = [];
    }
  }
  await database.write(ops, { sync: false });
  await database.db.clear(eventsRange);
}

/**
 * The history records a snapshot carries: exactly what compaction to
 * `compactRevision` keeps (whatever this node's background deletion has
 * done yet, so every node's snapshot of the same state is the same bytes),
 * read from the LevelDB snapshot `view`, in stored key order, unframed.
 */
export async function* retainedHistory(
  database: NodeDatabase,
  view: ReturnType<Database['snapshot']>,
  generation: number,
  compactRevision: number,
): AsyncGenerator<{ kind: FrameKind; key: Buffer; payload: Buffer }> {
  const db = database.db;
  const source = (storedKey: Buffer, record: Buffer): Buffer =>
    decodeRecord(storedKey, record, { dataDir: database.dataDir, what: () => `history record ${storedKey.toString('hex')}` });
  const base = generationPrefix(PREFIX.historyValue, generation);
  let keyPart: Buffer | undefined;
  // The newest record below compactRevision of the key being walked, kept unless a deletion.
  let newestBelow: { storedKey: Buffer; record: Buffer } | undefined;
  const frameOf = (entry: { storedKey: Buffer; record: Buffer }): { kind: FrameKind; key: Buffer; payload: Buffer } => ({
    kind: FrameKind.historyValue,
    key: entry.storedKey.subarray(base.length),
    payload: source(entry.storedKey, entry.record),
  });
  for await (const [storedKey, record] of db.iterator({ gte: base, lt: prefixEnd(base), snapshot: view })) {
    const part = storedKey.subarray(0, storedKey.length - 8);
    if (keyPart === undefined || !part.equals(keyPart)) {
      if (newestBelow !== undefined && !isDeletionRecord(newestBelow.record)) yield frameOf(newestBelow);
      newestBelow = undefined;
      keyPart = Buffer.from(part);
    }
    if (revisionOfHistoryKey(storedKey) < compactRevision) {
      newestBelow = { storedKey, record };
      continue;
    }
    if (newestBelow !== undefined && !isDeletionRecord(newestBelow.record)) yield frameOf(newestBelow);
    newestBelow = undefined;
    yield frameOf({ storedKey, record });
  }
  if (newestBelow !== undefined && !isDeletionRecord(newestBelow.record)) yield frameOf(newestBelow);
  const events = generationPrefix(PREFIX.historyEvents, generation);
  for await (const [storedKey, record] of db.iterator({
    gte: historyEventsKey(generation, compactRevision),
    lt: prefixEnd(events),
    snapshot: view,
  })) {
    yield { kind: FrameKind.historyEvents, key: storedKey.subarray(events.length), payload: source(storedKey, record) };
  }
}
