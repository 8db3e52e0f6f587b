/**
 * A session: one lease kept alive by the clerk, the liveness every recipe
 * (Mutex, Election) ties its keys to. When the process dies or loses touch
 * with the cluster, the lease expires and its keys vanish, releasing locks
 * and leadership; `signal` fires on this side when that may have happened.
 */
import type { Clerk } from '../clerk.js';
import type { Lease } from '../lease-keeper.js';
import type { CallOptions } from '../types.js';

/** The TTL of a session's lease unless given, as etcd's concurrency package. */
export const SESSION_TTL_DEFAULT_SECONDS = 60;

export interface SessionOptions extends CallOptions {
  /** The lease's TTL in seconds. @default 60 */
  readonly ttl?: number;
}

export class Session {
  private constructor(
    readonly clerk: Clerk,
    /** The session's lease; its keys go when it does. */
    readonly lease: Lease,
  ) {}

  /** Grants the session's lease and starts keeping it alive. */
  static async create(clerk: Clerk, options: SessionOptions = {}): Promise<Session> {
    const lease = await clerk.lease(options.ttl ?? SESSION_TTL_DEFAULT_SECONDS, options);
    return new Session(clerk, lease);
  }

  get leaseId(): number {
    return this.lease.id;
  }

  /** Fires when the session's lease is lost (its locks and leadership may be gone); `reason` says why. */
  get signal(): AbortSignal {
    return this.lease.signal;
  }

  /** Ends the session: revokes the lease, which deletes its keys (releasing its locks and leadership). */
  async close(): Promise<void> {
    await this.lease.revoke();
  }
}
