/**
 * A distributed lock, modelled on etcd's concurrency.Mutex. Each contender
 * puts `prefix/<lease id>` attached to its session's lease; the key with the
 * lowest create revision holds the lock, and each waiter watches only for
 * the delete of the key just before its own (fair: first come, first
 * served; no thundering herd). A holder that dies loses its lease, so its
 * key goes and the next waiter proceeds.
 *
 * The create revision of the holder's key is a fencing token: it strictly
 * increases from one holder to the next, so a resource that remembers the
 * highest token it has seen can refuse a stale holder (see the README).
 */
import { compare, op } from '../txn.js';
import { FailedPreconditionError } from '../errors.js';
import type { CallOptions } from '../types.js';
import { abortReason, normalizePrefix, sessionKey, waitDeletes, withSession } from './keys.js';
import type { Session } from './session.js';

export interface LockOptions {
  /** Gives up waiting (the contender's key is removed); the call throws `AbortedError` or the signal's reason. */
  readonly signal?: AbortSignal;
}

export interface LockResult {
  /** The holder's key (`prefix/<lease id hex>`). */
  readonly key: string;
  /** The create revision of the key: strictly increases from one holder to the next. */
  readonly fencingRevision: number;
}

export class Mutex {
  private readonly prefix: string;
  /** This session's key under the prefix. */
  readonly key: string;
  private held: LockResult | undefined;

  constructor(
    private readonly session: Session,
    prefix: string,
  ) {
    this.prefix = normalizePrefix(prefix);
    this.key = sessionKey(this.prefix, session.leaseId);
  }

  /** The held lock, if `lock()` returned and `unlock()` has not been called. */
  get lockResult(): LockResult | undefined {
    return this.held;
  }

  /**
   * Waits for the lock. Throws the session's loss reason if its lease is lost
   * while waiting, or `FailedPreconditionError` if the key vanished.
   */
  async lock(options: LockOptions = {}): Promise<LockResult> {
    const clerk = this.session.clerk;
    const signal = withSession(this.session.signal, options.signal);
    if (signal.aborted) throw abortReason(signal);
    const created = await clerk.txn(
      {
        if: [compare.createRevision(this.key, '=', 0)],
        then: [op.put(this.key, '', { lease: this.session.leaseId })],
        else: [op.get(this.key)],
      },
      { signal },
    );
    const existing = created.responses[0];
    const myRevision = created.succeeded ? created.revision : existing?.type === 'get' ? (existing.kv?.createRevision ?? 0) : 0;
    if (myRevision === 0) throw new FailedPreconditionError(`lock key ${this.key} vanished as it was taken`);
    try {
      await waitDeletes(clerk, this.prefix, myRevision - 1, created.revision, signal);
      // The lease may have expired while waiting, taking the key with it.
      const mine = await clerk.get(this.key, { signal });
      if (mine?.createRevision !== myRevision) {
        throw new FailedPreconditionError(`lock key ${this.key} vanished while waiting (session lease lost?)`);
      }
    } catch (error) {
      if (signal.aborted) {
        await this.release().catch(() => undefined);
        throw abortReason(signal);
      }
      throw error;
    }
    this.held = { key: this.key, fencingRevision: myRevision };
    return this.held;
  }

  /** Releases the lock (deletes the key); the next waiter gets it. */
  async unlock(options: CallOptions = {}): Promise<void> {
    this.held = undefined;
    await this.release(options);
  }

  private async release(options: CallOptions = {}): Promise<void> {
    await this.session.clerk.delete(this.key, options);
  }
}
