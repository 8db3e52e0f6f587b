/**
 * Lease expiry, decided by the leader alone on its monotonic clock
 * (performance.now) and replicated as LeaseRevoke{expired: true}; followers
 * never expire a lease on their own.
 *
 * A countdown starts at the lease's full TTL when this node first sees the
 * lease while leading (a grant applied, or every lease when it becomes
 * leader: a leader change never shortens a lease), and restarts at full TTL
 * on every keep-alive. When it runs out, the revoke is proposed and the
 * lease counts as expired here: a keep-alive that arrives before the revoke
 * is applied gets TTL 0, never a renewal. A leadership epoch is (leading,
 * term of the last log entry): a new leader appends an entry of its term at
 * once, so regaining leadership in a later term is seen as a new epoch even
 * if no step-down was observed in between.
 */
import type { LeaseRevokeRequest } from '@cairn/proto';
import { LEASE_REVOKES_IN_FLIGHT_MAX } from '../limits.js';
import type { Logger } from '../logger.js';

/** The lease table as the keeper reads it (state-machine/leases.ts LeaseTable). */
export interface KeptLeases {
  get(id: number): { readonly ttl: number } | undefined;
  list(): Iterable<{ readonly id: number; readonly ttl: number }>;
  /** Changes whenever a lease is granted or revoked (or the table is reloaded). */
  readonly version: number;
}

export interface LeaseKeeperDeps {
  readonly leases: KeptLeases;
  readonly isLeader: () => boolean;
  /** The term of the last log entry (changes whenever a new leadership starts). */
  readonly term: () => number;
  /** Proposes an expiry revoke; settles once applied (or failed). */
  readonly revoke: (request: LeaseRevokeRequest) => Promise<unknown>;
  /** How often countdowns are checked (the raft tick). */
  readonly checkMs: number;
  readonly logger: Logger;
  /** Monotonic milliseconds. @default performance.now */
  readonly now?: () => number;
}

export class LeaseKeeper {
  /** Lease id -> when its countdown runs out (monotonic ms); only while leading. */
  private readonly deadlines = new Map<number, number>();
  /** Expired here, revoke proposed or to be proposed (true while a proposal is out). */
  private readonly expiring = new Map<number, boolean>();
  /** The term of the leadership the countdowns belong to; 0 when not leading. */
  private epoch = 0;
  /** The table version the countdowns were last matched to (-1: match at the next check). */
  private seenVersion = -1;
  /**
   * No countdown runs out before this (monotonic ms): lowered whenever a
   * deadline is set, recomputed by each full check. It may be too early
   * (costing one extra scan), never later than a real deadline.
   */
  private nextDue = -Infinity;
  /** An expiry revoke may be waiting to be proposed or retried (the next check must not skip). */
  private unproposed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: LeaseKeeperDeps) {
    this.now = deps.now ?? (() => performance.now());
  }

  start(): void {
    this.timer ??= setInterval(() => this.check(), this.deps.checkMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * A keep-alive on the leader: restarts the lease's countdown and returns
   * its TTL in seconds, or 0 when the lease is unknown or expired here.
   * The caller makes sure this node leads.
   */
  keepAlive(id: number): number {
    if (!this.syncEpoch()) return 0;
    const lease = this.deps.leases.get(id);
    if (lease === undefined || this.expiring.has(id)) return 0;
    this.setDeadline(id, this.now() + lease.ttl * 1000);
    return lease.ttl;
  }

  /** Milliseconds left on the lease's countdown (0 once expired), or undefined when unknown or not leading. */
  remainingMs(id: number): number | undefined {
    if (!this.syncEpoch()) return undefined;
    const lease = this.deps.leases.get(id);
    if (lease === undefined) return undefined;
    if (this.expiring.has(id)) return 0;
    return Math.max(0, this.deadlineOf(id, lease.ttl) - this.now());
  }

  /** Leases counted down here (a metric): every live lease while leading, else 0. */
  get counting(): number {
    return this.deadlines.size;
  }

  /**
   * Expires what ran out; exposed for tests (the timer calls it every checkMs).
   * Returns at once while no countdown can have run out and no revoke waits
   * to be proposed, so an idle leader does not walk every lease every tick.
   */
  check(): void {
    if (!this.syncEpoch()) return;
    const now = this.now();
    if (this.seenVersion !== this.deps.leases.version) this.followTable();
    if (now < this.nextDue && !this.unproposed) return;
    let inFlight = 0;
    for (const proposed of this.expiring.values()) if (proposed) inFlight += 1;
    this.nextDue = Infinity;
    for (const [id, deadline] of this.deadlines) {
      if (this.expiring.has(id)) continue;
      if (deadline > now) {
        if (deadline < this.nextDue) this.nextDue = deadline;
        continue;
      }
      this.expiring.set(id, false);
      this.deps.logger.info('lease-expired', { lease: id, term: this.epoch });
    }
    this.unproposed = false;
    for (const [id, proposed] of this.expiring) {
      if (proposed) continue;
      // Bounded, so that a mass expiry does not fill the proposal queue; the rest go on later checks.
      if (inFlight >= LEASE_REVOKES_IN_FLIGHT_MAX) {
        this.unproposed = true;
        break;
      }
      inFlight += 1;
      this.proposeRevoke(id);
    }
  }

  /** New leases start counting, revoked ones stop (only after the table changed: most checks only compare deadlines). */
  private followTable(): void {
    this.seenVersion = this.deps.leases.version;
    const live = new Set<number>();
    for (const lease of this.deps.leases.list()) {
      live.add(lease.id);
      this.deadlineOf(lease.id, lease.ttl);
    }
    for (const id of this.deadlines.keys()) if (!live.has(id)) this.forget(id);
    for (const id of this.expiring.keys()) if (!live.has(id)) this.expiring.delete(id);
  }

  private proposeRevoke(id: number): void {
    const epoch = this.epoch;
    this.expiring.set(id, true);
    this.deps.revoke({ id, expired: true }).then(
      () => this.forget(id),
      (error: unknown) => {
        // Lost leadership, a timeout, already revoked: still expired here while this leadership lasts; check() retries.
        if (this.epoch === epoch && this.expiring.has(id)) {
          this.expiring.set(id, false);
          this.unproposed = true;
        }
        this.deps.logger.debug('lease-expiry-retry', { lease: id, error: (error as Error).message });
      },
    );
  }

  private forget(id: number): void {
    this.deadlines.delete(id);
    this.expiring.delete(id);
  }

  /** The lease's deadline, starting its countdown at full TTL if it has none yet. */
  private deadlineOf(id: number, ttlSeconds: number): number {
    let deadline = this.deadlines.get(id);
    if (deadline === undefined) {
      deadline = this.now() + ttlSeconds * 1000;
      this.setDeadline(id, deadline);
    }
    return deadline;
  }

  /** Sets the lease's countdown, lowering nextDue so that no check skips it. */
  private setDeadline(id: number, deadline: number): void {
    this.deadlines.set(id, deadline);
    if (deadline < this.nextDue) this.nextDue = deadline;
  }

  /**
   * Whether this node leads; on a new leadership every countdown restarts
   * (deadlines are filled in at full TTL as leases are seen), when not
   * leading none is kept.
   */
  private syncEpoch(): boolean {
    const epoch = this.deps.isLeader() ? this.deps.term() : 0;
    if (epoch !== this.epoch) {
      this.epoch = epoch;
      this.deadlines.clear();
      this.expiring.clear();
      this.seenVersion = -1;
      this.nextDue = -Infinity;
      this.unproposed = false;
    }
    return epoch !== 0;
  }
}
