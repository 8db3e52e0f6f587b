/**
 * The endpoint pool and the last known leader (ioredis MOVED semantics):
 * follow a NOT_LEADER hint at once, otherwise rotate through the pool, and
 * refresh the pool from cluster membership (NATS `Servers.update`).
 */
import { assert } from '@cairn/proto';
import { ENDPOINTS_MAX } from './limits.js';
import type { StatusHub } from './status.js';

export interface MemberAddress {
  readonly id: number;
  readonly clientAddress: string;
}

export class LeaderTracker {
  private readonly seeds: readonly string[];
  private discovered: string[] = [];
  private addressById = new Map<number, string>();
  private leaderAddress: string | undefined;
  private leaderId = 0;
  private cursor = 0;

  constructor(
    seeds: readonly string[],
    private readonly status: StatusHub,
  ) {
    assert(seeds.length > 0, 'at least one seed endpoint');
    this.seeds = [...new Set(seeds)];
  }

  /** Seeds first, then discovered members, without duplicates. */
  endpoints(): readonly string[] {
    return [...new Set([...this.seeds, ...this.discovered])].slice(0, ENDPOINTS_MAX);
  }

  /** The last node that answered as leader, if any. */
  leader(): { readonly address: string; readonly leaderId: number } | undefined {
    return this.leaderAddress === undefined ? undefined : { address: this.leaderAddress, leaderId: this.leaderId };
  }

  /** Where the next attempt goes: the known leader, else the pool's current endpoint. */
  target(): string {
    if (this.leaderAddress !== undefined) return this.leaderAddress;
    const pool = this.endpoints();
    const address = pool[this.cursor % pool.length];
    assert(address !== undefined);
    return address;
  }

  /**
   * Where the next attempt of a call goes when it has already asked `asked` in
   * its current round: the known leader unless asked, else the first endpoint
   * from the cursor on that was not; undefined when every endpoint was asked
   * (the round is over).
   */
  nextUnasked(asked: ReadonlySet<string>): string | undefined {
    if (this.leaderAddress !== undefined && !asked.has(this.leaderAddress)) return this.leaderAddress;
    const pool = this.endpoints();
    for (let offset = 0; offset < pool.length; offset++) {
      const address = pool[(this.cursor + offset) % pool.length]!;
      if (!asked.has(address)) return address;
    }
    return undefined;
  }

  /** A node answered a leader-only request, so it is the leader. */
  onLeaderAnswer(address: string, leaderId: number): void {
    const changed = address !== this.leaderAddress || (leaderId !== 0 && leaderId !== this.leaderId);
    this.leaderAddress = address;
    if (leaderId !== 0) {
      this.leaderId = leaderId;
      this.addressById.set(leaderId, address);
    }
    if (changed) this.status.emit({ type: 'leader-changed', leaderId: this.leaderId, address });
  }

  /**
   * Handles NOT_LEADER from `from`. Returns the hinted leader's address when
   * the hint is usable: known, not `from` itself, and not already asked in the
   * call's current round (`asked`). A follower keeps naming a dead leader
   * until it times out the election, so a hint naming a node that just failed
   * is not followed again: the pool is asked instead (the call rotates).
   */
  redirect(
    from: string,
    hint: { readonly leaderId: number; readonly leaderAddress: string },
    asked: ReadonlySet<string> = new Set(),
  ): string | undefined {
    const to = hint.leaderAddress !== '' ? hint.leaderAddress : this.addressById.get(hint.leaderId);
    if (to === undefined || to === from || asked.has(to)) {
      this.onFailure(from);
      return undefined;
    }
    if (!this.endpoints().includes(to) && this.endpoints().length < ENDPOINTS_MAX) this.discovered.push(to);
    if (hint.leaderId !== 0) this.addressById.set(hint.leaderId, to);
    this.status.emit({ type: 'redirect', from, to });
    this.leaderAddress = to;
    this.leaderId = hint.leaderId;
    this.status.emit({ type: 'leader-changed', leaderId: hint.leaderId, address: to });
    return to;
  }

  /** Leadership moved away from the known leader (e.g. after a transfer). */
  forgetLeader(): void {
    this.leaderAddress = undefined;
    this.leaderId = 0;
  }

  /** `address` failed: forget it as leader and move the cursor past it. */
  onFailure(address: string): void {
    if (this.leaderAddress === address) {
      this.leaderAddress = undefined;
      this.leaderId = 0;
    }
    const pool = this.endpoints();
    const index = pool.indexOf(address);
    this.cursor = index >= 0 ? index + 1 : this.cursor + 1;
    this.cursor %= pool.length;
  }

  /** Replaces the discovered part of the pool with the members' client addresses. */
  updateMembers(members: readonly MemberAddress[], leaderId: number): void {
    const before = this.endpoints();
    const current = this.target();
    this.discovered = members.map((member) => member.clientAddress).filter((address) => address !== '');
    this.addressById = new Map(members.filter((member) => member.clientAddress !== '').map((member) => [member.id, member.clientAddress]));
    const after = this.endpoints();
    // Keep pointing at the same endpoint when the pool order changes.
    const index = after.indexOf(current);
    this.cursor = index >= 0 ? index : 0;
    const leaderAddress = this.addressById.get(leaderId);
    if (leaderAddress !== undefined && leaderAddress !== this.leaderAddress) this.onLeaderAnswer(leaderAddress, leaderId);
    if (before.join(',') !== after.join(',')) this.status.emit({ type: 'endpoints-updated', endpoints: after });
  }
}
