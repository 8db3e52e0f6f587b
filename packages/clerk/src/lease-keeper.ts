/**
 * Keeps a clerk's leases alive over ONE `LeaseKeepAlive` stream to the
 * leader, however many leases it holds. Each lease is renewed every third of
 * its TTL; after a leader change (the stream fails, or the node answers
 * NOT_LEADER) the stream is reopened on the new leader and every lease is
 * renewed at once.
 *
 * A lease is lost when the node answers TTL 0 (it no longer exists), or when
 * no keep-alive has been answered for a whole TTL. The latter is measured
 * from the moment the last *answered* keep-alive was sent: the leader renewed
 * the lease no earlier than that, so it cannot expire it before this side
 * notices (clock rate differences aside). Losing a lease aborts its handle's
 * signal with the reason.
 */
import type { LeaseKeepAliveResponse } from '@cairn/proto';
import type { Clock, Random } from './clock.js';
import type { BidiStream, Connection } from './connection.js';
import {
  AbortedError,
  type ClerkError,
  ClosedError,
  LeaseNotFoundError,
  NotLeaderError,
  TimeoutError,
  UnavailableError,
} from './errors.js';
import type { LeaderTracker } from './leader-tracker.js';
import type { RetryOptions } from './options.js';
import { backoffDelayMs } from './retry.js';

/** A lease kept alive by the clerk. */
export interface Lease {
  readonly id: number;
  /** The TTL the lease was granted with, in seconds. */
  readonly ttl: number;
  /** Fires when the lease is lost (expired, revoked, not found) or no longer kept alive; `signal.reason` says why. */
  readonly signal: AbortSignal;
  /** Stops keeping the lease alive and revokes it (deleting its keys). */
  revoke(): Promise<void>;
  /** Stops keeping the lease alive without revoking it: it expires on the server after its TTL. */
  close(): void;
}

export interface LeaseKeeperDeps {
  readonly connection: (address: string) => Connection;
  readonly tracker: LeaderTracker;
  readonly clock: Clock;
  readonly random: Random;
  readonly retry: Readonly<Required<RetryOptions>>;
  /** A keep-alive unanswered this long means the stream is stalled: it is reopened. */
  readonly requestTimeoutMs: number;
}

interface KeptLease {
  readonly id: number;
  ttlMs: number;
  /** When the last answered keep-alive (or the grant) was sent: the lease lives at least ttlMs past it. */
  renewedFrom: number;
  /** Send times of the keep-alives not answered yet, oldest first. */
  readonly unanswered: number[];
  readonly controller: AbortController;
  renewTimer: NodeJS.Timeout | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
  /** keepAliveOnce callers waiting for the next answer. */
  readonly waiters: Array<(response: LeaseKeepAliveResponse | ClerkError) => void>;
}

interface OpenStream {
  readonly address: string;
  stream: BidiStream<{ id: number }>;
}

export class LeaseKeeper {
  private readonly leases = new Map<number, KeptLease>();
  private open: OpenStream | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Consecutive stream failures with no answer in between (the backoff exponent). */
  private failures = 0;
  /** Nodes tried since the last answer: a stale NOT_LEADER hint is not followed twice. */
  private readonly asked = new Set<string>();
  private closed = false;

  constructor(private readonly deps: LeaseKeeperDeps) {}

  /** Starts keeping `id` alive; `grantedAt` is when the grant (or last renewal) was sent. */
  keep(id: number, ttlSeconds: number, grantedAt: number, revoke: () => Promise<void>): Lease {
    if (this.closed) throw new ClosedError();
    const existing = this.leases.get(id);
    if (existing !== undefined) this.lose(existing, new AbortedError(`lease ${id} is kept by a newer handle`));
    const kept: KeptLease = {
      id,
      ttlMs: ttlSeconds * 1000,
      renewedFrom: grantedAt,
      unanswered: [],
      controller: new AbortController(),
      renewTimer: undefined,
      expiryTimer: undefined,
      waiters: [],
    };
    this.leases.set(id, kept);
    this.armExpiry(kept);
    kept.renewTimer = setInterval(() => this.renew(kept), Math.max(1, kept.ttlMs / 3));
    const signal = kept.controller.signal;
    return {
      id,
      ttl: ttlSeconds,
      signal,
      revoke: async () => {
        this.lose(kept, new AbortedError(`lease ${id} revoked`));
        await revoke();
      },
      close: () => this.lose(kept, new ClosedError(`lease ${id} no longer kept alive`)),
    };
  }

  /** One keep-alive of `id` over the shared stream: the renewed TTL in seconds (0: the lease does not exist). */
  keepAliveOnce(id: number, timeoutMs: number): Promise<number> {
    if (this.closed) return Promise.reject(new ClosedError());
    let kept = this.leases.get(id);
    const temporary = kept === undefined;
    if (kept === undefined) {
      kept = {
        id,
        ttlMs: 0,
        renewedFrom: 0,
        unanswered: [],
        controller: new AbortController(),
        renewTimer: undefined,
        expiryTimer: undefined,
        waiters: [],
      };
      this.leases.set(id, kept);
    }
    const entry = kept;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => finish(new TimeoutError(`no keep-alive answer for lease ${id} within ${timeoutMs} ms`)), timeoutMs);
      const finish = (result: LeaseKeepAliveResponse | ClerkError): void => {
        clearTimeout(timer);
        const index = entry.waiters.indexOf(finish);
        if (index >= 0) entry.waiters.splice(index, 1);
        if (temporary && this.leases.get(id) === entry && entry.waiters.length === 0) {
          this.leases.delete(id);
          // Nothing left to keep alive: the stream must not hold the process.
          if (this.leases.size === 0) this.stopStream();
        }
        if ('code' in result) reject(result);
        else resolve(result.ttl);
      };
      entry.waiters.push(finish);
      this.send(entry);
    });
  }

  /** Ends every lease's keep-alive (their signals fire with `ClosedError`) and the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const kept of [...this.leases.values()]) this.lose(kept, new ClosedError());
    this.stopStream();
  }

  private renew(kept: KeptLease): void {
    const oldest = kept.unanswered[0];
    // A keep-alive unanswered for a request timeout: the node is wedged or gone, try another.
    if (oldest !== undefined && this.deps.clock.now() - oldest > this.deps.requestTimeoutMs && this.open !== undefined) {
      const address = this.open.address;
      this.stopStream();
      this.onStreamFailed(address, new TimeoutError('keep-alive unanswered'));
      return;
    }
    this.send(kept);
  }

  private send(kept: KeptLease): void {
    const open = this.ensureStream();
    if (open === undefined) return; // reconnecting: the new stream renews every lease
    kept.unanswered.push(this.deps.clock.now());
    open.stream.write({ id: kept.id });
  }

  private ensureStream(): OpenStream | undefined {
    if (this.open !== undefined) return this.open;
    if (this.reconnectTimer !== undefined || this.closed || this.leases.size === 0) return undefined;
    const address = this.deps.tracker.nextUnasked(this.asked) ?? this.deps.tracker.target();
    const connection = this.deps.connection(address);
    if (connection.openStream === undefined) {
      for (const kept of [...this.leases.values()])
        this.lose(kept, new UnavailableError('this transport has no streams: leases cannot be kept alive'));
      return undefined;
    }
    this.asked.add(address);
    // Identifies this stream in its callbacks (a later one may have replaced it).
    const self: OpenStream = { address, stream: undefined! };
    const stream = connection.openStream('leaseKeepAlive', {
      message: (response) => this.onAnswer(response, address),
      ended: (error) => {
        if (this.open !== self) return;
        this.open = undefined;
        this.onStreamFailed(address, error);
      },
    });
    self.stream = stream;
    this.open = self;
    return self;
  }

  private onAnswer(response: LeaseKeepAliveResponse, address: string): void {
    if (this.failures > 0 || this.asked.size > 0) {
      this.failures = 0;
      this.asked.clear();
      this.deps.tracker.onLeaderAnswer(address, response.header?.leaderId || response.header?.memberId || 0);
    }
    const kept = this.leases.get(response.id);
    if (kept === undefined) return;
    const sentAt = kept.unanswered.shift();
    for (const waiter of [...kept.waiters]) waiter(response);
    if (kept.renewTimer === undefined) return; // a one-off keepAliveOnce entry
    if (response.ttl <= 0) {
      this.lose(kept, new LeaseNotFoundError(`lease ${kept.id} no longer exists (expired or revoked)`));
      return;
    }
    if (sentAt !== undefined && sentAt > kept.renewedFrom) kept.renewedFrom = sentAt;
    kept.ttlMs = response.ttl * 1000;
    this.armExpiry(kept);
  }

  private onStreamFailed(address: string, error: ClerkError): void {
    for (const kept of this.leases.values()) {
      kept.unanswered.length = 0;
      for (const waiter of [...kept.waiters]) waiter(error);
    }
    if (this.closed) return;
    if (error instanceof NotLeaderError && this.deps.tracker.redirect(address, error, this.asked) !== undefined) {
      this.reconnect(0);
      return;
    }
    if (!(error instanceof NotLeaderError)) this.deps.tracker.onFailure(address);
    // Another node may be the leader: try the unasked ones at once, then back off.
    if (this.deps.tracker.nextUnasked(this.asked) !== undefined) {
      this.reconnect(0);
      return;
    }
    this.asked.clear();
    this.reconnect(backoffDelayMs(this.failures++, this.deps.retry, this.deps.random));
  }

  private reconnect(delayMs: number): void {
    if (this.reconnectTimer !== undefined || this.closed || this.leases.size === 0) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      // ensureStream asks the tracker, whose cursor has moved past the failed node.
      for (const kept of [...this.leases.values()]) this.send(kept);
    }, delayMs);
  }

  private armExpiry(kept: KeptLease): void {
    if (kept.expiryTimer !== undefined) clearTimeout(kept.expiryTimer);
    const remainingMs = kept.renewedFrom + kept.ttlMs - this.deps.clock.now();
    kept.expiryTimer = setTimeout(
      () => this.lose(kept, new TimeoutError(`lease ${kept.id}: no keep-alive answered within its TTL of ${kept.ttlMs / 1000} s`)),
      Math.max(0, remainingMs),
    );
  }

  private lose(kept: KeptLease, reason: ClerkError): void {
    if (this.leases.get(kept.id) === kept) this.leases.delete(kept.id);
    clearInterval(kept.renewTimer);
    clearTimeout(kept.expiryTimer);
    kept.renewTimer = undefined;
    kept.expiryTimer = undefined;
    for (const waiter of [...kept.waiters]) waiter(reason);
    if (!kept.controller.signal.aborted) kept.controller.abort(reason);
    if (this.leases.size === 0) this.stopStream();
  }

  private stopStream(): void {
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const open = this.open;
    this.open = undefined;
    open?.stream.cancel();
  }
}
