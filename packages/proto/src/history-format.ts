/**
 * The operation history format: JSON lines, one record when a KV operation
 * is invoked and one when it returns. The Clerk writes it (HistoryRecorder)
 * and @cairn/linearizability reads it; both take the record type from here so
 * writer and checker cannot drift apart. The format is specified in
 * packages/clerk/README.md ("History format").
 */
export type HistoryOp = 'put' | 'get' | 'append' | 'delete' | 'cas';

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
  /** On `ok`: get → value or null; delete → deleted; cas → succeeded; put/append → new version. */
  readonly result?: string | number | boolean | null;
  /** On `fail`/`info`: the error code. */
  readonly error?: string;
  /** Present and true when key, value, expected and result are base64 because some were not UTF-8. */
  readonly binary?: true;
}
