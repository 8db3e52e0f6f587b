import { exitCodeForErrorCode } from './exit-codes.js';

/** Error codes raised by kvctl itself (the clerk brings its own, e.g. NO_LEADER). */
export type KvctlErrorCode = 'USAGE' | 'NOT_IMPLEMENTED' | 'INTERNAL' | 'IO' | 'SESSION_LOST';

/** Base class of errors kvctl raises itself; `code` is stable, the message is one line. */
export class KvctlError extends Error {
  constructor(
    readonly code: KvctlErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Thrown by parseArgs for bad flags or arguments; the CLI prints it and exits 2. */
export class UsageError extends KvctlError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Thrown for a feature whose backing piece is not built yet (e.g. the history checker). */
export class NotImplementedError extends KvctlError {
  constructor(message: string) {
    super('NOT_IMPLEMENTED', message);
  }
}

/** What the user sees of any failure: a stable code and one line, never a stack. */
export interface ErrorInfo {
  readonly code: string;
  readonly message: string;
  readonly exitCode: number;
}

/**
 * Normalises anything thrown (ClerkError, KvctlError, a plain Error, a string)
 * into a code and one line. Errors are told apart by their `code` string, never
 * by `instanceof`, so copies of the clerk package from another path still work.
 */
export function describeError(error: unknown): ErrorInfo {
  // A call that met only nodes of another cluster times out; that refusal is what to show.
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (errorCodeOf(error) === 'TIMEOUT' && errorCodeOf(cause) === 'WRONG_CLUSTER') return describeError(cause);
  const code = errorCodeOf(error);
  const rawMessage = error instanceof Error ? error.message : String(error);
  let message = firstLine(rawMessage) || code.toLowerCase().replaceAll('_', ' ');
  // COMPACTED names the oldest readable revision, so the user knows where to read instead.
  const compactRevision = (error as { compactRevision?: unknown } | undefined)?.compactRevision;
  if (code === 'COMPACTED' && typeof compactRevision === 'number' && compactRevision > 0 && !message.includes(String(compactRevision))) {
    message = `${message} (compacted at revision ${compactRevision})`;
  }
  return { code, message, exitCode: exitCodeForErrorCode(code) };
}

function errorCodeOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    // Node system errors (ENOENT, EPIPE) carry a syscall; their codes are not ours.
    if ('syscall' in error) return 'IO';
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z_]*$/.test(code)) return code;
  }
  return 'INTERNAL';
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').trim();
}

const HINT_BY_CODE: Readonly<Record<string, string>> = {
  USAGE: 'see `kvctl --help` or `kvctl <command> --help`',
  NOT_FOUND: 'the key does not exist',
  UNAVAILABLE: 'no endpoint answered; is the cluster running? check --endpoints or CAIRN_ENDPOINTS',
  NO_LEADER: 'the cluster has no leader right now (election in progress or quorum lost); retry shortly',
  NOT_LEADER: 'the leader kept moving; retry, or pass the leader with --endpoints',
  TIMEOUT: 'the cluster did not answer in time; raise --timeout or check the cluster health with `kvctl status`',
  DEADLINE_EXCEEDED: 'the cluster did not answer in time; raise --timeout',
  SHUTTING_DOWN: 'the node is shutting down; retry against another endpoint',
  INVALID_ARGUMENT: 'the server rejected the request arguments',
  KEY_TOO_LARGE: 'keys are limited to 4 KiB by default',
  VALUE_TOO_LARGE: 'values are limited to 1 MiB by default',
  CAS_FAILED: 'the current value or version did not match the expectation',
  COMPACTED: 'history below the compact revision is gone; read at or above it, or without --rev',
  FUTURE_REVISION: 'that revision has not happened yet; `kvctl get` of any key with --verbose shows the current one',
  LEASE_NOT_FOUND: 'the lease expired or was revoked; `kvctl lease list` shows the live ones',
  UNKNOWN_OUTCOME: 'the write may or may not have been applied; read the key to find out',
  WRONG_CLUSTER: 'an endpoint belongs to another cluster; fix --endpoints (or --cluster-id)',
  NOT_IMPLEMENTED: 'this command is not available in this build yet',
  IO: 'a local file or stream could not be read',
  SESSION_LOST: 'the lock or leadership may be held by another now; the cluster was unreachable for a whole lease TTL',
  INTERNAL: 'an unexpected error; rerun with --verbose and report it',
};

/** A one-line hint for an error code, or undefined when there is nothing useful to add. */
export function hintForErrorCode(code: string): string | undefined {
  return HINT_BY_CODE[code];
}
