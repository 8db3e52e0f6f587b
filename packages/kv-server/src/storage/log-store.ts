/**
 * The raft log (hashicorp LogStore) in the node's LevelDB, one checksummed
 * record per entry, with every entry after the last snapshot mirrored in
 * memory so raft-core's reads are synchronous (the log is bounded by
 * snapshotting). The mirror only ever shows what is durable: it moves when a
 * staged write's batch has landed (see staged-write.ts).
 *
 * The log starts after a base point, the (index, term) of the snapshot it is
 * compacted behind; term(base index) is that snapshot's term.
 */
import { assert, encodeToBuffer, Entry } from '@cairn/proto';
import { StorageCompactedError, StorageUnavailableError } from '@cairn/raft-core';
import { CorruptionError } from '../errors.js';
import { decodeProto, decodeRecord, RECORD_HEADER_BYTES } from './codec.js';
import { type BatchOp, NodeDatabase } from './database.js';
import { logIndexOfKey, logKey, PREFIX, prefixRange } from './keys.js';
import type { StagedWrite } from './staged-write.js';

/** The point a log continues from: the index and term of the snapshot it is compacted behind. */
export interface LogBase {
  index: number;
  term: number;
}

/** Per mirrored entry beyond its data: the Entry object, its Buffer and the array slot (approximate). */
const ENTRY_OVERHEAD_BYTES = 200;

export class LogStore {
  /** entryLog[i].index === base.index + 1 + i */
  private entryLog: Entry[];
  /** Memory the mirrored log holds (data plus per-entry overhead), kept as it changes. */
  private entryLogBytes: number;

  private constructor(
    private readonly database: NodeDatabase,
    private base: LogBase,
    entries: Entry[],
  ) {
    this.entryLog = entries;
    this.entryLogBytes = mirroredBytes(entries);
  }

  /**
   * Reads every log record after `base`, verifying checksums, decodings,
   * indexes and contiguity (CorruptionError otherwise). Records at or below
   * `base` are leftovers of a compaction a crash interrupted: they are
   * skipped and deleted.
   */
  static async load(database: NodeDatabase, base: LogBase): Promise<LogStore> {
    const dataDir = database.dataDir;
    const entries: Entry[] = [];
    let expectedIndex = base.index + 1;
    let previousTerm = base.term;
    let compactedLeftover = false;
    for await (const [key, value] of database.db.iterator(prefixRange(Buffer.of(PREFIX.log)))) {
      const keyIndex = logIndexOfKey(key);
      if (keyIndex <= base.index) {
        compactedLeftover = true;
        continue;
      }
      const what = `log entry ${keyIndex}`;
      const entry = decodeProto(Entry, decodeRecord(key, value, { dataDir, what }), dataDir, what);
      if (entry.index !== keyIndex) throw new CorruptionError(dataDir, `${what} holds index ${entry.index}`);
      if (keyIndex !== expectedIndex) {
        throw new CorruptionError(dataDir, `the log has ${what} where index ${expectedIndex} was expected (gap or stale entry)`);
      }
      if (entry.term < previousTerm)
        throw new CorruptionError(dataDir, `${what} has term ${entry.term} below the previous ${previousTerm}`);
      entries.push(entry);
      expectedIndex += 1;
      previousTerm = entry.term;
    }
    if (compactedLeftover) await database.db.clear({ gte: logKey(0), lte: logKey(base.index) });
    return new LogStore(database, { ...base }, entries);
  }

  // ---- reads (synchronous, from the mirror) ----

  firstIndex(): number {
    return this.base.index + 1;
  }

  lastIndex(): number {
    return this.base.index + this.entryLog.length;
  }

  term(index: number): number {
    if (index === this.base.index) return this.base.term;
    if (index < this.base.index) throw new StorageCompactedError(index, this.firstIndex());
    if (index > this.lastIndex()) throw new StorageUnavailableError(index, this.lastIndex());
    return this.entryAt(index).term;
  }

  /** Entries [lo, hi) up to about bytesMax of data, but always at least one. */
  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    if (lo < this.firstIndex()) throw new StorageCompactedError(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new StorageUnavailableError(hi - 1, this.lastIndex());
    assert(lo <= hi, `entries(${lo}, ${hi}): lo > hi`);
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const entry = this.entryAt(index);
      bytes += entry.data.length;
      if (result.length > 0 && bytes > bytesMax) break;
      result.push(entry);
    }
    return result;
  }

  /** Memory held by the log entries after the snapshot (their data plus per-entry overhead). */
  logBytes(): number {
    return this.entryLogBytes;
  }

  // ---- staged writes ----

  /**
   * Appends `entries` (contiguous), truncating the conflicting suffix they do
   * not overwrite. `afterSnapshot`: the index of a snapshot installed in the
   * same batch, staged before this (the log is then empty after it).
   */
  stageAppend(entries: readonly Entry[], afterSnapshot: number | undefined): StagedWrite {
    const baseIndex = afterSnapshot ?? this.base.index;
    const lastIndex = afterSnapshot ?? this.lastIndex();
    const first = entries[0]!;
    assert(first.index > baseIndex, `append at ${first.index} overwrites the snapshot at ${baseIndex}`);
    assert(first.index <= lastIndex + 1, `append at ${first.index} leaves a gap after ${lastIndex}`);
    const ops: BatchOp[] = [];
    entries.forEach((entry, offset) => {
      assert(entry.index === first.index + offset, 'appended entries must be contiguous');
      ops.push(NodeDatabase.putSealed(logKey(entry.index), encodeToBuffer(Entry, entry, RECORD_HEADER_BYTES)));
    });
    const newLast = first.index + entries.length - 1;
    for (let index = newLast + 1; index <= lastIndex; index++) ops.push({ type: 'del', key: logKey(index) });
    const copies = entries.map((entry) => ({ ...entry, data: Buffer.from(entry.data) }));
    return {
      ops,
      onWritten: () => {
        // Runs after any snapshot in the same batch, so the base is current.
        const keep = first.index - this.base.index - 1;
        // In place: copying the whole log per append cost O(log length) each time.
        if (keep < this.entryLog.length) {
          this.entryLogBytes -= mirroredBytes(this.entryLog.slice(keep));
          this.entryLog.length = keep;
        }
        for (const copy of copies) this.entryLog.push(copy);
        this.entryLogBytes += mirroredBytes(copies);
      },
    };
  }

  /**
   * Moves the base to `base` (a local snapshot or compaction), keeping the
   * entries after it. Writes nothing: the records go afterwards, in one range
   * delete (see clearThrough).
   */
  stageCompaction(base: LogBase): StagedWrite {
    return {
      ops: [],
      onWritten: () => {
        this.entryLog = this.entryLog.slice(base.index - this.base.index);
        this.entryLogBytes = mirroredBytes(this.entryLog);
        this.base = { ...base };
      },
    };
  }

  /** Deletes the whole log and restarts it after `base` (a snapshot from the leader, as in etcd's ApplySnapshot). */
  stageReplacement(base: LogBase): StagedWrite {
    const ops: BatchOp[] = [];
    for (let index = this.firstIndex(); index <= this.lastIndex(); index++) ops.push({ type: 'del', key: logKey(index) });
    return {
      ops,
      onWritten: () => {
        this.entryLog = [];
        this.entryLogBytes = 0;
        this.base = { ...base };
      },
    };
  }

  /**
   * Deletes the records from `from` through `index`, which a compaction
   * already put behind the base, in one native range delete (a del op each in
   * a batch blocked the loop for tens of ms at 10k entries). A crash before it
   * leaves records that load() skips and deletes.
   */
  async clearThrough(from: number, index: number): Promise<void> {
    assert(index <= this.base.index, `clearing log records through ${index}, after the base ${this.base.index}`);
    if (from <= index) await this.database.db.clear({ gte: logKey(from), lte: logKey(index) });
  }

  private entryAt(index: number): Entry {
    const entry = this.entryLog[index - this.base.index - 1];
    assert(entry !== undefined, `log mirror has no entry ${index}`);
    assert(entry.index === index, `log mirror holds ${entry.index} at ${index}`);
    return entry;
  }
}

function mirroredBytes(entries: readonly Entry[]): number {
  let bytes = 0;
  for (const entry of entries) bytes += entry.data.length + ENTRY_OVERHEAD_BYTES;
  return bytes;
}
