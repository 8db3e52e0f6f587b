/**
 * Client sessions, for exactly-once writes: per client the last applied seq,
 * its reply (in LevelDB) and when it was last active by the replicated clock.
 * Memory holds only the index (clientId, lastSeq, lastActiveMs), bounded by
 * sessionsMax; sessions expire after sessionTtlMs of replicated time and the
 * least recently active is evicted beyond sessionsMax, both inside apply, in
 * log order, so every node keeps the same sessions.
 */
import { assert, type CommandResult } from '@cairn/proto';
import { decodeRecord, RECORD_HEADER_BYTES } from '../storage/codec.js';
import { NodeDatabase } from '../storage/database.js';
import { generationPrefix, PREFIX, prefixEnd, sessionKey } from '../storage/keys.js';
import type { PendingBatch } from './pending-batch.js';
import { type AppliedState, decodeSession, encodeSession, type SessionRecord } from './records.js';

/** What the index keeps in memory per client (the reply stays on disk). */
interface SessionEntry {
  lastSeq: number;
  lastActiveMs: number;
  activitySeq: number;
}

export interface SessionLimits {
  /** Must match on every node. */
  ttlMs: number;
  /** Must match on every node. */
  max: number;
}

export class SessionIndex {
  private constructor(
    private readonly database: NodeDatabase,
    /** Insertion order = activity order (lastActiveMs never decreases), so the first entry is the LRU. */
    private readonly sessions: Map<string, SessionEntry>,
    private readonly limits: SessionLimits,
  ) {
    assert(limits.ttlMs > 0);
    assert(limits.max > 0);
  }

  /** Rebuilds the index of `generation` from LevelDB, in activity order. */
  static async load(database: NodeDatabase, generation: number, limits: SessionLimits): Promise<SessionIndex> {
    const base = generationPrefix(PREFIX.session, generation);
    const loaded: Array<[string, SessionEntry]> = [];
    for await (const [key, record] of database.db.iterator({ gte: base, lt: prefixEnd(base) })) {
      const clientId = key.subarray(base.length).toString('utf8');
      const what = `session of client ${clientId}`;
      const session = decodeSession(decodeRecord(key, record, { dataDir: database.dataDir, what }), database.dataDir, what);
      loaded.push([clientId, { lastSeq: session.lastSeq, lastActiveMs: session.lastActiveMs, activitySeq: session.activitySeq }]);
    }
    loaded.sort((a, b) => a[1].activitySeq - b[1].activitySeq);
    return new SessionIndex(database, new Map(loaded), limits);
  }

  get size(): number {
    return this.sessions.size;
  }

  lastSeq(clientId: string): number | undefined {
    return this.sessions.get(clientId)?.lastSeq;
  }

  /** Records activity: moves the session to the end of the activity order and stores its reply. */
  touch(clientId: string, lastSeq: number, lastResult: CommandResult, state: AppliedState, batch: PendingBatch): void {
    state.activitySeq += 1;
    const entry: SessionEntry = { lastSeq, lastActiveMs: state.clockMs, activitySeq: state.activitySeq };
    this.sessions.delete(clientId);
    this.sessions.set(clientId, entry);
    batch.sessionResults.set(clientId, lastResult);
    const record: SessionRecord = { ...entry, lastResult };
    batch.ops.push(NodeDatabase.putSealed(sessionKey(state.generation, clientId), encodeSession(record, RECORD_HEADER_BYTES)));
    while (this.sessions.size > this.limits.max) {
      const oldest = this.sessions.keys().next().value as string;
      this.drop(oldest, state, batch);
    }
  }

  /** Drops the sessions idle longer than the TTL by the replicated clock. */
  expire(state: AppliedState, batch: PendingBatch): void {
    for (const [clientId, session] of this.sessions) {
      if (state.clockMs - session.lastActiveMs <= this.limits.ttlMs) break;
      this.drop(clientId, state, batch);
    }
  }

  private drop(clientId: string, state: AppliedState, batch: PendingBatch): void {
    this.sessions.delete(clientId);
    batch.sessionResults.delete(clientId);
    batch.ops.push({ type: 'del', key: sessionKey(state.generation, clientId) });
  }

  /** The session's last reply, from the batch being applied or else from LevelDB. */
  async lastResult(clientId: string, generation: number, batch: PendingBatch): Promise<CommandResult> {
    const pending = batch.sessionResults.get(clientId);
    if (pending !== undefined) return pending;
    const record = await this.database.getRecord(sessionKey(generation, clientId), `session of client ${clientId}`);
    assert(record !== undefined, `session index has client ${clientId} but LevelDB does not`);
    return decodeSession(record, this.database.dataDir, `session of client ${clientId}`).lastResult;
  }

  /** The stored reply for (clientId, seq) if that is the session's latest write, as LevelDB has it. */
  async storedResult(clientId: string, seq: number, generation: number): Promise<CommandResult | undefined> {
    if (this.sessions.get(clientId)?.lastSeq !== seq) return undefined;
    const record = await this.database.getRecord(sessionKey(generation, clientId), `session of client ${clientId}`);
    if (record === undefined) return undefined;
    const session = decodeSession(record, this.database.dataDir, `session of client ${clientId}`);
    return session.lastSeq === seq ? session.lastResult : undefined;
  }
}
