/**
 * The operation history format: JSON lines, one record when a KV operation
 * is invoked and one when it returns. The Clerk writes it (HistoryRecorder)
 * and @cairn/linearizability reads it; both take the record type from here so
 * writer and checker cannot drift apart. The format is specified in
 * packages/clerk/README.md ("History format").
 */
export type HistoryOp = 'put' | 'get' | 'append' | 'delete' | 'cas' | 'txn';

/** A key's metadata as an operation observed it (revisions are the response header's store revisions). */
export interface HistoryKeyMeta {
  readonly version: number;
  readonly createRevision: number;
  readonly modRevision: number;
  /** 0 or absent = no lease. */
  readonly lease?: number;
}

/** A key and value with their metadata, as a txn's get or range returned them. */
export interface HistoryKv extends HistoryKeyMeta {
  readonly key: string;
  readonly value: string;
}

/** One txn compare: `target(key) op operand`; `operand` is a string for `value`, a number otherwise. */
export interface HistoryCompare {
  readonly key: string;
  readonly target: 'value' | 'version' | 'create' | 'mod' | 'lease';
  readonly op: '=' | '!=' | '<' | '>';
  readonly operand: string | number;
}

/** One op of a txn branch; `range` reads every key starting with `key`; `delete` with `prefix` deletes them. */
export type HistoryTxnOp =
  | { readonly op: 'put'; readonly key: string; readonly value: string; readonly lease?: number }
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'delete'; readonly key: string; readonly prefix?: boolean }
  | { readonly op: 'range'; readonly key: string };

export interface HistoryTxn {
  readonly compare: readonly HistoryCompare[];
  readonly success: readonly HistoryTxnOp[];
  readonly failure: readonly HistoryTxnOp[];
}

/** Per op of the branch that ran, in order: get → kv (null = absent); range → kvs in key order; delete → count deleted. */
export type HistoryTxnOpResult =
  | { readonly op: 'put' }
  | { readonly op: 'get'; readonly kv: HistoryKv | null }
  | { readonly op: 'range'; readonly kvs: readonly HistoryKv[] }
  | { readonly op: 'delete'; readonly deleted: number };

export interface HistoryTxnResult {
  readonly succeeded: boolean;
  readonly results: readonly HistoryTxnOpResult[];
}

/**
 * `invoke`: the call started. `ok`: it took effect (writes) or returned (reads).
 * `fail`: it certainly did not take effect. `info`: a write whose outcome is
 * unknown; it may take effect at any time after its invoke.
 */
export type HistoryRecordType = 'invoke' | 'ok' | 'fail' | 'info';

export interface HistoryRecord {
  readonly type: HistoryRecordType;
  /** The recording clerk's `clientId`. */
  readonly process: string;
  readonly op: HistoryOp;
  /** Unique per process; pairs an invoke with its return. */
  readonly id: number;
  /** Monotonic nanoseconds from the clerk's clock. */
  readonly time: number;
  readonly key: string;
  /** put: the value; append: the suffix; cas: the new value. */
  readonly value?: string;
  /** cas by value: the expected value ('' never matches an absent key). */
  readonly expected?: string;
  /** cas by version: the expected version (0 = absent). */
  readonly expectedVersion?: number;
  /** On `ok`: get → value or null; delete → deleted; cas → succeeded; put/append → new version; txn → succeeded. */
  readonly result?: string | number | boolean | null;
  /** On `fail`/`info`: the error code. */
  readonly error?: string;
  /** Present and true when key, value, expected and result are base64 because some were not UTF-8 (txn keys and values too). */
  readonly binary?: true;
  /** put: the lease the key is attached to (absent = none). */
  readonly lease?: number;
  /**
   * On `ok`, optional: the response header's revision. For a write, the revision it
   * produced (or the current one if it changed nothing); for a read, the revision read at.
   */
  readonly revision?: number;
  /** On `ok` of a get that found the key, optional: its version, create and mod revisions, lease. */
  readonly meta?: HistoryKeyMeta;
  /** txn (invoke and return records): the compares and both branches. `key` is '' for a txn. */
  readonly txn?: HistoryTxn;
  /** On `ok` of a txn: which branch ran and each op's result (its revision is `revision`). */
  readonly txnResult?: HistoryTxnResult;
}
