/**
 * The KV operations shared by the gRPC and HTTP front ends: validate, then
 * propose (writes) or confirm with ReadIndex (linearizable reads) and read the
 * local state machine.
 *
 * Read-your-writes token: every write reply names the log index it was
 * applied at; a serializable read that carries min_index waits until this
 * node's reads see that index (NodeLoop.waitReadable), so a client's reads
 * see its own acknowledged writes on any node.
 */
import {
  Command,
  Consistency,
  type AppendRequest,
  type AppendResponse,
  type CasRequest,
  type CasResponse,
  type DeleteRequest,
  type DeleteResponse,
  type GetRequest,
  type GetResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type ResponseHeader,
  type CompactRequest,
  type CompactResponse,
  type TxnRequest,
  type TxnResponse,
  encodeToBuffer,
} from '@cairn/proto';
import { InternalError, InvalidArgumentError } from '../errors.js';
import { RANGE_LIMIT_DEFAULT, RANGE_LIMIT_MAX } from '../limits.js';
import type { NodeLoop } from '../loop/node-loop.js';
import type { AppliedWrite } from '../loop/ports.js';
import type { RaftTransport } from '../transport/raft-transport.js';
import type { KvReader } from '../state-machine/ports.js';
import { type RequestLimits, validateKey, validatePrefix, validateSession, validateTxn, validateValue } from './validate.js';

/** A read's revision (0 or absent = the latest); past ones are served from history. */
function validateRevision(revision: number | undefined): number {
  if (revision === undefined) return 0;
  if (!Number.isSafeInteger(revision) || revision < 0) throw new InvalidArgumentError('revision must be a non-negative integer');
  return revision;
}

const encodeCommand = (c: Command): Buffer => encodeToBuffer(Command, c);
/** Reads of the latest state tried before one is served from history at a fixed revision (readLatest). */
const READ_LATEST_TRIES = 2;

export class KvApi {
  constructor(
    private readonly loop: NodeLoop<RaftTransport>,
    private readonly reader: KvReader,
    private readonly limits: RequestLimits,
    /** The cluster id every header names ('' while a joining node has not learned it). */
    private readonly clusterId: () => string = () => '',
  ) {}

  /**
   * `revision`: the one a write produced (from its result); for a read, what
   * reads here see (an answered batch included), so a reply never names less
   * than it reflects.
   */
  header(revision?: { revision: number }): ResponseHeader {
    return {
      memberId: this.loop.options.id,
      term: this.loop.term,
      appliedIndex: this.loop.readableIndex,
      leaderId: this.loop.currentLeaderId,
      revision: revision?.revision ?? this.reader.revision(),
      clusterId: this.clusterId(),
    };
  }

  async put(request: PutRequest): Promise<PutResponse> {
    const put: PutRequest = {
      key: validateKey(request.key, this.limits),
      value: validateValue(request.value, this.limits),
      prevKv: request.prevKv,
      lease: request.lease,
    };
    const result = await this.propose({ session: validateSession(request.session), proposedAtMs: 0, valueBytesMax: 0, put });
    const put_ = expect(result.result.put, 'put');
    return { ...put_, header: this.header(put_.header), index: result.index };
  }

  async append(request: AppendRequest): Promise<AppendResponse> {
    const append: AppendRequest = { key: validateKey(request.key, this.limits), value: validateValue(request.value, this.limits) };
    const result = await this.propose({ session: validateSession(request.session), proposedAtMs: 0, valueBytesMax: 0, append });
    const append_ = expect(result.result.append, 'append');
    return { ...append_, header: this.header(append_.header), index: result.index };
  }

  async delete(request: DeleteRequest): Promise<DeleteResponse> {
    const del: DeleteRequest = {
      key: request.prefix ? validatePrefix(request.key, this.limits) : validateKey(request.key, this.limits),
      prevKv: request.prevKv,
      prefix: request.prefix,
    };
    const result = await this.propose({ session: validateSession(request.session), proposedAtMs: 0, valueBytesMax: 0, delete: del });
    const deleted = expect(result.result.delete, 'delete');
    return { ...deleted, header: this.header(deleted.header), index: result.index };
  }

  async cas(request: CasRequest): Promise<CasResponse> {
    if (request.expectedValue === undefined && request.expectedVersion === undefined) {
      throw new InvalidArgumentError('cas needs expected_value or expected_version');
    }
    const cas: CasRequest = {
      key: validateKey(request.key, this.limits),
      expectedValue: request.expectedValue === undefined ? undefined : validateValue(request.expectedValue, this.limits),
      expectedVersion: request.expectedVersion,
      value: validateValue(request.value, this.limits),
    };
    const result = await this.propose({ session: validateSession(request.session), proposedAtMs: 0, valueBytesMax: 0, cas });
    const cas_ = expect(result.result.cas, 'cas');
    return { ...cas_, header: this.header(cas_.header), index: result.index };
  }

  async txn(request: TxnRequest): Promise<TxnResponse> {
    const txn = validateTxn(request, this.limits);
    const result = await this.propose({ session: validateSession(request.session), proposedAtMs: 0, valueBytesMax: 0, txn });
    const txn_ = expect(result.result.txn, 'txn');
    return { ...txn_, header: this.header(txn_.header), index: result.index };
  }

  async compact(request: CompactRequest): Promise<CompactResponse> {
    if (!(request.revision > 0)) throw new InvalidArgumentError('compact needs a revision >= 1');
    const result = await this.propose({ proposedAtMs: 0, valueBytesMax: 0, compact: { revision: request.revision } });
    const compact_ = expect(result.result.compact, 'compact');
    return { ...compact_, header: this.header(compact_.header), index: result.index };
  }

  async get(request: GetRequest): Promise<GetResponse> {
    const key = validateKey(request.key, this.limits);
    const revision = validateRevision(request.revision);
    await this.barrier(request.consistency, request.minIndex);
    if (revision > 0) return { header: this.header({ revision }), kv: await this.reader.get(key, revision) };
    const at = this.reader.revision();
    const kv = await this.reader.get(key, 0);
    // The read saw the state at some revision in [at, now]. A value last changed at or before `at`
    // was the value at `at`; one changed later was the value at its own mod revision.
    if (this.reader.revision() === at || kv !== undefined)
      return { header: this.header({ revision: Math.max(at, kv?.modRevision ?? 0) }), kv };
    const latest = await this.readLatest((revisionToRead) => this.reader.get(key, revisionToRead));
    return { header: this.header(latest), kv: latest.value };
  }

  async range(request: RangeRequest): Promise<RangeResponse> {
    const prefix = validatePrefix(request.prefix, this.limits);
    const limit = request.limit === 0 ? RANGE_LIMIT_DEFAULT : request.limit;
    if (limit > RANGE_LIMIT_MAX) throw new InvalidArgumentError(`limit must be at most ${RANGE_LIMIT_MAX}`);
    const startAfter = request.startAfter.length > 0 ? validatePrefix(request.startAfter, this.limits) : undefined;
    const revision = validateRevision(request.revision);
    await this.barrier(request.consistency, request.minIndex);
    const read = (at: number) => this.reader.range(prefix, startAfter, limit, request.keysOnly, at);
    if (revision > 0) return { header: this.header({ revision }), ...(await read(revision)) };
    const latest = await this.readLatest(read);
    return { header: this.header(latest), ...latest.value };
  }

  /**
   * A read of the latest state with the revision it saw, exactly: a client
   * that lists and then watches from header.revision + 1 must miss nothing
   * and see nothing twice. When a batch was applied during the read, the
   * result may or may not include it, so the read is done again; after a few
   * tries it is done at the revision it started from, from history.
   */
  private async readLatest<T>(read: (revision: number) => Promise<T>): Promise<{ value: T; revision: number }> {
    for (let attempt = 0; ; attempt++) {
      const at = this.reader.revision();
      const value = await read(0);
      if (this.reader.revision() === at) return { value, revision: at };
      if (attempt >= READ_LATEST_TRIES && at > 0) return { value: await read(at), revision: at };
    }
  }

  /**
   * A linearizable read waits for ReadIndex, which covers every acknowledged
   * write, so it needs no min_index. A serializable read waits only when it
   * carries a min_index this node's reads do not see yet.
   */
  private async barrier(consistency: Consistency, minIndex: number | undefined): Promise<void> {
    if (consistency === Consistency.SERIALIZABLE) {
      if (minIndex !== undefined && minIndex > this.loop.readableIndex) await this.loop.waitReadable(minIndex);
      return;
    }
    if (consistency !== Consistency.LINEARIZABLE) throw new InvalidArgumentError('unknown consistency');
    await this.loop.readBarrier();
  }

  /** Proposes a write (a retry this node already applied is answered from its session); also the lease API's path. */
  async propose(command: Command): Promise<AppliedWrite> {
    // A retry of a write this node has already applied is answered from the
    // session table: proposing it again would only be deduplicated, and under
    // slow commits every retry could time out although the write is applied.
    const session = command.session;
    if (session !== undefined && this.reader.appliedResult !== undefined) {
      // The stored reply's write was applied in a batch that reads here already
      // see, so this index covers it: a token needs no more than that.
      const index = this.loop.readableIndex;
      const applied = await this.reader.appliedResult(session.clientId, session.seq);
      if (applied !== undefined) return { index, result: applied };
    }
    return this.loop.propose({ ...command, valueBytesMax: this.limits.valueBytesMax }, encodeCommand);
  }
}

function expect<T>(value: T | undefined, op: string): T {
  if (value === undefined) throw new InternalError(`state machine returned no ${op} result`);
  return value;
}
