/** Public value types of the clerk API and the conversions at its edge. */
import type { KeyValue as WireKeyValue } from '@cairn/proto';
import { InvalidArgumentError } from './errors.js';

/** Keys and values: a string (stored as its UTF-8 bytes) or raw bytes. */
export type Bytes = string | Uint8Array;

export type Consistency = 'linearizable' | 'serializable';

/** A stored key and its value, with the raft indexes that created and last changed it. */
export interface KeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  /** 1 on creation, +1 on every change. */
  readonly version: number;
  readonly createIndex: number;
  readonly modIndex: number;
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
}

export interface PutOptions extends CallOptions {
  /** Return the previous key-value. @default false */
  readonly prevKv?: boolean;
}

export interface PutResult {
  readonly version: number;
  /** Only when `prevKv` was requested and the key existed. */
  readonly prevKv: KeyValue | undefined;
}

export interface AppendResult {
  readonly version: number;
  /** Length in bytes of the value after the append. */
  readonly length: number;
}

export interface DeleteResult {
  /** False when the key did not exist. */
  readonly deleted: boolean;
}

/** Compare against the current value, or the current version (0 = key absent). */
export type CasExpectation = { readonly expectedValue: Bytes } | { readonly expectedVersion: number };

export interface CasResult {
  readonly succeeded: boolean;
  /** The key's state after the operation; undefined when the key does not exist. */
  readonly kv: KeyValue | undefined;
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
}

export interface RangeResult {
  readonly kvs: readonly KeyValue[];
  /** True when more keys match beyond `limit`. */
  readonly more: boolean;
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
  return { key: kv.key, value: kv.value, version: kv.version, createIndex: kv.createIndex, modIndex: kv.modIndex };
}
