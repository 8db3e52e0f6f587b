import type { MembersResponse, SnapshotResponse, StatusResponse } from '@cairn/proto';

/** A stored key-value as the clerk returns it. */
export interface KeyValueLike {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly version: number;
  readonly createIndex: number;
  readonly modIndex: number;
  /** Revisions and lease (absent from clerks that predate them). */
  readonly createRevision?: number;
  readonly modRevision?: number;
  readonly lease?: number;
}

/** One op's result in a txn, as the clerk returns it. */
export type TxnOpResultLike =
  | { readonly type: 'put'; readonly version: number }
  | { readonly type: 'get'; readonly kv: KeyValueLike | undefined }
  | { readonly type: 'delete'; readonly deleted: boolean; readonly count: number }
  | { readonly type: 'range'; readonly kvs: readonly KeyValueLike[]; readonly more: boolean };

export interface TxnResultLike {
  readonly succeeded: boolean;
  readonly responses: readonly TxnOpResultLike[];
  readonly revision: number;
}

export interface WatchEventLike {
  readonly type: 'put' | 'delete';
  readonly key: Buffer;
  readonly value: Buffer;
  readonly kv: KeyValueLike;
  readonly prevKv: KeyValueLike | undefined;
  readonly revision: number;
}

export interface WatchOptionsLike {
  readonly prefix?: boolean;
  readonly fromRevision?: number;
  readonly prevKv?: boolean;
  readonly signal?: AbortSignal;
}

export type Consistency = 'linearizable' | 'serializable';

export type CasExpectation = { expectedValue: Buffer } | { expectedVersion: number };

export interface RangeOptions {
  readonly limit?: number;
  readonly startAfter?: string;
  readonly keysOnly?: boolean;
}

/** A member to add, in the clerk's terms. */
export interface NewMember {
  readonly id: number;
  readonly peerAddress: string;
  readonly clientAddress: string;
}

/**
 * The narrow slice of `@cairn/clerk`'s `Clerk` that kvctl uses. Depending on this
 * instead of the class keeps run.ts and bench.ts testable with a fake, and
 * states exactly what kvctl needs from the SDK. Results kvctl does not read
 * are `unknown` so any richer clerk return type fits. `Clerk` from
 * @cairn/clerk satisfies it (checked in connect.ts).
 */
export interface ClerkLike {
  put(key: string, value: Buffer, options?: { lease?: number }): Promise<unknown>;
  get(key: string, options: { consistency: Consistency; revision?: number }): Promise<KeyValueLike | undefined>;
  append(key: string, suffix: Buffer): Promise<unknown>;
  delete(key: string, options?: { prefix?: boolean }): Promise<{ deleted: boolean; count?: number }>;
  cas(key: string, expected: CasExpectation, newValue: Buffer): Promise<{ succeeded: boolean; kv?: KeyValueLike | undefined }>;
  range(prefix: string, options: RangeOptions): Promise<{ readonly kvs: readonly KeyValueLike[]; readonly more: boolean }>;
  /** The status of `endpoint` when given, else of the leader (or any node); `deadlineMs` bounds the call. */
  status(options?: { endpoint?: string; deadlineMs?: number }): Promise<StatusResponse>;
  members(): Promise<MembersResponse>;
  addLearner(member: NewMember): Promise<unknown>;
  promote(id: number): Promise<unknown>;
  removeMember(id: number): Promise<unknown>;
  transferLeader(id: number): Promise<unknown>;
  snapshot(): Promise<SnapshotResponse>;
  close(): Promise<void> | void;
  /** What the clerk is doing (redirects, leader changes); shown with --verbose. */
  statusEvents?(): AsyncIterable<ClerkEvent>;
  // Coordination (issue 20). Optional so fakes implement only what a test uses;
  // `spec` is built with @cairn/clerk's compare.* and op.* (txn-spec.ts).
  txn?(spec: never): Promise<TxnResultLike>;
  compact?(revision: number): Promise<{ readonly revision: number }>;
  grant?(ttlSeconds: number): Promise<{ readonly id: number; readonly ttl: number }>;
  revoke?(id: number): Promise<{ readonly deleted: number }>;
  timeToLive?(
    id: number,
    options: { keys?: boolean },
  ): Promise<{ readonly id: number; readonly ttl: number; readonly grantedTtl: number; readonly keys: readonly Buffer[] }>;
  leases?(): Promise<readonly number[]>;
  keepAliveOnce?(id: number): Promise<{ readonly id: number; readonly ttl: number }>;
  watch?(key: string, options: WatchOptionsLike): AsyncIterable<WatchEventLike>;
}

/** A clerk status event; kvctl prints `type` and the remaining fields. */
export interface ClerkEvent {
  readonly type: string;
}

/** Asks one specific member (by client address) for its status, not whichever node the clerk picks. */
export type MemberStatusFetcher = (clientAddress: string) => Promise<StatusResponse>;
