/**
 * Leader election, modelled on etcd's concurrency.Election: each candidate
 * puts `prefix/<lease id>` with its value, attached to its session's lease;
 * the key with the lowest create revision is the leader, and its value is
 * the leader's proclamation. A leader that dies loses its lease and key, and
 * the next candidate (by create revision) becomes leader.
 */
import type { Clerk } from '../clerk.js';
import { FailedPreconditionError } from '../errors.js';
import { compare, op } from '../txn.js';
import type { Bytes, CallOptions, KeyValue } from '../types.js';
import { abortReason, listAll, normalizePrefix, oldest, sessionKey, waitDeletes, withSession } from './keys.js';
import type { Session } from './session.js';

export interface LeaderInfo {
  readonly key: Buffer;
  readonly value: Buffer;
  /** The leader key's create revision: the term of its leadership. */
  readonly createRevision: number;
  /** The revision the leader was read at. */
  readonly revision: number;
}

export class Election {
  private readonly prefix: string;
  /** This session's candidate key under the prefix. */
  readonly key: string;
  /** The create revision of the key while this candidate leads. */
  private leaderRevision = 0;

  constructor(
    private readonly session: Session,
    prefix: string,
  ) {
    this.prefix = normalizePrefix(prefix);
    this.key = sessionKey(this.prefix, session.leaseId);
  }

  /** Whether `campaign()` won and `resign()` has not been called (the lease may still be lost: see `session.signal`). */
  get isLeader(): boolean {
    return this.leaderRevision !== 0;
  }

  /** Becomes a candidate with `value` and waits until elected; returns the leadership's create revision. */
  async campaign(value: Bytes, options: { readonly signal?: AbortSignal } = {}): Promise<number> {
    const clerk = this.session.clerk;
    const signal = withSession(this.session.signal, options.signal);
    if (signal.aborted) throw abortReason(signal);
    const created = await clerk.txn(
      {
        if: [compare.createRevision(this.key, '=', 0)],
        then: [op.put(this.key, value, { lease: this.session.leaseId })],
        else: [op.get(this.key)],
      },
      { signal },
    );
    let myRevision = created.revision;
    if (!created.succeeded) {
      const existing = created.responses[0];
      myRevision = existing?.type === 'get' ? (existing.kv?.createRevision ?? 0) : 0;
      if (myRevision === 0) throw new FailedPreconditionError(`candidate key ${this.key} vanished as it was taken`);
      await clerk.put(this.key, value, { lease: this.session.leaseId, signal });
    }
    try {
      await waitDeletes(clerk, this.prefix, myRevision - 1, created.revision, signal);
      const mine = await clerk.get(this.key, { signal });
      if (mine?.createRevision !== myRevision)
        throw new FailedPreconditionError(`candidate key ${this.key} vanished (session lease lost?)`);
    } catch (error) {
      if (signal.aborted) {
        await clerk.delete(this.key).catch(() => undefined);
        throw abortReason(signal);
      }
      throw error;
    }
    this.leaderRevision = myRevision;
    return myRevision;
  }

  /** Changes the leader's value; `FailedPreconditionError` if this candidate is not (or no longer) the leader. */
  async proclaim(value: Bytes, options: CallOptions = {}): Promise<void> {
    if (this.leaderRevision === 0) throw new FailedPreconditionError('not the leader of this election');
    const result = await this.session.clerk.txn(
      {
        if: [compare.createRevision(this.key, '=', this.leaderRevision)],
        then: [op.put(this.key, value, { lease: this.session.leaseId })],
      },
      options,
    );
    if (!result.succeeded) {
      this.leaderRevision = 0;
      throw new FailedPreconditionError('leadership lost (the candidate key is gone)');
    }
  }

  /** Gives up leadership (deletes the key, if it is still this leadership's); the next candidate is elected. */
  async resign(options: CallOptions = {}): Promise<void> {
    const revision = this.leaderRevision;
    if (revision === 0) return;
    this.leaderRevision = 0;
    await this.session.clerk.txn({ if: [compare.createRevision(this.key, '=', revision)], then: [op.delete(this.key)] }, options);
  }

  /** The current leader, or undefined when there is none. */
  async leader(options: { readonly signal?: AbortSignal } = {}): Promise<LeaderInfo | undefined> {
    return currentLeader(this.session.clerk, this.prefix, options.signal);
  }

  /**
   * The leader's value now (once there is a leader) and each time it
   * changes: a new proclamation or a new leader. Ends when `signal` fires.
   */
  observe(options: { readonly signal?: AbortSignal } = {}): AsyncIterableIterator<Buffer> {
    return observeLeader(this.session.clerk, this.prefix, options.signal);
  }
}

async function currentLeader(clerk: Clerk, prefix: string, signal: AbortSignal | undefined): Promise<LeaderInfo | undefined> {
  const { kvs, revision } = await listAll(clerk, prefix, signal);
  const first = oldest(kvs);
  return first === undefined ? undefined : leaderInfo(first, revision);
}

function leaderInfo(kv: KeyValue, revision: number): LeaderInfo {
  return { key: kv.key, value: kv.value, createRevision: kv.createRevision, revision };
}

async function* observeLeader(clerk: Clerk, prefix: string, signal: AbortSignal | undefined): AsyncIterableIterator<Buffer> {
  let last: { key: Buffer; value: Buffer } | undefined;
  // Watches start after a revision named before their listing began (see waitDeletes): no gap.
  let floor = (await clerk.range(prefix, { limit: 1, keysOnly: true, signal })).revision;
  while (signal?.aborted !== true) {
    const { kvs, revision } = await listAll(clerk, prefix, signal);
    const after = floor;
    floor = revision;
    const leader = oldest(kvs);
    if (leader === undefined) {
      // No candidate: wait for the first one to appear.
      const candidates = clerk.watch(prefix, { prefix: true, fromRevision: after + 1, signal });
      for await (const event of candidates) if (event.type === 'put') break;
      // What the watch delivered happened before the next listing: also a floor (and a recent one).
      floor = Math.max(floor, candidates.revision);
      continue;
    }
    if (last === undefined || !last.key.equals(leader.key) || !last.value.equals(leader.value)) {
      last = { key: leader.key, value: leader.value };
      yield leader.value;
    }
    // Follow the leader's key until it goes.
    const follow = clerk.watch(leader.key, { fromRevision: after + 1, signal });
    for await (const event of follow) {
      // The listing already reflects every change up to the key's modRevision.
      if (event.revision <= leader.modRevision) continue;
      if (event.type === 'delete') break;
      if (!event.value.equals(last.value)) {
        last = { key: leader.key, value: event.value };
        yield event.value;
      }
    }
    floor = Math.max(floor, follow.revision);
  }
}
