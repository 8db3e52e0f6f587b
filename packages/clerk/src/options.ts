/** Clerk options: documented defaults, `withDefaults()` then `validate()`. */
import { randomUUID } from 'node:crypto';
import { InvalidArgumentError } from './errors.js';
import type { HistoryRecorder } from './history.js';
import { CLIENT_ID_CHARS_MAX, ENDPOINTS_MAX, WRITE_LANES_MAX } from './limits.js';

export const DEFAULT_REQUEST_TIMEOUT_MS = 2_000;
export const DEFAULT_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_INITIAL_MS = 50;
export const DEFAULT_RETRY_MAX_MS = 2_000;
export const DEFAULT_RETRY_FACTOR = 2;
export const DEFAULT_RETRY_JITTER = 0.2;
export const DEFAULT_MEMBERS_REFRESH_MS = 30_000;
export const DEFAULT_WRITES_INFLIGHT_MAX = 16;

/** Exponential backoff: `min(maxMs, initialMs × factor^attempt)`, scaled by a random factor in `[1 − jitter, 1 + jitter)`. */
export interface RetryOptions {
  /** First delay. @default 50 */
  initialMs?: number;
  /** Largest delay before jitter. @default 2000 */
  maxMs?: number;
  /** Growth per attempt, ≥ 1. @default 2 */
  factor?: number;
  /** Relative spread in [0, 1]. @default 0.2 */
  jitter?: number;
}

export interface ClerkOptions {
  /** Client gRPC addresses (`host:port`) of some cluster members. The pool grows from membership. Required, non-empty. */
  endpoints: readonly string[];
  /** Timeout of one attempt (one RPC to one node). @default 2000 */
  requestTimeoutMs?: number;
  /** Overall deadline of a call, retries included; each call may override it. @default 10000 */
  deadlineMs?: number;
  /** Backoff between rounds of attempts (a round asks each endpoint at most once). */
  retry?: RetryOptions;
  /**
   * Session id for exactly-once writes. Must be unique per live clerk: two
   * clerks sharing an id break deduplication. @default a random UUID
   */
  clientId?: string;
  /** Records every KV operation for linearizability checking. @default none */
  history?: HistoryRecorder;
  /** How often the endpoint pool is refreshed from Members during use; 0 = only after failures. @default 30000 */
  membersRefreshMs?: number;
  /**
   * Concurrent writes; each uses its own session lane (`clientId`, `clientId/1`, …)
   * so a retry is always the lane's latest seq. More writes wait. @default 16
   */
  writesInflightMax?: number;
  /**
   * The cluster id every node must name (a node's `/status` shows it); a node of
   * another cluster is refused with `WrongClusterError`. @default the id of
   * the first node that answers (later nodes must name the same one)
   */
  clusterId?: string;
}

/** `ClerkOptions` with every default filled in. */
export interface ResolvedClerkOptions {
  readonly endpoints: readonly string[];
  readonly requestTimeoutMs: number;
  readonly deadlineMs: number;
  readonly retry: Readonly<Required<RetryOptions>>;
  readonly clientId: string;
  readonly history: HistoryRecorder | undefined;
  readonly membersRefreshMs: number;
  readonly writesInflightMax: number;
  readonly clusterId: string | undefined;
}

export function withDefaults(options: ClerkOptions): ResolvedClerkOptions {
  return {
    endpoints: options.endpoints,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    deadlineMs: options.deadlineMs ?? DEFAULT_DEADLINE_MS,
    retry: {
      initialMs: options.retry?.initialMs ?? DEFAULT_RETRY_INITIAL_MS,
      maxMs: options.retry?.maxMs ?? DEFAULT_RETRY_MAX_MS,
      factor: options.retry?.factor ?? DEFAULT_RETRY_FACTOR,
      jitter: options.retry?.jitter ?? DEFAULT_RETRY_JITTER,
    },
    clientId: options.clientId ?? randomUUID(),
    history: options.history,
    membersRefreshMs: options.membersRefreshMs ?? DEFAULT_MEMBERS_REFRESH_MS,
    writesInflightMax: options.writesInflightMax ?? DEFAULT_WRITES_INFLIGHT_MAX,
    clusterId: options.clusterId,
  };
}

/** Throws `InvalidArgumentError` naming the first bad field. */
export function validate(options: ResolvedClerkOptions): ResolvedClerkOptions {
  if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
    throw new InvalidArgumentError('endpoints must be a non-empty list of host:port');
  }
  if (options.endpoints.length > ENDPOINTS_MAX) {
    throw new InvalidArgumentError(`endpoints: at most ${ENDPOINTS_MAX}`);
  }
  for (const endpoint of options.endpoints) {
    if (!isEndpoint(endpoint)) throw new InvalidArgumentError(`endpoints: ${JSON.stringify(endpoint)} is not host:port`);
  }
  requirePositive('requestTimeoutMs', options.requestTimeoutMs);
  requirePositive('deadlineMs', options.deadlineMs);
  requirePositive('retry.initialMs', options.retry.initialMs);
  requirePositive('retry.maxMs', options.retry.maxMs);
  if (options.retry.maxMs < options.retry.initialMs) {
    throw new InvalidArgumentError('retry.maxMs must be ≥ retry.initialMs');
  }
  if (!(Number.isFinite(options.retry.factor) && options.retry.factor >= 1)) {
    throw new InvalidArgumentError('retry.factor must be a number ≥ 1');
  }
  if (!(options.retry.jitter >= 0 && options.retry.jitter <= 1)) {
    throw new InvalidArgumentError('retry.jitter must be in [0, 1]');
  }
  requireInteger('writesInflightMax', options.writesInflightMax, 1, WRITE_LANES_MAX);
  if (options.clusterId !== undefined && (typeof options.clusterId !== 'string' || options.clusterId.length === 0)) {
    throw new InvalidArgumentError('clusterId must be a non-empty string');
  }
  if (!(Number.isFinite(options.membersRefreshMs) && options.membersRefreshMs >= 0)) {
    throw new InvalidArgumentError('membersRefreshMs must be ≥ 0');
  }
  if (typeof options.clientId !== 'string' || options.clientId.length === 0 || options.clientId.length > CLIENT_ID_CHARS_MAX) {
    throw new InvalidArgumentError(`clientId must be 1..${CLIENT_ID_CHARS_MAX} characters`);
  }
  return options;
}

/** A positive, finite millisecond count (a per-call `deadlineMs`, for example). */
export function requirePositive(name: string, value: number): void {
  if (!(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
    throw new InvalidArgumentError(`${name} must be a positive number of milliseconds`);
  }
}

function requireInteger(name: string, value: number, min: number, max: number): void {
  if (!(Number.isInteger(value) && value >= min && value <= max)) {
    throw new InvalidArgumentError(`${name} must be an integer in [${min}, ${max}]`);
  }
}

function isEndpoint(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const colon = value.lastIndexOf(':');
  if (colon <= 0) return false;
  const port = Number(value.slice(colon + 1));
  return Number.isInteger(port) && port > 0 && port < 65536;
}
