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
 * SessionSeqStaleError. Sessions expire when the replicated clock (largest
 * proposedAtMs seen) passes lastActiveMs + sessionTtlMs, and the least
 * recently active session is evicted beyond sessionsMax; both are evaluated
 * inside apply, in log order.
 */
import { assert, Command, type CommandResult, type Entry, EntryType, type KeyValue } from '@cairn/proto';
import { InternalError, InvalidArgumentError, type KvError, SessionSeqStaleError, ValueTooLargeError } from './errors.js';
import { RANGE_LIMIT_DEFAULT, RANGE_LIMIT_MAX, SESSION_TTL_MS_DEFAULT, SESSIONS_MAX, SNAPSHOT_CHUNK_BYTES, VALUE_BYTES_MAX, VALUE_CACHE_BYTES } from './limits.js';
import { decodeRecord, RECORD_HEADER_BYTES } from './storage/codec.js';
import { APPLIED_KEY, generationPrefix, kvKey, PREFIX, prefixEnd, sessionKey } from './storage/keys.js';
import { type BatchOp, NodeDatabase } from './storage/database.js';
import type { StagedWrite } from './storage/staged-write.js';
import {
  type AppliedState,
  decodeAppliedState,
  decodeSession,
  decodeStoredValue,
  encodeAppliedState,
  encodeSession,
  encodeStoredValue,
  type SessionRecord,
  type StoredValue,
} from './state-machine/records.js';
import { decodeHeaderValue, encodeHeaderValue, FrameKind, readSnapshotFrames, SnapshotWriter } from './state-machine/snapshot-stream.js';
import { ValueCache } from './state-machine/value-cache.js';

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

/** A snapshot of the state as chunks; close() releases its LevelDB view if the stream is never read to its end. */
export interface SnapshotStream extends AsyncIterable<Buffer> {
  close(): Promise<void>;
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

/** What the session index keeps in memory per client (the reply stays on disk). */
interface SessionEntry {
  lastSeq: number;
  lastActiveMs: number;
  activitySeq: number;
}

/** Writes of the batch being applied, visible to later entries of the same batch. */
class PendingBatch {
  readonly values = new Map<string, StoredValue | null>();
  readonly sessionResults = new Map<string, CommandResult>();
  readonly ops: BatchOp[] = [];
}

const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;

export class KvStateMachine {
  private state: AppliedState;
  /** Insertion order = activity order (lastActiveMs never decreases), so the first entry is the LRU. */
  private sessions: Map<string, SessionEntry>;
  private readonly valueBytesMax: number;
  private readonly sessionTtlMs: number;
  private readonly sessionsMax: number;
  private readonly snapshotChunkBytes: number;
  private readonly cache: ValueCache;
  private applying = false;
  private failedWrite: Error | undefined;
  /**
   * The batch whose results were handed to `answer` but which is not in
   * LevelDB yet. Reads consult it first: a client that got a write's reply
   * must see that write in its next read, at every consistency level.
   */
  private answered: { values: ReadonlyMap<string, StoredValue | null>; written: Promise<void> } | undefined;

  private constructor(
    readonly database: NodeDatabase,
    state: AppliedState,
    sessions: Map<string, SessionEntry>,
    options: KvStateMachineOptions,
  ) {
    this.state = state;
    this.sessions = sessions;
    this.valueBytesMax = options.valueBytesMax ?? VALUE_BYTES_MAX;
    this.sessionTtlMs = options.sessionTtlMs ?? SESSION_TTL_MS_DEFAULT;
    this.sessionsMax = options.sessionsMax ?? SESSIONS_MAX;
    this.snapshotChunkBytes = options.snapshotChunkBytes ?? SNAPSHOT_CHUNK_BYTES;
    this.cache = new ValueCache(options.valueCacheBytes ?? VALUE_CACHE_BYTES);
    assert(this.valueBytesMax > 0);
    assert(this.sessionTtlMs > 0);
    assert(this.sessionsMax > 0);
    assert(this.snapshotChunkBytes > 0);
  }

  /** Loads the applied state and session index; removes leftovers of an interrupted restore. */
  static async open(database: NodeDatabase, options: KvStateMachineOptions = {}): Promise<KvStateMachine> {
    const payload = await database.getRecord(APPLIED_KEY, 'state machine applied state');
    const state: AppliedState = payload
      ? decodeAppliedState(payload, database.dataDir)
      : { appliedIndex: 0, generation: 1, clockMs: 0, activitySeq: 0, keyCount: 0 };
    await clearOtherGenerations(database, state.generation);
    const sessions = await loadSessionIndex(database, state.generation);
    return new KvStateMachine(database, state, sessions, options);
  }

  appliedIndex(): number {
    return this.state.appliedIndex;
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
  async get(key: Buffer): Promise<KeyValue | undefined> {
    const stored = await this.readStored(key);
    return stored === undefined ? undefined : { key: Buffer.from(key), ...stored };
  }

  /**
   * Keys starting with `prefix`, in byte order, after `startAfter` (exclusive,
   * for paging; empty = from the start), at most `limit` (0 = default).
   */
  async range(prefix: Buffer, startAfterIn: Buffer | undefined, limit: number, keysOnly: boolean): Promise<RangeResult> {
    // Merging the answered batch into a LevelDB iteration is not worth its
    // code: wait for that one local, unsynced write instead (only when a
    // batch is between its answer and its write).
    if (this.answered !== undefined) await this.answered.written;
    const startAfter = startAfterIn ?? Buffer.alloc(0);
    const count = Math.min(limit === 0 ? RANGE_LIMIT_DEFAULT : limit, RANGE_LIMIT_MAX);
    assert(count > 0);
    const base = generationPrefix(PREFIX.kv, this.state.generation);
    const lowerPrefix = kvKey(this.state.generation, prefix);
    const upper = prefix.length === 0 ? prefixEnd(base) : prefixEnd(lowerPrefix);
    const afterKey = kvKey(this.state.generation, startAfter);
    const bounds =
      startAfter.length > 0 && Buffer.compare(afterKey, lowerPrefix) >= 0 ? { gt: afterKey, lt: upper } : { gte: lowerPrefix, lt: upper };
    const kvs: KeyValue[] = [];
    let more = false;
    for await (const [storedKey, record] of this.database.db.iterator({ ...bounds, limit: count + 1 })) {
      if (kvs.length === count) {
        more = true;
        break;
      }
      const key = storedKey.subarray(base.length);
      const stored = this.decodeValue(storedKey, record);
      kvs.push({ key: Buffer.from(key), ...stored, value: keysOnly ? Buffer.alloc(0) : stored.value });
    }
    return { kvs, more };
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
  async applyEntries(entries: readonly Entry[], alsoWrite?: StagedWrite, answer?: (results: AppliedResult[]) => void): Promise<AppliedResult[]> {
    assert(!this.applying, 'applyEntries calls must not overlap');
    if (this.failedWrite !== undefined) throw new InternalError(`the state machine stopped after a failed write: ${this.failedWrite.message}`);
    this.applying = true;
    try {
      const batch = new PendingBatch();
      const results: AppliedResult[] = [];
      const previous = { ...this.state };
      const commands = decodeCommands(entries, this.state.appliedIndex);
      await this.prefetch(commands, batch);
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        if (entry.index <= this.state.appliedIndex) continue;
        assert(entry.index === this.state.appliedIndex + 1, `apply gap: entry ${entry.index} after ${this.state.appliedIndex}`);
        const command = commands[i];
        if (command !== undefined) {
          // Synchronous unless a session's stored reply must be read from disk (a retried write).
          const outcome = this.applyCommand(entry.index, command, batch);
          results.push({ index: entry.index, result: outcome instanceof Promise ? await outcome : outcome });
        }
        this.state.appliedIndex = entry.index;
      }
      // The results are final now. The entries are committed (durable in the raft
      // log), so the caller may answer before this batch is written: if the
      // write fails, the node stops and replaying the log recomputes the same results.
      if (this.state.appliedIndex === previous.appliedIndex && alsoWrite === undefined) {
        answer?.(results);
        return results;
      }
      batch.ops.push(NodeDatabase.putSealed(APPLIED_KEY, encodeAppliedState(this.state, RECORD_HEADER_BYTES)));
      if (alsoWrite !== undefined) batch.ops.push(...alsoWrite.ops);
      const written = this.database.write(batch.ops, { sync: false });
      // Readers only need to know when it is over; a failure is handled below.
      this.answered = { values: batch.values, written: written.catch(() => undefined) };
      answer?.(results);
      try {
        await written;
      } catch (error) {
        this.answered = undefined;
        // Memory (session index, cache) is now ahead of disk, so this machine
        // refuses further applies; the node treats a failed write as fatal. (It
        // used to copy the whole session index before every batch to undo this.)
        this.state = previous;
        this.cache.clear();
        this.failedWrite = error as Error;
        throw error;
      }
      // In the same turn as the write's completion, so no read falls between the two.
      for (const [key, value] of batch.values) this.cache.set(key, value);
      this.answered = undefined;
      alsoWrite?.onWritten();
      return results;
    } finally {
      this.applying = false;
    }
  }

  /**
   * Applies one command. Returns a promise only when a retried write's stored
   * reply has to be read from disk; every other path is synchronous, because
   * prefetch() put every key the batch touches into `batch` (an async call per
   * command per node was a visible share of the garbage per write).
   */
  private applyCommand(index: number, decoded: Command | Error, batch: PendingBatch): CommandResult | KvError | Promise<CommandResult | KvError> {
    if (decoded instanceof Error) return new InvalidArgumentError(`entry ${index} does not hold a valid command`);
    const command = decoded;
    this.state.clockMs = Math.max(this.state.clockMs, command.proposedAtMs);
    this.expireSessions(batch);
    const session = command.session;
    if (session === undefined || session.clientId.length === 0) return this.applyOperation(command, index, batch);
    if (session.seq <= 0) return new InvalidArgumentError('a write session needs seq >= 1');
    const existing = this.sessions.get(session.clientId);
    if (existing !== undefined && session.seq <= existing.lastSeq) return this.applyRetry(session.clientId, session.seq, existing.lastSeq, batch);
    const outcome = this.applyOperation(command, index, batch);
    // Errors are deterministic and leave no state change, so a retry recomputes the same error.
    if (!(outcome instanceof Error)) this.touchSession(session.clientId, session.seq, batch, outcome);
    return outcome;
  }

  /** A write whose seq the session has seen: answered from the stored reply (or stale), never applied again. */
  private async applyRetry(clientId: string, seq: number, lastSeq: number, batch: PendingBatch): Promise<CommandResult | KvError> {
    const stored = await this.sessionResult(clientId, batch);
    this.touchSession(clientId, lastSeq, batch, stored);
    return seq < lastSeq ? new SessionSeqStaleError(clientId, seq, lastSeq) : stored;
  }

  private applyOperation(command: Command, index: number, batch: PendingBatch): CommandResult | KvError {
    // The leader's limit travels in the command, so every node decides alike.
    const valueBytesMax = command.valueBytesMax > 0 ? command.valueBytesMax : this.valueBytesMax;
    if (command.put !== undefined) {
      const { key, value, prevKv } = command.put;
      if (value.length > valueBytesMax) return new ValueTooLargeError(value.length, valueBytesMax);
      const previous = this.readForApply(key, batch);
      const next = this.writeValue(key, value, previous, index, batch);
      return { put: { version: next.version, prevKv: prevKv && previous ? { key, ...previous } : undefined } };
    }
    if (command.append !== undefined) {
      const { key, value } = command.append;
      const previous = this.readForApply(key, batch);
      const length = (previous?.value.length ?? 0) + value.length;
      if (length > valueBytesMax) return new ValueTooLargeError(length, valueBytesMax);
      const combined = previous ? Buffer.concat([previous.value, value]) : Buffer.from(value);
      const next = this.writeValue(key, combined, previous, index, batch);
      return { append: { version: next.version, length } };
    }
    if (command.delete !== undefined) {
      const { key } = command.delete;
      const previous = this.readForApply(key, batch);
      if (previous !== undefined) {
        batch.values.set(mapKey(key), null);
        batch.ops.push({ type: 'del', key: kvKey(this.state.generation, key) });
        this.state.keyCount -= 1;
      }
      return { delete: { deleted: previous !== undefined } };
    }
    if (command.cas !== undefined) return this.applyCas(command.cas, index, batch, valueBytesMax);
    return new InvalidArgumentError('the command has no operation');
  }

  private applyCas(cas: NonNullable<Command['cas']>, index: number, batch: PendingBatch, valueBytesMax: number): CommandResult | KvError {
    const { key, value, expectedValue, expectedVersion } = cas;
    if (expectedValue === undefined && expectedVersion === undefined) {
      return new InvalidArgumentError('cas needs an expected value or an expected version');
    }
    if (value.length > valueBytesMax) return new ValueTooLargeError(value.length, valueBytesMax);
    const previous = this.readForApply(key, batch);
    const matches =
      expectedVersion !== undefined ? (previous?.version ?? 0) === expectedVersion : previous !== undefined && previous.value.equals(expectedValue!);
    if (!matches) return { cas: { succeeded: false, kv: previous ? { key, ...previous } : undefined } };
    const next = this.writeValue(key, value, previous, index, batch);
    return { cas: { succeeded: true, kv: { key, ...next } } };
  }

  private writeValue(key: Buffer, value: Buffer, previous: StoredValue | undefined, index: number, batch: PendingBatch): StoredValue {
    const next: StoredValue = {
      value: Buffer.from(value),
      version: (previous?.version ?? 0) + 1,
      createIndex: previous?.createIndex ?? index,
      modIndex: index,
    };
    if (previous === undefined) this.state.keyCount += 1;
    batch.values.set(mapKey(key), next);
    batch.ops.push(NodeDatabase.putSealed(kvKey(this.state.generation, key), encodeStoredValue(next, RECORD_HEADER_BYTES)));
    return next;
  }

  // ---- sessions ----

  /** Records activity: moves the session to the end of the activity order and stores its reply. */
  private touchSession(clientId: string, lastSeq: number, batch: PendingBatch, lastResult: CommandResult): void {
    this.state.activitySeq += 1;
    const entry: SessionEntry = { lastSeq, lastActiveMs: this.state.clockMs, activitySeq: this.state.activitySeq };
    this.sessions.delete(clientId);
    this.sessions.set(clientId, entry);
    batch.sessionResults.set(clientId, lastResult);
    const record: SessionRecord = { ...entry, lastResult };
    batch.ops.push(NodeDatabase.putSealed(sessionKey(this.state.generation, clientId), encodeSession(record, RECORD_HEADER_BYTES)));
    while (this.sessions.size > this.sessionsMax) {
      const oldest = this.sessions.keys().next().value as string;
      this.dropSession(oldest, batch);
    }
  }

  private expireSessions(batch: PendingBatch): void {
    for (const [clientId, session] of this.sessions) {
      if (this.state.clockMs - session.lastActiveMs <= this.sessionTtlMs) break;
      this.dropSession(clientId, batch);
    }
  }

  private dropSession(clientId: string, batch: PendingBatch): void {
    this.sessions.delete(clientId);
    batch.sessionResults.delete(clientId);
    batch.ops.push({ type: 'del', key: sessionKey(this.state.generation, clientId) });
  }

  private async sessionResult(clientId: string, batch: PendingBatch): Promise<CommandResult> {
    const pending = batch.sessionResults.get(clientId);
    if (pending !== undefined) return pending;
    const key = sessionKey(this.state.generation, clientId);
    const record = await this.database.getRecord(key, `session of client ${clientId}`);
    assert(record !== undefined, `session index has client ${clientId} but LevelDB does not`);
    return decodeSession(record, this.database.dataDir, `session of client ${clientId}`).lastResult;
  }

  /**
   * The stored reply of a write already applied for (clientId, seq), if that
   * is the session's latest: a retry is answered from it without a new proposal.
   */
  async appliedResult(clientId: string, seq: number): Promise<CommandResult | undefined> {
    if (this.applying || this.sessions.get(clientId)?.lastSeq !== seq) return undefined;
    const record = await this.database.getRecord(sessionKey(this.state.generation, clientId), `session of client ${clientId}`);
    if (record === undefined) return undefined;
    const session = decodeSession(record, this.database.dataDir, `session of client ${clientId}`);
    return session.lastSeq === seq ? session.lastResult : undefined;
  }

  /** The sessions' last sequence numbers (for tests and status). */
  sessionSeq(clientId: string): number | undefined {
    return this.sessions.get(clientId)?.lastSeq;
  }

  // ---- snapshot / restore ----

  /**
   * A consistent view (LevelDB snapshot) of the whole state as a stream of
   * chunks; see state-machine/snapshot-stream.ts for the format. Capturing is
   * immediate; applying may continue while the stream is read. Reading it
   * to the end (or an error while reading) closes the view; otherwise call
   * close().
   */
  snapshot(): SnapshotStream {
    const db = this.database.db;
    const view = db.snapshot();
    let viewClosed = false;
    const closeView = async (): Promise<void> => {
      if (viewClosed) return;
      viewClosed = true;
      await view.close();
    };
    const generation = this.state.generation;
    const dataDir = this.database.dataDir;
    const chunkBytes = this.snapshotChunkBytes;
    return {
      close: closeView,
      async *[Symbol.asyncIterator]() {
        try {
          const appliedRecord = await db.get(APPLIED_KEY, { snapshot: view });
          const state = appliedRecord
            ? decodeAppliedState(decodeRecord(APPLIED_KEY, appliedRecord, { dataDir, what: 'state machine applied state' }), dataDir)
            : { appliedIndex: 0, generation, clockMs: 0, activitySeq: 0, keyCount: 0 };
          const writer = new SnapshotWriter(chunkBytes);
          writer.frame(FrameKind.header, Buffer.alloc(0), encodeHeaderValue(state));
          for (const [prefix, kind] of [[PREFIX.kv, FrameKind.kv], [PREFIX.session, FrameKind.session]] as const) {
            const base = generationPrefix(prefix, generation);
            for await (const [key, record] of db.iterator({ gte: base, lt: prefixEnd(base), snapshot: view })) {
              const what = (): string => `${kind === FrameKind.kv ? 'key' : 'session'} record ${key.toString('hex')}`;
              writer.frame(kind, key.subarray(base.length), decodeRecord(key, record, { dataDir, what }));
              yield* writer.takeChunks();
            }
          }
          yield* writer.finish();
        } finally {
          await closeView();
        }
      },
    };
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
      const loaded = await this.loadGeneration(Buffer.isBuffer(data) ? [data] : data, generation);
      if (index !== undefined && loaded.appliedIndex !== index) {
        await clearOtherGenerations(this.database, this.state.generation);
        throw new InvalidArgumentError(`snapshot data is at index ${loaded.appliedIndex}, its metadata says ${index}`);
      }
      const state: AppliedState = { ...loaded, generation };
      this.cache.clear();
      await this.database.write([NodeDatabase.putRecord(APPLIED_KEY, encodeAppliedState(state))], { sync: true });
      this.state = state;
      await clearOtherGenerations(this.database, generation);
      this.sessions = await loadSessionIndex(this.database, generation);
    } finally {
      this.applying = false;
    }
  }

  private async loadGeneration(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, generation: number) {
    let header: ReturnType<typeof decodeHeaderValue> | undefined;
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
        const key = frame.kind === FrameKind.kv ? kvKey(generation, frame.key) : sessionKey(generation, frame.key.toString('utf8'));
        ops.push(NodeDatabase.putRecord(key, frame.value));
        opsBytes += key.length + frame.value.length;
        if (opsBytes >= RESTORE_BATCH_BYTES) {
          await this.database.write(ops, { sync: false });
          ops = [];
          opsBytes = 0;
        }
      }
      if (header === undefined) throw new InvalidArgumentError('snapshot stream has no header frame');
      await this.database.write(ops, { sync: false });
      return header;
    } catch (error) {
      // Leave no partial generation behind.
      await clearOtherGenerations(this.database, this.state.generation);
      throw error;
    }
  }

  // ---- helpers ----

  /**
   * Reads every key the batch's commands touch with ONE getMany, instead of
   * one awaited get per command on the hot path. The values go into the
   * batch's read-your-writes cache (null = absent), which apply consults first.
   */
  private async prefetch(commands: ReadonlyArray<Command | Error | undefined>, batch: PendingBatch): Promise<void> {
    const keys = new Map<string, Buffer>();
    for (const command of commands) {
      if (command === undefined || command instanceof Error) continue; // applyCommand reports a bad one
      const key = command.put?.key ?? command.append?.key ?? command.delete?.key ?? command.cas?.key;
      if (key === undefined) continue;
      const mapped = mapKey(key);
      if (batch.values.has(mapped)) continue;
      const cached = this.cache.get(mapped);
      if (cached !== undefined) batch.values.set(mapped, cached);
      else keys.set(mapped, key);
    }
    if (keys.size === 0) return;
    const storedKeys = [...keys.values()].map((key) => kvKey(this.state.generation, key));
    const records = await this.database.db.getMany(storedKeys);
    let i = 0;
    for (const [mapped] of keys) {
      const record = records[i];
      batch.values.set(mapped, record === undefined ? null : this.decodeValue(storedKeys[i]!, record));
      i += 1;
    }
  }

  private async readStored(key: Buffer): Promise<StoredValue | undefined> {
    const answered = this.answered?.values.get(mapKey(key));
    if (answered !== undefined) return answered ?? undefined;
    const cached = this.cache.get(mapKey(key));
    if (cached !== undefined) return cached ?? undefined;
    const storedKey = kvKey(this.state.generation, key);
    const record = await this.database.db.get(storedKey);
    return record === undefined ? undefined : this.decodeValue(storedKey, record);
  }

  /** The key's value as of this point in the batch: prefetch() loaded every key a command touches. */
  private readForApply(key: Buffer, batch: PendingBatch): StoredValue | undefined {
    const pending = batch.values.get(mapKey(key));
    assert(pending !== undefined, 'prefetch() loads every key the batch touches');
    return pending ?? undefined;
  }

  private decodeValue(storedKey: Buffer, record: Buffer): StoredValue {
    const what = (): string => `key record ${storedKey.toString('hex')}`;
    const dataDir = this.database.dataDir;
    return decodeStoredValue(decodeRecord(storedKey, record, { dataDir, what }), dataDir, what);
  }
}

/**
 * Each entry's command, decoded once for both prefetch and apply: undefined
 * for entries already applied or carrying no command, an Error for bad data.
 */
function decodeCommands(entries: readonly Entry[], appliedIndex: number): Array<Command | Error | undefined> {
  return entries.map((entry) => {
    if (entry.index <= appliedIndex || entry.type !== EntryType.NORMAL || entry.data.length === 0) return undefined;
    try {
      return Command.decode(entry.data);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  });
}

function mapKey(key: Buffer): string {
  return key.toString('latin1');
}

/** Rebuilds the in-memory session index, in activity order. */
async function loadSessionIndex(database: NodeDatabase, generation: number): Promise<Map<string, SessionEntry>> {
  const base = generationPrefix(PREFIX.session, generation);
  const loaded: Array<[string, SessionEntry]> = [];
  for await (const [key, record] of database.db.iterator({ gte: base, lt: prefixEnd(base) })) {
    const clientId = key.subarray(base.length).toString('utf8');
    const what = `session of client ${clientId}`;
    const session = decodeSession(decodeRecord(key, record, { dataDir: database.dataDir, what }), database.dataDir, what);
    loaded.push([clientId, { lastSeq: session.lastSeq, lastActiveMs: session.lastActiveMs, activitySeq: session.activitySeq }]);
  }
  loaded.sort((a, b) => a[1].activitySeq - b[1].activitySeq);
  return new Map(loaded);
}

/** Deletes KV and session keys of every generation except `keep`. */
async function clearOtherGenerations(database: NodeDatabase, keep: number): Promise<void> {
  for (const prefix of [PREFIX.kv, PREFIX.session]) {
    await database.db.clear({ gte: Buffer.of(prefix), lt: generationPrefix(prefix, keep) });
    await database.db.clear({ gte: prefixEnd(generationPrefix(prefix, keep)), lt: Buffer.of(prefix + 1) });
  }
}
