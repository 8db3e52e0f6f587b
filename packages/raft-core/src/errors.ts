/**
 * raft-core's error classes. Expected outcomes (a rejected proposal) are
 * results, not exceptions; these are for storage and configuration problems.
 * Check `err.code` rather than `instanceof` when crossing package copies.
 */
export type RaftErrorCode =
  'CONFIG_INVALID' | 'STORAGE_COMPACTED' | 'STORAGE_UNAVAILABLE' | 'SNAPSHOT_OUT_OF_DATE' | 'SNAPSHOT_TEMPORARILY_UNAVAILABLE';

export class RaftError extends Error {
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Thrown by a LogReader when asked for entries or terms below its first index
 * (they were compacted into a snapshot). raft-core catches it and sends a
 * snapshot instead; applications reading the log should do the same.
 */
export class StorageCompactedError extends RaftError {
  constructor(
    readonly index: number,
    readonly firstIndex: number,
  ) {
    super('STORAGE_COMPACTED', `index ${index} is compacted (first index ${firstIndex})`);
  }
}

/**
 * Thrown by a LogReader asked for an index above its last index. raft-core
 * never asks for one; seeing it elsewhere means the caller's bounds are wrong.
 */
export class StorageUnavailableError extends RaftError {
  constructor(
    readonly index: number,
    readonly lastIndex: number,
  ) {
    super('STORAGE_UNAVAILABLE', `index ${index} is beyond the last index ${lastIndex}`);
  }
}

/** Thrown by MemoryStorage when a snapshot older than the current one is applied or created. */
export class SnapshotOutOfDateError extends RaftError {
  constructor(
    readonly index: number,
    readonly currentIndex: number,
  ) {
    super('SNAPSHOT_OUT_OF_DATE', `snapshot at ${index} is not newer than the current snapshot at ${currentIndex}`);
  }
}

/**
 * Thrown by LogReader.snapshot() when the snapshot is being built; raft-core
 * retries on a later heartbeat.
 */
export class SnapshotTemporarilyUnavailableError extends RaftError {
  constructor() {
    super('SNAPSHOT_TEMPORARILY_UNAVAILABLE', 'snapshot is temporarily unavailable');
  }
}

/** Thrown by RawNode.create() when the RaftConfig is invalid; fix the configuration. */
export class ConfigInvalidError extends RaftError {
  constructor(
    readonly field: string,
    reason: string,
  ) {
    super('CONFIG_INVALID', `invalid raft config: ${field} ${reason}`);
  }
}
