/** What the recipes share: their key under a prefix, listing a prefix at one revision, waiting for deletes. */
import type { Clerk } from '../clerk.js';
import { AbortedError } from '../errors.js';
import type { KeyValue } from '../types.js';

/** `prefix` with one trailing '/'. */
export function normalizePrefix(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** The key a session holds under `prefix`: the lease id in hex, as etcd names it. */
export function sessionKey(prefix: string, leaseId: number): string {
  return `${prefix}${leaseId.toString(16)}`;
}

/** Every key under `prefix`, all pages read at one revision. */
export async function listAll(
  clerk: Clerk,
  prefix: string,
  signal: AbortSignal | undefined,
): Promise<{ kvs: KeyValue[]; revision: number }> {
  let page = await clerk.range(prefix, { signal });
  const kvs = [...page.kvs];
  const revision = page.revision;
  while (page.more && page.kvs.length > 0) {
    page = await clerk.range(prefix, { startAfter: page.kvs.at(-1)!.key, revision, signal });
    kvs.push(...page.kvs);
  }
  return { kvs, revision };
}

/** The key with the lowest create revision, if any. */
export function oldest(kvs: readonly KeyValue[]): KeyValue | undefined {
  let first: KeyValue | undefined;
  for (const kv of kvs) if (first === undefined || kv.createRevision < first.createRevision) first = kv;
  return first;
}

/**
 * Waits until no key under `prefix` was created at or below `maxCreateRevision`.
 * Each round waits for the delete of the newest such key only (the waiter's
 * predecessor), so a release wakes one waiter, not the herd.
 *
 * The watch for that delete starts after `floor`: a revision some response
 * named before the listing began, so the listing saw at least that state and
 * a later delete cannot be missed. (A listing's own header revision is not
 * used: a write applied while the node reads may already count in it.)
 */
export async function waitDeletes(
  clerk: Clerk,
  prefix: string,
  maxCreateRevision: number,
  floor: number,
  signal: AbortSignal,
): Promise<void> {
  let after = floor;
  for (;;) {
    const { kvs, revision } = await listAll(clerk, prefix, signal);
    let predecessor: KeyValue | undefined;
    for (const kv of kvs) {
      if (kv.createRevision <= maxCreateRevision && (predecessor === undefined || kv.createRevision > predecessor.createRevision)) {
        predecessor = kv;
      }
    }
    if (predecessor === undefined) return;
    await waitDelete(clerk, predecessor.key, after, signal);
    after = revision;
  }
}

/** Resolves when `key` is deleted after `revision` (the watch replays a delete that already happened; the caller lists again). */
async function waitDelete(clerk: Clerk, key: Buffer, revision: number, signal: AbortSignal): Promise<void> {
  for await (const event of clerk.watch(key, { fromRevision: revision + 1, filters: ['noPut'], signal })) {
    if (event.type === 'delete') return;
  }
  throw abortReason(signal);
}

/** The error an aborted wait throws: the signal's reason when it is an Error. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new AbortedError();
}

/** The caller's signal combined with the session's. */
export function withSession(sessionSignal: AbortSignal, signal: AbortSignal | undefined): AbortSignal {
  return signal === undefined ? sessionSignal : AbortSignal.any([sessionSignal, signal]);
}
