/**
 * The lease operations shared by gRPC (LeaseService, the pipeline) and HTTP.
 * Grant and revoke go through the raft log with the client's write session
 * (exactly-once, as KV writes). Keep-alive, time-to-live and the lease list
 * are answered by the leader, whose countdowns decide expiry
 * (loop/lease-keeper.ts); a follower answers NOT_LEADER.
 *
 * The shortest TTL is above the election timeout (1.5x, rounded up to whole
 * seconds, as etcd's minimum): a lease must outlive the election that a
 * leader's death starts, or it could expire while no leader can renew it.
 */
import type {
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
} from '@cairn/proto';
import { InternalError, InvalidArgumentError, TooManyRequestsError } from '../errors.js';
import { LEASE_TTL_SECONDS_MAX, LEASES_MAX } from '../limits.js';
import type { LeaseKeeper } from '../loop/lease-keeper.js';
import type { NodeLoop } from '../loop/node-loop.js';
import type { LeaseTable } from '../state-machine/leases.js';
import type { RaftTransport } from '../transport/raft-transport.js';
import type { KvApi } from './kv-api.js';
import { validateSession } from './validate.js';

/** The shortest TTL a grant may ask for, in seconds: 1.5 election timeouts, rounded up (always above one). */
export function minLeaseTtlSeconds(options: { tickMs: number; electionTicks: number }): number {
  return Math.max(1, Math.ceil((1.5 * options.tickMs * options.electionTicks) / 1000));
}

export class LeaseApi {
  readonly minTtlSeconds: number;

  constructor(
    private readonly loop: NodeLoop<RaftTransport>,
    private readonly kv: KvApi,
    private readonly leases: LeaseTable,
    private readonly keeper: LeaseKeeper,
  ) {
    this.minTtlSeconds = minLeaseTtlSeconds(loop.options);
  }

  async grant(request: LeaseGrantRequest): Promise<LeaseGrantResponse> {
    const { ttl, id } = request;
    if (!Number.isSafeInteger(ttl) || ttl < this.minTtlSeconds || ttl > LEASE_TTL_SECONDS_MAX)
      throw new InvalidArgumentError(`lease ttl must be between ${this.minTtlSeconds} and ${LEASE_TTL_SECONDS_MAX} seconds, not ${ttl}`);
    checkId(id, 'lease id', true);
    if (this.leases.size >= LEASES_MAX) throw new TooManyRequestsError(`${LEASES_MAX} leases exist; revoke some first`);
    const session = validateSession(request.session);
    const applied = await this.kv.propose({ session, proposedAtMs: 0, valueBytesMax: 0, leaseGrant: { ttl, id } });
    const granted = expect(applied.result.leaseGrant, 'lease grant');
    return { ...granted, header: this.kv.header(granted.header), index: applied.index };
  }

  async revoke(request: LeaseRevokeRequest): Promise<LeaseRevokeResponse> {
    checkId(request.id, 'id', false);
    const session = validateSession(request.session);
    // `expired` is the leader's to set (lease-keeper.ts), never a client's.
    const applied = await this.kv.propose({ session, proposedAtMs: 0, valueBytesMax: 0, leaseRevoke: { id: request.id, expired: false } });
    const revoked = expect(applied.result.leaseRevoke, 'lease revoke');
    return { ...revoked, header: this.kv.header(revoked.header), index: applied.index };
  }

  /** Renews the lease's countdown on the leader: its TTL, or 0 when it does not exist (or has expired). */
  async keepAlive(id: number): Promise<LeaseKeepAliveResponse> {
    checkId(id, 'id', false);
    if (!this.loop.isLeader) throw this.loop.notLeader();
    if (!this.leases.has(id)) {
      // A new leader may not have applied a grant that an earlier leader acknowledged: catch up before saying 0.
      await this.loop.readBarrier();
    }
    return { header: this.kv.header(), id, ttl: this.keeper.keepAlive(id) };
  }

  async timeToLive(request: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    checkId(request.id, 'id', false);
    await this.loop.readBarrier();
    const lease = this.leases.get(request.id);
    const remainingMs = this.keeper.remainingMs(request.id);
    if (lease === undefined || remainingMs === undefined)
      return { header: this.kv.header(), id: request.id, ttl: -1, grantedTtl: 0, keys: [] };
    const keys = request.keys ? await this.leases.keys(request.id) : [];
    return { header: this.kv.header(), id: request.id, ttl: Math.ceil(remainingMs / 1000), grantedTtl: lease.ttl, keys };
  }

  async list(): Promise<LeaseLeasesResponse> {
    await this.loop.readBarrier();
    const leases = [...this.leases.list()].map((lease) => ({ id: lease.id }));
    return { header: this.kv.header(), leases };
  }
}

function checkId(id: number, field: string, zeroAllowed: boolean): void {
  if (!Number.isSafeInteger(id) || id < 0 || (id === 0 && !zeroAllowed))
    throw new InvalidArgumentError(`${field} must be a positive integer${zeroAllowed ? ' or 0' : ''}, not ${id}`);
}

function expect<T>(value: T | undefined, op: string): T {
  if (value === undefined) throw new InternalError(`state machine returned no ${op} result`);
  return value;
}
