/** Public value types of the clerk API and the conversions at its edge. */
import type { KeyValue as WireKeyValue } from '@cairn/proto';
import { InvalidArgumentError } from './errors.js';

/** Keys and values: a string (stored as its UTF-8 bytes) or raw bytes. */
export type Bytes = string | Uint8Array;

export type Consistency = 'linearizable' | 'serializable';

/** A stored key and its value, with the revisions (and raft indexes) that created and last changed it. */
export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  /** 1 on creation, +1 on every change. */
  readonly version: number;
  readonly createIndex: number;
  readonly modIndex: number;
  /** The revision of the change that created the key (a deleted and re-created key gets a new one). */
  readonly createRevision: number;
  /** The revision of the key's last change. */
  readonly modRevision: number;
  /** The lease the key is attached to; 0 = none. */
  readonly lease: number;
}

/** Options every call accepts. */
export interface CallOptions {
  /** Aborts the call (see `AbortedError` and `UnknownOutcomeError`). */
  readonly signal?: AbortSignal;
  /** Overall deadline of this call, retries included. @default the clerk's `deadlineMs` */
  readonly deadlineMs?: number;
}

export interface GetOptions extends CallOptions {
  /** @default 'linearizable' */
  readonly consistency?: Consistency;
  /**
   * Ask only this node (client address): no redirects, no rotation. A
   * serializable read is then answered from that node's state alone; a
   * linearizable one fails with `NotLeaderError` when the node is a follower.
   * @default the known leader, else the pool
   */
  readonly endpoint?: string;
  /** Read the key as of this past revision (still in the retained history); below it: `CompactedError`. @default the latest */
  readonly revision?: number;
}

export interface PutOptions extends CallOptions {
  /** Return the previous key-value. @default false */
  readonly prevKv?: boolean;
  /** Attach the key to this lease (deleted when the lease ends). A put without it detaches the key. @default none */
  readonly lease?: number;
}

export interface PutResult {
  readonly version: number;
  /** Only when `prevKv` was requested and the key existed. */
  readonly prevKv: KeyValue | undefined;
  /** The revision this put produced (0 from a node that predates revisions). */
  readonly revision: number;
}

export interface AppendResult {
  readonly version: number;
  /** Length in bytes of the value after the append. */
  readonly length: number;
}

export interface DeleteOptions extends CallOptions {
  /** Delete every key starting with `key`, in one revision. @default false */
  readonly prefix?: boolean;
  /** Return the deleted key-values in `prevKvs`. @default false */
  readonly prevKv?: boolean;
}

export interface DeleteResult {
  /** False when no key was deleted. */
  readonly deleted: boolean;
  /** Number of keys deleted. */
  readonly count: number;
  /** The deleted key-values, when `prevKv` was asked. */
  readonly prevKvs: readonly KeyValue[];
  /** The revision of the delete (the current one when nothing was deleted). */
  readonly revision: number;
}

/** Compare against the current value, or the current version (0 = key absent). */
export type CasExpectation = { readonly expectedValue: Bytes } | { readonly expectedVersion: number };

export interface CasResult {
  readonly succeeded: boolean;
  /** The key's state after the operation; undefined when the key does not exist. */
  readonly kv: KeyValue | undefined;
  /** The store's revision after the operation. */
  readonly revision: number;
}

export interface RangeOptions extends CallOptions {
  /** Most keys to return; 0 = the server's maximum. @default 0 */
  readonly limit?: number;
  /** Exclusive lower bound, for paging (pass the last key of the previous page). */
  readonly startAfter?: Bytes;
  /** Return keys with empty values. @default false */
  readonly keysOnly?: boolean;
  /** @default 'linearizable' */
  readonly consistency?: Consistency;
  /** Ask only this node, as `GetOptions.endpoint`. @default the known leader, else the pool */
  readonly endpoint?: string;
  /** Read as of this past revision, as `GetOptions.revision`. Pass a page's `revision` to read later pages at the same one. */
  readonly revision?: number;
}

export interface RangeResult {
  readonly kvs: readonly KeyValue[];
  /** True when more keys match beyond `limit`. */
  readonly more: boolean;
  /** The revision the range was read at. */
  readonly revision: number;
}

export interface LeaseGrantOptions extends CallOptions {
  /** The lease id to use. @default the node picks one */
  readonly id?: number;
}

export interface LeaseGrantResult {
  readonly id: number;
  /** The granted TTL in seconds. */
  readonly ttl: number;
  readonly revision: number;
}

export interface LeaseTimeToLiveOptions extends CallOptions {
  /** Also list the attached keys. @default false */
  readonly keys?: boolean;
}

export interface LeaseTimeToLiveResult {
  readonly id: number;
  /** Remaining seconds as the leader counts them; -1 when the lease does not exist. */
  readonly ttl: number;
  readonly grantedTtl: number;
  /** The attached keys, when asked. */
  readonly keys: readonly Buffer[];
}

/** Options of cluster calls that may target one node. */
export interface NodeCallOptions extends CallOptions {
  /** Ask this node (client address) instead of the leader or any node; no rotation. */
  readonly endpoint?: string;
}

export interface NewMember {
  readonly id: number;
  readonly peerAddress: string;
  readonly clientAddress: string;
  readonly httpAddress?: string;
}

export interface FaultSpec {
  readonly kind: 'clear' | 'drop' | 'delay' | 'partition';
  /** Peers affected; empty = all. */
  readonly peers?: readonly number[];
  /** For 'drop': probability in [0, 1]. */
  readonly dropRate?: number;
  readonly delayMs?: number;
  /** Clears itself after this long; 0 = until cleared. */
  readonly durationMs?: number;
}

export function toBuffer(bytes: Bytes, name: string): Buffer {
  if (typeof bytes === 'string') return Buffer.from(bytes, 'utf8');
  if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new InvalidArgumentError(`${name} must be a string or a Uint8Array`);
}

export function toKey(key: Bytes): Buffer {
  const buffer = toBuffer(key, 'key');
  if (buffer.length === 0) throw new InvalidArgumentError('key must not be empty');
  return buffer;
}

export function fromWireKeyValue(kv: WireKeyValue | undefined): KeyValue | undefined {
  if (kv === undefined) return undefined;
  return {
    key: kv.key,
    value: kv.value,
    version: kv.version,
    createIndex: kv.createIndex,
    modIndex: kv.modIndex,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    lease: kv.lease,
  };
}

/** A revision option: absent, or a positive integer. */
export function optionalRevision(name: string, revision: number | undefined): number {
  if (revision === undefined) return 0;
  if (!(Number.isSafeInteger(revision) && revision > 0)) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return revision;
}

/** A lease id option: absent (0), or a positive integer. */
export function optionalLeaseId(lease: number | undefined): number {
  if (lease === undefined || lease === 0) return 0;
  if (!(Number.isSafeInteger(lease) && lease > 0)) throw new InvalidArgumentError('lease must be a positive integer lease id');
  return lease;
}
