/**
 * The Cairn client. One Clerk holds an endpoint pool, the last known leader,
 * a session id for exactly-once writes, and a gRPC connection per node.
 *
 * Read-your-writes: every write reply names the log index the write was
 * applied at, and the clerk keeps the largest one. Its serializable reads
 * send it as `min_index`, so whichever node answers has applied every write
 * this clerk got acknowledged (a linearizable read covers them anyway).
 */
import { setMaxListeners } from 'node:events';
import { Consistency as WireConsistency, FaultKind, type MembersResponse, type SnapshotResponse, type StatusResponse } from '@cairn/proto';
import { CallExecutor, type CallPlan } from './call-executor.js';
import { type Clock, type Random, systemClock } from './clock.js';
import { GrpcTransport, type RpcRequest, type RpcResponse, type Transport } from './connection.js';
import { ClerkError, InvalidArgumentError, LeaseNotFoundError, UnavailableError } from './errors.js';
import { type Lease, LeaseKeeper } from './lease-keeper.js';
import { recordTxn } from './history-txn.js';
import { encodeHistoryBytes, type HistoryBytes, type HistoryOp, type HistoryRecordType } from './history.js';
import { LeaderTracker } from './leader-tracker.js';
import { type ClerkOptions, type ResolvedClerkOptions, validate, withDefaults } from './options.js';
import { backoffDelayMs } from './retry.js';
import { type ClerkStatus, StatusHub } from './status.js';
import {
  type AppendResult,
  type Bytes,
  type CallOptions,
  type CasExpectation,
  type CasResult,
  type Consistency,
  type DeleteOptions,
  type DeleteResult,
  type FaultSpec,
  fromWireKeyValue,
  type GetOptions,
  type KeyValue,
  type LeaseGrantOptions,
  type LeaseGrantResult,
  type LeaseTimeToLiveOptions,
  type LeaseTimeToLiveResult,
  type NewMember,
  type NodeCallOptions,
  type PutOptions,
  type PutResult,
  type RangeOptions,
  type RangeResult,
  optionalLeaseId,
  optionalRevision,
  toBuffer,
  toKey,
} from './types.js';
import { txnRequest, txnResult, type TxnResult, type TxnSpec } from './txn.js';
import { type Watch, WatchIterator, type WatchOptions } from './watch.js';
import { WriteLanes } from './write-lanes.js';

/** Seams for tests; production uses gRPC, the system clock and Math.random. */
export interface ClerkDeps {
  readonly transport?: Transport;
  readonly clock?: Clock;
  readonly random?: Random;
}

/** Failure-triggered membership refreshes are at least this far apart. */
const MEMBERS_REFRESH_GAP_MIN_MS = 1_000;

const WRITE: CallPlan = { mode: 'write', leaderOnly: true };
const ADMIN: CallPlan = { mode: 'admin', leaderOnly: true };
const READ_LEADER: CallPlan = { mode: 'read', leaderOnly: true };

export class Clerk {
  /** The session id of this clerk's writes (lane 0; other lanes append `/n`). */
  readonly clientId: string;
  private readonly options: ResolvedClerkOptions;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly tracker: LeaderTracker;
  private readonly statusHub = new StatusHub();
  private readonly closing = new AbortController();
  private readonly executor: CallExecutor;
  private readonly lanes: WriteLanes;
  private readonly leaseKeeper: LeaseKeeper;
  private nextOperationId = 1;
  /** The largest log index of a write acknowledged to this clerk (0: none yet): its serializable reads' min_index. */
  private writeIndexMax = 0;
  private lastMembersRefreshAt = Number.NEGATIVE_INFINITY;
  private membersRefresh: Promise<void> | undefined;

  protected constructor(options: ResolvedClerkOptions, deps: ClerkDeps) {
    this.options = options;
    this.clientId = options.clientId;
    // Every call in flight listens to it when its caller passes no signal: not a leak, so no limit.
    setMaxListeners(0, this.closing.signal);
    this.clock = deps.clock ?? systemClock;
    this.random = deps.random ?? Math.random;
    this.tracker = new LeaderTracker(options.endpoints, this.statusHub);
    this.lanes = new WriteLanes(options.clientId, options.writesInflightMax);
    this.executor = new CallExecutor({
      options,
      transport: deps.transport ?? new GrpcTransport({ clusterId: options.clusterId }),
      clock: this.clock,
      random: this.random,
      tracker: this.tracker,
      status: this.statusHub,
      closing: this.closing.signal,
      onRoundFailed: () => this.maybeRefreshMembers(MEMBERS_REFRESH_GAP_MIN_MS),
      onCallStart: () => this.maybeRefreshMembers(this.options.membersRefreshMs),
    });
    this.leaseKeeper = new LeaseKeeper({
      connection: (address) => this.executor.connection(address),
      tracker: this.tracker,
      clock: this.clock,
      random: this.random,
      retry: options.retry,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    // The first periodic refresh is due one interval after creation.
    this.lastMembersRefreshAt = this.clock.now();
  }

  /** A clerk that connects on first use. Throws `InvalidArgumentError` for bad options. */
  static lazy(options: ClerkOptions, deps: ClerkDeps = {}): Clerk {
    return new Clerk(validate(withDefaults(options)), deps);
  }

  /**
   * A clerk whose connectivity is verified: some endpoint of the cluster must
   * answer (any answer, even an error) within `deadlineMs`, else
   * `UnavailableError`; `WrongClusterError` when every endpoint is a node of
   * another cluster.
   */
  static async connect(options: ClerkOptions, deps: ClerkDeps = {}): Promise<Clerk> {
    const clerk = Clerk.lazy(options, deps);
    try {
      await clerk.verifyConnectivity();
    } catch (error) {
      clerk.close();
      throw error;
    }
    return clerk;
  }

  /** Status events until `close()`; each iterator buffers a bounded number. */
  statusEvents(): AsyncIterableIterator<ClerkStatus> {
    return this.statusHub.subscribe();
  }

  /** The current endpoint pool (seeds plus discovered members). */
  endpoints(): readonly string[] {
    return this.tracker.endpoints();
  }

  /** The last node that answered as leader, if any. */
  knownLeader(): { readonly address: string; readonly leaderId: number } | undefined {
    return this.tracker.leader();
  }

  async put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResult> {
    const keyBytes = toKey(key);
    const valueBytes = toBuffer(value, 'value');
    const lease = optionalLeaseId(options.lease);
    return this.recorded(
      'put',
      { key: keyBytes, value: valueBytes },
      {},
      async () => {
        const response = await this.write(
          'put',
          (session) => ({ key: keyBytes, value: valueBytes, session, prevKv: options.prevKv ?? false, lease }),
          options,
        );
        return { version: response.version, prevKv: fromWireKeyValue(response.prevKv), revision: response.header?.revision ?? 0 };
      },
      (result) => ({ result: result.version }),
    );
  }

  /** The key's value (as of `options.revision`, else the latest), or undefined when absent. */
  async get(key: Bytes, options: GetOptions = {}): Promise<KeyValue | undefined> {
    const keyBytes = toKey(key);
    const consistency = options.consistency ?? 'linearizable';
    const revision = optionalRevision('revision', options.revision);
    return this.recorded(
      'get',
      { key: keyBytes },
      {},
      async () => {
        const request = {
          key: keyBytes,
          consistency: toWireConsistency(consistency),
          minIndex: this.minIndexFor(consistency),
          revision,
        };
        const response = await this.executor.execute('get', request, readPlan(consistency, options.endpoint), options);
        return fromWireKeyValue(response.kv);
      },
      (kv) => ({ resultBytes: kv === undefined ? null : kv.value }),
    );
  }

  /** Appends `suffix` to the value (creating the key if absent). */
  async append(key: Bytes, suffix: Bytes, options: CallOptions = {}): Promise<AppendResult> {
    const keyBytes = toKey(key);
    const valueBytes = toBuffer(suffix, 'suffix');
    return this.recorded(
      'append',
      { key: keyBytes, value: valueBytes },
      {},
      async () => {
        const response = await this.write('append', (session) => ({ key: keyBytes, value: valueBytes, session }), options);
        return { version: response.version, length: response.length };
      },
      (result) => ({ result: result.version }),
    );
  }

  /** Deletes the key, or with `prefix` every key starting with it (in one revision). */
  async delete(key: Bytes, options: DeleteOptions = {}): Promise<DeleteResult> {
    const prefix = options.prefix ?? false;
    const keyBytes = prefix ? toBuffer(key, 'key') : toKey(key);
    const run = async (): Promise<DeleteResult> => {
      const prevKv = options.prevKv ?? false;
      const response = await this.write('delete', (session) => ({ key: keyBytes, session, prevKv, prefix }), options);
      return {
        deleted: response.deleted,
        // A node that predates counts says only whether the key went.
        count: response.count || (response.deleted ? 1 : 0),
        prevKvs: (response.prevKvs ?? []).map((kv) => fromWireKeyValue(kv)!),
        revision: response.header?.revision ?? 0,
      };
    };
    // The history format models single-key operations only.
    if (prefix) return run();
    return this.recorded('delete', { key: keyBytes }, {}, run, (result) => ({ result: result.deleted }));
  }

  /**
   * Atomic compare-then-act at one revision, exactly once (a retry never applies it twice):
   * if every `compare.*` in `if` holds, the `op.*` of `then` run, else those of `else`.
   */
  async txn(spec: TxnSpec, options: CallOptions = {}): Promise<TxnResult> {
    if (spec === null || typeof spec !== 'object') throw new InvalidArgumentError('txn needs { if, then, else }');
    // Built once outside the session so a bad builder value throws before a lane is taken.
    const request = txnRequest(spec, { clientId: '', seq: 0 });
    const run = async (): Promise<TxnResult> => txnResult(await this.write('txn', (session) => ({ ...request, session }), options));
    const history = this.options.history;
    if (history === undefined) return run();
    return recordTxn(history, { process: this.clientId, id: this.nextOperationId++, now: () => this.clock.now() }, request, run);
  }

  /** Discards the history below `revision`: reads and watches below it then fail with `CompactedError`. */
  async compact(revision: number, options: CallOptions = {}): Promise<{ readonly revision: number }> {
    const request = { revision: optionalRevision('revision', revision) };
    if (request.revision === 0) throw new InvalidArgumentError('compact needs a revision');
    const response = await this.executor.execute('compact', request, ADMIN, options);
    return { revision: response.header?.revision ?? 0 };
  }

  /** Sets the key to `newValue` only if its value (or version; 0 = absent) matches. */
  async cas(key: Bytes, expectation: CasExpectation, newValue: Bytes, options: CallOptions = {}): Promise<CasResult> {
    const keyBytes = toKey(key);
    const valueBytes = toBuffer(newValue, 'newValue');
    const expected = casExpected(expectation);
    const bytes = { key: keyBytes, value: valueBytes, expected: expected.expectedValue };
    const extra = expected.expectedVersion === undefined ? {} : { expectedVersion: expected.expectedVersion };
    return this.recorded(
      'cas',
      bytes,
      extra,
      async () => {
        const response = await this.write('cas', (session) => ({ key: keyBytes, value: valueBytes, session, ...expected }), options);
        return { succeeded: response.succeeded, kv: fromWireKeyValue(response.kv), revision: response.header?.revision ?? 0 };
      },
      (result) => ({ result: result.succeeded }),
    );
  }

  /** Keys starting with `prefix`, in key order, one page at a time. */
  async range(prefix: Bytes, options: RangeOptions = {}): Promise<RangeResult> {
    const limit = options.limit ?? 0;
    if (!(Number.isInteger(limit) && limit >= 0 && limit <= 0xffffffff)) {
      throw new InvalidArgumentError('limit must be a non-negative 32-bit integer');
    }
    const consistency = options.consistency ?? 'linearizable';
    const request = {
      prefix: toBuffer(prefix, 'prefix'),
      startAfter: toBuffer(options.startAfter ?? '', 'startAfter'),
      limit,
      consistency: toWireConsistency(consistency),
      keysOnly: options.keysOnly ?? false,
      minIndex: this.minIndexFor(consistency),
      revision: optionalRevision('revision', options.revision),
    };
    const response = await this.executor.execute('range', request, readPlan(consistency, options.endpoint), options);
    return { kvs: response.kvs.map((kv) => fromWireKeyValue(kv)!), more: response.more, revision: response.header?.revision ?? 0 };
  }

  /** Grants a lease of `ttlSeconds` (the node's minimum applies): attach keys with `put(k, v, { lease: id })`. */
  async grant(ttlSeconds: number, options: LeaseGrantOptions = {}): Promise<LeaseGrantResult> {
    if (!(Number.isSafeInteger(ttlSeconds) && ttlSeconds > 0)) throw new InvalidArgumentError('ttlSeconds must be a positive integer');
    const id = optionalLeaseId(options.id);
    const response = await this.write('leaseGrant', (session) => ({ ttl: ttlSeconds, id, session }), options);
    return { id: response.id, ttl: response.ttl, revision: response.header?.revision ?? 0 };
  }

  /** Revokes a lease, deleting every key attached to it in one revision. `LeaseNotFoundError` if it does not exist. */
  async revoke(id: number, options: CallOptions = {}): Promise<{ readonly deleted: number; readonly revision: number }> {
    const leaseId = requireLeaseId(id);
    const response = await this.write('leaseRevoke', (session) => ({ id: leaseId, session, expired: false }), options);
    return { deleted: response.deleted, revision: response.header?.revision ?? 0 };
  }

  /** A lease's remaining TTL as the leader counts it (`ttl` -1: it does not exist), and its keys with `{ keys: true }`. */
  async timeToLive(id: number, options: LeaseTimeToLiveOptions = {}): Promise<LeaseTimeToLiveResult> {
    const request = { id: requireLeaseId(id), keys: options.keys ?? false };
    const response = await this.executor.execute('leaseTimeToLive', request, READ_LEADER, options);
    return { id: response.id, ttl: response.ttl, grantedTtl: response.grantedTtl, keys: response.keys };
  }

  /** The ids of every live lease. */
  async leases(options: CallOptions = {}): Promise<readonly number[]> {
    const response = await this.executor.execute('leaseLeases', {}, READ_LEADER, options);
    return response.leases.map((lease) => lease.id);
  }

  /** One keep-alive over the clerk's keep-alive stream: the renewed TTL in seconds; `LeaseNotFoundError` if the lease is gone. */
  async keepAliveOnce(id: number, options: { readonly timeoutMs?: number } = {}): Promise<{ readonly id: number; readonly ttl: number }> {
    const leaseId = requireLeaseId(id);
    const ttl = await this.leaseKeeper.keepAliveOnce(leaseId, options.timeoutMs ?? this.options.deadlineMs);
    if (ttl <= 0) throw new LeaseNotFoundError(`lease ${leaseId} not found`);
    return { id: leaseId, ttl };
  }

  /**
   * Grants a lease and keeps it alive (one keep-alive stream per clerk, every
   * ttl/3) until `revoke()` or `close()`. Its `signal` fires when it is lost.
   */
  async lease(ttlSeconds: number, options: LeaseGrantOptions = {}): Promise<Lease> {
    const sentAt = this.clock.now();
    const granted = await this.grant(ttlSeconds, options);
    return this.leaseKeeper.keep(granted.id, granted.ttl, sentAt, async () => {
      try {
        await this.revoke(granted.id);
      } catch (error) {
        // Already gone (expired meanwhile): revoked all the same.
        if (!(error instanceof LeaseNotFoundError)) throw error;
      }
    });
  }

  /**
   * Events on `key` (or every key under it with `prefix`) in revision order.
   * Resumes on another member after a failure with no gap and no duplicate;
   * throws `CompactedError` when the history it needs was compacted; ends
   * cleanly when `signal` fires or the loop breaks.
   */
  watch(key: Bytes, options: WatchOptions = {}): Watch {
    return new WatchIterator(key, options, {
      connection: (address) => this.executor.connection(address),
      tracker: this.tracker,
      random: this.random,
      retry: this.options.retry,
      closing: this.closing.signal,
      requestTimeoutMs: this.options.requestTimeoutMs,
    });
  }

  /** One node's raft status: the leader if known, or `endpoint`. */
  status(options: NodeCallOptions = {}): Promise<StatusResponse> {
    return this.executor.execute('status', {}, nodePlan(options), options);
  }

  /** Cluster membership; also refreshes the endpoint pool. */
  async members(options: NodeCallOptions = {}): Promise<MembersResponse> {
    const response = await this.executor.execute('members', {}, nodePlan(options), options);
    this.tracker.updateMembers(response.members, response.leaderId);
    return response;
  }

  addLearner(member: NewMember, options: CallOptions = {}): Promise<MembersResponse> {
    const request = { member: { httpAddress: '', ...member, learner: true } };
    return this.membershipChange('addLearner', request, options);
  }

  promote(id: number, options: CallOptions = {}): Promise<MembersResponse> {
    return this.membershipChange('promote', { id: requireNodeId(id) }, options);
  }

  removeMember(id: number, options: CallOptions = {}): Promise<MembersResponse> {
    return this.membershipChange('removeMember', { id: requireNodeId(id) }, options);
  }

  /** Asks the leader to hand leadership to `targetId`; resolves with the new leader id. */
  async transferLeader(targetId: number, options: CallOptions = {}): Promise<number> {
    const response = await this.executor.execute('transferLeader', { targetId: requireNodeId(targetId) }, ADMIN, options);
    // The node that answered is no longer the leader; the next call finds the new one.
    this.tracker.forgetLeader();
    return response.leaderId;
  }

  /** Makes one node (the leader if known, or `endpoint`) take a snapshot now. */
  snapshot(options: NodeCallOptions = {}): Promise<SnapshotResponse> {
    return this.executor.execute('snapshot', {}, { ...nodePlan(options), mode: 'admin' }, options);
  }

  /** Chaos testing: only served by nodes started with --chaos. */
  async injectFault(fault: FaultSpec, options: NodeCallOptions = {}): Promise<void> {
    const request = {
      kind: FAULT_KINDS[fault.kind],
      peers: [...(fault.peers ?? [])],
      dropRate: fault.dropRate ?? 0,
      delayMs: fault.delayMs ?? 0,
      durationMs: fault.durationMs ?? 0,
    };
    await this.executor.execute('injectFault', request, { ...nodePlan(options), mode: 'admin' }, options);
  }

  /** Cancels calls in flight (they fail with `ClosedError`), ends status iterators and closes connections. */
  close(): void {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    this.leaseKeeper.close();
    this.statusHub.close();
    this.executor.closeConnections();
  }

  private async write<M extends 'put' | 'append' | 'delete' | 'cas' | 'txn' | 'leaseGrant' | 'leaseRevoke'>(
    method: M,
    build: (session: { clientId: string; seq: number }) => RpcRequest<M>,
    options: CallOptions,
  ): Promise<RpcResponse<M>> {
    const lane = await this.lanes.acquire(options.signal);
    try {
      // One request object, so every retry carries the same (clientId, seq).
      const request = build({ clientId: lane.clientId, seq: lane.seq });
      const response = await this.executor.execute(method, request, WRITE, options);
      // A node from before the token answers no index: reads then carry the largest one known.
      const index = response.index;
      if (index !== undefined && index > this.writeIndexMax) this.writeIndexMax = index;
      return response;
    } finally {
      this.lanes.release(lane);
    }
  }

  private async membershipChange<M extends 'addLearner' | 'promote' | 'removeMember'>(
    method: M,
    request: RpcRequest<M>,
    options: CallOptions,
  ): Promise<MembersResponse> {
    const response = (await this.executor.execute(method, request, ADMIN, options)) as MembersResponse;
    this.tracker.updateMembers(response.members, response.leaderId);
    return response;
  }

  /** Wraps a KV operation with invoke/return history records. */
  private async recorded<T>(
    op: HistoryOp,
    bytes: HistoryBytes,
    extra: { expectedVersion?: number },
    run: () => Promise<T>,
    describe: (result: T) => { result?: number | boolean; resultBytes?: Buffer | null },
  ): Promise<T> {
    const history = this.options.history;
    if (history === undefined) return run();
    const id = this.nextOperationId++;
    const emit = (type: HistoryRecordType, fields: { result?: number | boolean; resultBytes?: Buffer | null; error?: string }): void => {
      const encoded = encodeHistoryBytes({ ...bytes, result: fields.resultBytes });
      const result = fields.result !== undefined ? { result: fields.result } : {};
      const error = fields.error !== undefined ? { error: fields.error } : {};
      history.record({
        type,
        process: this.clientId,
        op,
        id,
        time: Math.round(this.clock.now() * 1e6),
        ...extra,
        ...encoded,
        ...result,
        ...error,
      });
    };
    emit('invoke', {});
    try {
      const result = await run();
      emit('ok', describe(result));
      return result;
    } catch (error) {
      const code = error instanceof ClerkError ? error.code : 'INTERNAL';
      // Reads have no effect, so a failed read is always `fail`.
      const type = op !== 'get' && (code === 'UNKNOWN_OUTCOME' || !(error instanceof ClerkError)) ? 'info' : 'fail';
      emit(type, { error: code });
      throw error;
    }
  }

  /** What a read sends as min_index: the read-your-writes token, for a serializable read that has one. */
  private minIndexFor(consistency: Consistency): number | undefined {
    return consistency === 'serializable' && this.writeIndexMax > 0 ? this.writeIndexMax : undefined;
  }

  /** Starts a background membership refresh if the last one is older than `gapMs` (0 = never). */
  private maybeRefreshMembers(gapMs: number): void {
    if (gapMs <= 0 || this.membersRefresh !== undefined || this.closing.signal.aborted) return;
    if (this.clock.now() - this.lastMembersRefreshAt < gapMs) return;
    this.lastMembersRefreshAt = this.clock.now();
    this.membersRefresh = this.refreshMembersOnce().finally(() => {
      this.membersRefresh = undefined;
    });
  }

  private async refreshMembersOnce(): Promise<void> {
    const address = this.tracker.target();
    const result = await this.executor.attempt(address, 'members', {}, this.options.requestTimeoutMs);
    if (result.ok) this.tracker.updateMembers(result.response.members, result.response.leaderId);
  }

  private async verifyConnectivity(): Promise<void> {
    const deadlineAt = this.clock.now() + this.options.deadlineMs;
    let lastError: ClerkError | undefined;
    for (let round = 0; ; round++) {
      let wrongCluster = 0;
      for (const address of this.tracker.endpoints()) {
        const remainingMs = deadlineAt - this.clock.now();
        if (remainingMs <= 0) {
          throw new UnavailableError(`no endpoint answered within ${this.options.deadlineMs} ms (${this.tracker.endpoints().join(', ')})`, {
            cause: lastError,
          });
        }
        const result = await this.executor.attempt(address, 'members', {}, remainingMs);
        if (result.ok) {
          this.tracker.updateMembers(result.response.members, result.response.leaderId);
          return;
        }
        // A node of another cluster answered, but not for this clerk's cluster.
        if (result.fromServer && result.error.code !== 'WRONG_CLUSTER') return;
        if (result.error.code === 'WRONG_CLUSTER') wrongCluster += 1;
        lastError = result.error;
      }
      if (lastError !== undefined && wrongCluster === this.tracker.endpoints().length) throw lastError;
      const delayMs = backoffDelayMs(round, this.options.retry, this.random);
      await this.clock.sleep(Math.max(0, Math.min(delayMs, deadlineAt - this.clock.now())), this.closing.signal);
    }
  }
}

const FAULT_KINDS: Readonly<Record<FaultSpec['kind'], FaultKind>> = {
  clear: FaultKind.CLEAR,
  drop: FaultKind.DROP,
  delay: FaultKind.DELAY,
  partition: FaultKind.PARTITION,
};

function toWireConsistency(consistency: Consistency): WireConsistency {
  if (consistency === 'linearizable') return WireConsistency.LINEARIZABLE;
  if (consistency === 'serializable') return WireConsistency.SERIALIZABLE;
  throw new InvalidArgumentError(`consistency must be 'linearizable' or 'serializable'`);
}

function readPlan(consistency: Consistency, endpoint: string | undefined): CallPlan {
  return { mode: 'read', leaderOnly: consistency === 'linearizable', endpoint };
}

function nodePlan(options: NodeCallOptions): CallPlan {
  return { mode: 'read', leaderOnly: false, endpoint: options.endpoint };
}

function casExpected(expectation: CasExpectation): { expectedValue?: Buffer; expectedVersion?: number } {
  if ('expectedValue' in expectation) return { expectedValue: toBuffer(expectation.expectedValue, 'expectedValue') };
  if ('expectedVersion' in expectation && Number.isSafeInteger(expectation.expectedVersion) && expectation.expectedVersion >= 0) {
    return { expectedVersion: expectation.expectedVersion };
  }
  throw new InvalidArgumentError('cas needs { expectedValue } or { expectedVersion } (a non-negative integer)');
}

function requireLeaseId(id: number): number {
  if (!(Number.isSafeInteger(id) && id > 0)) throw new InvalidArgumentError('lease id must be a positive integer');
  return id;
}

function requireNodeId(id: number): number {
  if (!(Number.isSafeInteger(id) && id > 0)) throw new InvalidArgumentError('node id must be a positive integer');
  return id;
}
