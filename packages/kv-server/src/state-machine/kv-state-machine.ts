/**
 * KvStateMachine: the deterministic KV state machine (hashicorp FSM) over the
 * node's LevelDB. Committed entries carry an encoded `Command`; applying them
 * is a pure function of the log: no local clock, no randomness, no node
 * settings that may differ between members (the value limit comes from the
 * proposing leader inside each command; sessionTtlMs and sessionsMax must be
 * the same on every node).
 *
 * KV data and client sessions live in LevelDB (under the current generation,
 * see storage/keys.ts), so memory does not grow with the data. What is kept in
 * memory is bounded: the session index (SESSIONS_MAX entries of clientId,
 * lastSeq, lastActiveMs) and the entries of the batch being applied.
 *
 * Durability: applyEntries writes every state change of a batch plus the new
 * appliedIndex in ONE LevelDB batch with sync: false. That is safe because the
 * entries are already durable in the raft log: after a crash the state
 * machine restarts from its last written appliedIndex and the node re-applies
 * the committed entries after it, and applying is deterministic, so the
 * replay reproduces exactly the lost writes (entries at or below appliedIndex
 * are skipped, so nothing applies twice).
 *
 * Exactly-once: a command with a session (clientId, seq) is applied only if
 * seq is new; a retry of the last seq gets the stored reply; an older seq gets
 * SessionSeqStaleError (sessions.ts keeps, expires and evicts the sessions).
 */
import { assert, type CommandResult, type Entry, type KeyValue } from '@cairn/proto';
import { InternalError, InvalidArgumentError, type KvError } from '../errors.js';
import { SESSION_TTL_MS_DEFAULT, SESSIONS_MAX, SNAPSHOT_CHUNK_BYTES, VALUE_BYTES_MAX, VALUE_CACHE_BYTES } from '../limits.js';
import { RECORD_HEADER_BYTES } from '../storage/codec.js';
import { NodeDatabase } from '../storage/database.js';
import { APPLIED_KEY, kvKey } from '../storage/keys.js';
import type { StagedWrite } from '../storage/staged-write.js';
import { scanRange } from './range-scan.js';
import { approximateHistoryBytes, eventsBetween, getAt, type HistoryView, rangeAt } from './history.js';
import { HistoryCompactor } from './compaction.js';
import { seedHistory } from './history-seed.js';
import { commandKeys, loadIntoBatch } from './batch-keys.js';
import { applyCommand, type CommandApplyDeps } from './session-apply.js';
import type { KeyMatch } from './pending-batch.js';
import { clearOtherGenerations, loadGeneration, snapshotGeneration, type SnapshotStream } from './generations.js';
import { LeaseTable } from './leases.js';
import { decodeCommands, mapKey, PendingBatch, type RevisionEvents } from './pending-batch.js';
import { type AppliedState, decodeAppliedState, decodeValueRecord, encodeAppliedState, type StoredValue } from './records.js';
import { SessionIndex, type SessionLimits } from './sessions.js';
import { ValueCache } from './value-cache.js';

export interface KvStateMachineOptions {
  /** Largest value a put, cas or append may produce. Must match on every node. */
  valueBytesMax?: number;
  /** Must match on every node. */
  sessionTtlMs?: number;
  /** Must match on every node. */
  sessionsMax?: number;
  snapshotChunkBytes?: number;
  /** Bytes of recent values kept in memory to skip reads (0 = no cache). */
  valueCacheBytes?: number;
}

export interface AppliedResult {
  index: number;
  result: CommandResult | KvError;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** True when more keys match beyond the limit. */
  more: boolean;
}

export class KvStateMachine {
  private state: AppliedState;
  private sessions: SessionIndex;
  private readonly sessionLimits: SessionLimits;
  private readonly valueBytesMax: number;
  private readonly snapshotChunkBytes: number;
  private readonly cache: ValueCache;
  private applying = false;
  private readonly appliedListeners = new Set<(revisions: readonly RevisionEvents[]) => void>();
  private failedWrite: Error | undefined;
  private readonly historyView: HistoryView;
  private readonly compactor: HistoryCompactor;
  /**
   * The batch whose results were handed to `answer` but which is not in
   * LevelDB yet. Reads consult it first: a client that got a write's reply
   * must see that write in its next read, at every consistency level.
   */
  private answered: { values: ReadonlyMap<string, StoredValue | null>; written: Promise<void> } | undefined;
  /**
   * The revision reads see: set when a batch is answered. state.revision runs
   * ahead of it while a batch is being applied, and naming that in a read's
   * header would claim writes the read cannot see.
   */
  private readableRevision: number;

  private constructor(
    readonly database: NodeDatabase,
    state: AppliedState,
    sessions: SessionIndex,
    sessionLimits: SessionLimits,
    options: KvStateMachineOptions,
    /** The leases as applied (answered batches included); the leader's keeper counts them down. */
    readonly leases: LeaseTable,
  ) {
    this.state = state;
    this.readableRevision = state.revision;
    this.sessions = sessions;
    this.historyView = {
      database,
      generation: () => this.state.generation,
      revision: () => this.state.revision,
      compactRevision: () => this.state.compactRevision,
    };
    this.compactor = new HistoryCompactor(database);
    this.compactor.request(state.generation, state.compactRevision);
    this.sessionLimits = sessionLimits;
    this.valueBytesMax = options.valueBytesMax ?? VALUE_BYTES_MAX;
    this.snapshotChunkBytes = options.snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES;
    this.cache = new ValueCache(options.valueCacheBytes ?? VALUE_CACHE_BYTES);
    assert(this.valueBytesMax > 0);
    assert(this.snapshotChunkBytes > 0);
  }

  /** Loads the applied state and session index; removes leftovers of an interrupted restore. */
  static async open(database: NodeDatabase, options: KvStateMachineOptions = {}): Promise<KvStateMachine> {
    const payload = await database.getRecord(APPLIED_KEY, 'state machine applied state');
    let state: AppliedState = payload
      ? decodeAppliedState(payload, database.dataDir)
      : { appliedIndex: 0, generation: 1, clockMs: 0, activitySeq: 0, keyCount: 0, revision: 0, compactRevision: 0 };
    await clearOtherGenerations(database, state.generation);
    state = await seedHistory(database, state);
    const sessionLimits = { ttlMs: options.sessionTtlMs ?? SESSION_TTL_MS_DEFAULT, max: options.sessionsMax ?? SESSIONS_MAX };
    const sessions = await SessionIndex.load(database, state.generation, sessionLimits);
    const leases = await LeaseTable.load(database, state.generation);
    return new KvStateMachine(database, state, sessions, sessionLimits, options, leases);
  }

  appliedIndex(): number {
    return this.state.appliedIndex;
  }

  /** The store's revision as reads see it (answered batches included). */
  revision(): number {
    return this.readableRevision;
  }

  compactRevision(): number {
    return this.state.compactRevision;
  }

  /**
   * `listener` gets every revision's events after its batch is in LevelDB, in
   * revision order, once (what watchers are fed from). Returns an unsubscribe.
   */
  onApplied(listener: (revisions: readonly RevisionEvents[]) => void): () => void {
    this.appliedListeners.add(listener);
    return () => this.appliedListeners.delete(listener);
  }

  /** Number of keys stored. */
  keyCount(): number {
    return this.state.keyCount;
  }

  sessionCount(): number {
    return this.sessions.size;
  }
  // ---- reads (from LevelDB; see the node for linearizability) ----

  /**
   * The key's value including every write already answered. Never waits: a
   * write answered but not yet in LevelDB is served from the answered batch.
   */
  async get(key: Buffer, revision = 0): Promise<KeyValue | undefined> {
    if (revision > 0) return getAt(await this.history(), key, revision);
    const stored = await this.readStored(key);
    return stored === undefined ? undefined : { key: Buffer.from(key), ...stored };
  }

  /**
   * Keys starting with `prefix`, in byte order, after `startAfter` (exclusive,
   * for paging; empty = from the start), at most `limit` (0 = default).
   */
  async range(prefix: Buffer, startAfterIn: Buffer | undefined, limit: number, keysOnly: boolean, revision = 0): Promise<RangeResult> {
    if (revision > 0) return rangeAt(await this.history(), { prefix, startAfter: startAfterIn, limit, keysOnly, revision });
    // Merging the answered batch into a LevelDB iteration is not worth its
    // code: wait for that one local, unsynced write instead (only when a
    // batch is between its answer and its write).
    if (this.answered !== undefined) await this.answered.written;
    return scanRange(this.database, this.state.generation, { prefix, startAfter: startAfterIn, limit, keysOnly });
  }

  /** HistoryReader (ports.ts): the revisions in [from, to] with events matching `match` (history.ts). */
  async eventsBetween(from: number, to: number, match: KeyMatch, maxEvents: number): Promise<RevisionEvents[]> {
    return eventsBetween(await this.history(), from, to, match, maxEvents);
  }

  /** LevelDB's estimate of the retained history's bytes on disk (for the byte bound). */
  historyBytes(): Promise<number> {
    return approximateHistoryBytes(this.database, this.state.generation);
  }

  /** Resolves when the background deletion of compacted history is done (tests, shutdown). */
  historyCompacted(): Promise<void> {
    return this.compactor.idle();
  }

  /** History is read from LevelDB: first wait for an answered batch's write. */
  private async history(): Promise<HistoryView> {
    if (this.answered !== undefined) await this.answered.written;
    return this.historyView;
  }

  // ---- apply ----

  /**
   * Applies committed entries in order and writes all their effects plus the
   * new appliedIndex in one batch. Returns one result per applied command
   * entry (no-op and conf-change entries only advance appliedIndex; the node
   * handles conf changes). Entries at or below appliedIndex are skipped.
   *
   * `answer` receives the results before the batch is written (see below).
   * `alsoWrite` joins other ops to the same atomic batch, e.g.
   * `storage.stageMembership(...)` for a conf change, so the new membership
   * and the applied index that covers it can never be separated by a crash.
   */
  async applyEntries(
    entries: readonly Entry[],
    alsoWrite?: StagedWrite,
    answer?: (results: AppliedResult[]) => void,
  ): Promise<AppliedResult[]> {
    assert(!this.applying, 'applyEntries calls must not overlap');
    if (this.failedWrite !== undefined)
      throw new InternalError(`the state machine stopped after a failed write: ${this.failedWrite.message}`);
    this.applying = true;
    try {
      const batch = new PendingBatch();
      const results: AppliedResult[] = [];
      const previous = { ...this.state };
      const commands = decodeCommands(entries, this.state.appliedIndex);
      const deps: CommandApplyDeps = {
        state: this.state,
        sessions: this.sessions,
        leases: this.leases,
        valueBytesMax: this.valueBytesMax,
        store: this,
        loadKeys: (keys, into) => this.loadKeys(keys, into),
      };
      await loadIntoBatch(this.database, this.state.generation, this.cache, commandKeys(commands), batch);
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        if (entry.index <= this.state.appliedIndex) continue;
        assert(entry.index === this.state.appliedIndex + 1, `apply gap: entry ${entry.index} after ${this.state.appliedIndex}`);
        const command = commands[i];
        if (command !== undefined) {
          // Synchronous unless a session's stored reply must be read from disk (a retried write).
          const outcome = applyCommand(deps, entry.index, command, batch);
          results.push({ index: entry.index, result: outcome instanceof Promise ? await outcome : outcome });
        }
        this.state.appliedIndex = entry.index;
      }
      // The results are final now. The entries are committed (durable in the raft
      // log), so the caller may answer before this batch is written: if the
      // write fails, the node stops and replaying the log recomputes the same results.
      if (this.state.appliedIndex === previous.appliedIndex && alsoWrite === undefined) {
        this.readableRevision = this.state.revision;
        answer?.(results);
        return results;
      }
      batch.ops.push(NodeDatabase.putSealed(APPLIED_KEY, encodeAppliedState(this.state, RECORD_HEADER_BYTES)));
      if (alsoWrite !== undefined) batch.ops.push(...alsoWrite.ops);
      const written = this.database.write(batch.ops, { sync: false });
      // Readers only need to know when it is over; a failure is handled below.
      this.answered = { values: batch.values, written: written.catch(() => undefined) };
      this.readableRevision = this.state.revision;
      answer?.(results);
      try {
        await written;
      } catch (error) {
        this.answered = undefined;
        // Memory (session index, cache) is now ahead of disk, so this machine
        // refuses further applies; the node treats a failed write as fatal.
        this.state = previous;
        this.readableRevision = previous.revision;
        this.cache.clear();
        this.failedWrite = error as Error;
        throw error;
      }
      // In the same turn as the write's completion, so no read falls between the two.
      for (const [key, value] of batch.values) this.cache.set(key, value);
      this.answered = undefined;
      alsoWrite?.onWritten();
      if (this.state.compactRevision > previous.compactRevision) this.compactor.request(this.state.generation, this.state.compactRevision);
      if (batch.revisions.length > 0) for (const listener of this.appliedListeners) listener(batch.revisions);
      return results;
    } finally {
      this.applying = false;
    }
  }

  /**
   * The stored reply of a write already applied for (clientId, seq), if that
   * is the session's latest: a retry is answered from it without a new proposal.
   */
  async appliedResult(clientId: string, seq: number): Promise<CommandResult | undefined> {
    if (this.applying) return undefined;
    return this.sessions.storedResult(clientId, seq, this.state.generation);
  }

  /** The sessions' last sequence numbers (for tests and status). */
  sessionSeq(clientId: string): number | undefined {
    return this.sessions.lastSeq(clientId);
  }

  // ---- snapshot / restore ----

  /** A consistent view of the whole state as a stream of chunks (see generations.ts). */
  snapshot(): SnapshotStream {
    return snapshotGeneration(this.database, this.state.generation, this.snapshotChunkBytes);
  }

  /**
   * Discards all prior state and loads a snapshot stream. Crash-safe: the
   * snapshot is loaded into a new generation and one final synced batch
   * switches to it; a crash before that leaves the old state in force.
   * If `index` is given it must equal the snapshot's applied index.
   */
  async restore(data: Buffer | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, index?: number): Promise<void> {
    assert(!this.applying, 'restore during apply');
    this.applying = true;
    try {
      const generation = this.state.generation + 1;
      const loaded = await loadGeneration(this.database, Buffer.isBuffer(data) ? [data] : data, generation, this.state.generation);
      if (index !== undefined && loaded.appliedIndex !== index) {
        await clearOtherGenerations(this.database, this.state.generation);
        throw new InvalidArgumentError(`snapshot data is at index ${loaded.appliedIndex}, its metadata says ${index}`);
      }
      const state: AppliedState = { ...loaded, generation };
      this.cache.clear();
      await this.database.write([NodeDatabase.putRecord(APPLIED_KEY, encodeAppliedState(state))], { sync: true });
      this.state = await seedHistory(this.database, state);
      this.readableRevision = this.state.revision;
      await clearOtherGenerations(this.database, generation);
      this.sessions = await SessionIndex.load(this.database, generation, this.sessionLimits);
      await this.leases.reload(generation);
    } finally {
      this.applying = false;
    }
  }

  // ---- reads for get ----

  private loadKeys(keys: readonly Buffer[], batch: PendingBatch): Promise<void> {
    return loadIntoBatch(this.database, this.state.generation, this.cache, keys, batch);
  }

  private async readStored(key: Buffer): Promise<StoredValue | undefined> {
    const answered = this.answered?.values.get(mapKey(key));
    if (answered !== undefined) return answered ?? undefined;
    const cached = this.cache.get(mapKey(key));
    if (cached !== undefined) return cached ?? undefined;
    const storedKey = kvKey(this.state.generation, key);
    const record = await this.database.db.get(storedKey);
    return record === undefined ? undefined : decodeValueRecord(storedKey, record, this.database.dataDir);
  }
}
