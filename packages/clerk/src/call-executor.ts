/**
 * The retry loop shared by every call: pick a node, make one attempt, and on
 * failure redirect, rotate or back off until the call's deadline.
 *
 * A call proceeds in rounds. Within a round each endpoint is asked at most
 * once: a NOT_LEADER hint is followed at once unless it names a node already
 * asked in the round (a follower names a dead leader until its election
 * timeout, so that hint is not trusted again), and a failed node passes the
 * call on to the next endpoint. When every endpoint has been asked the round
 * is over: the call backs off (exponential, with jitter) and starts the next.
 * Nothing but the deadline, the caller's signal, `close()` or a definite
 * answer ends a call: a failover costs latency, not errors.
 *
 * When a write ends in `UnknownOutcomeError` (the precise rule): the loop
 * gives up — deadline passed, caller aborted, clerk closed, or a
 * non-retryable answer — and at least one earlier attempt
 * *may have been applied*: it failed with a transport error after a
 * connection to the node was ready (so the request may have been sent), or
 * the node itself answered TIMEOUT, UNKNOWN_OUTCOME, SHUTTING_DOWN, INTERNAL
 * or SESSION_SEQ_STALE. Answers that prove nothing was applied (NOT_LEADER,
 * NO_LEADER, UNAVAILABLE from a node, TOO_MANY_REQUESTS, connection never
 * ready, …) never make an outcome unknown, and a deterministic rejection
 * (INVALID_ARGUMENT, KEY_TOO_LARGE, VALUE_TOO_LARGE) settles it as "not
 * applied". While the loop keeps retrying, the fixed (clientId, seq) of the
 * write lets the leader answer a retry with the stored result, so a retry
 * never applies a write twice.
 */
import { assert } from '@cairn/proto';
import type { Clock, Random } from './clock.js';
import type { CallResult, Connection, RpcMethod, RpcRequest, RpcResponse, Transport } from './connection.js';
import {
  AbortedError,
  type ClerkError,
  ClosedError,
  DETERMINISTIC_REJECTIONS,
  ERROR_KINDS,
  NotLeaderError,
  TimeoutError,
  UnknownOutcomeError,
} from './errors.js';
import type { LeaderTracker } from './leader-tracker.js';
import { ATTEMPTS_MAX } from './limits.js';
import { requirePositive, type ResolvedClerkOptions } from './options.js';
import { backoffDelayMs } from './retry.js';
import type { StatusHub } from './status.js';
import type { CallOptions } from './types.js';

/** How a call may be retried and where it goes. */
export interface CallPlan {
  /**
   * read: retry any retryable failure. write: carries a session, so retry
   * even after an attempt may have been applied. admin: a mutation without a
   * session: stop at the first attempt that may have been applied.
   */
  readonly mode: 'read' | 'write' | 'admin';
  /** Only the leader can answer; a success marks the node as leader. */
  readonly leaderOnly: boolean;
  /** Pin the call to this node: no redirects, no rotation. */
  readonly endpoint?: string | undefined;
}

interface RetryState {
  readonly deadlineAt: number;
  readonly signal: AbortSignal;
  attempts: number;
  backoffs: number;
  /**
   * Nodes asked in the current round (since the last backoff), all of which
   * failed; made at the first failure, so a call answered at once allocates nothing.
   */
  asked: Set<string> | undefined;
  mayHaveApplied: boolean;
  lastError: ClerkError | undefined;
}

export interface ExecutorDeps {
  readonly options: ResolvedClerkOptions;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly tracker: LeaderTracker;
  readonly status: StatusHub;
  /** Fires when the clerk closes. */
  readonly closing: AbortSignal;
  /** Asked to refresh the endpoint pool after a full round of failures. */
  readonly onRoundFailed: () => void;
  /** Called as each call starts (for the periodic endpoint-pool refresh). */
  readonly onCallStart: () => void;
}

export class CallExecutor {
  private readonly connections = new Map<string, Connection>();

  constructor(private readonly deps: ExecutorDeps) {}

  /** The cached connection to `address`. */
  connection(address: string): Connection {
    let connection = this.connections.get(address);
    if (connection === undefined) {
      connection = this.deps.transport.connect(address);
      this.connections.set(address, connection);
    }
    return connection;
  }

  closeConnections(): void {
    for (const connection of this.connections.values()) connection.close();
    this.connections.clear();
  }

  /** One attempt to one node, bounded by the clerk's request timeout. */
  attempt<M extends RpcMethod>(address: string, method: M, request: RpcRequest<M>, timeoutMs: number): Promise<CallResult<RpcResponse<M>>> {
    const bounded = Math.min(timeoutMs, this.deps.options.requestTimeoutMs);
    return this.connection(address).call(method, request, { timeoutMs: bounded, signal: this.deps.closing });
  }

  async execute<M extends RpcMethod>(method: M, request: RpcRequest<M>, plan: CallPlan, options: CallOptions): Promise<RpcResponse<M>> {
    const deadlineMs = options.deadlineMs ?? this.deps.options.deadlineMs;
    requirePositive('deadlineMs', deadlineMs);
    this.deps.onCallStart();
    const signal = options.signal ? AbortSignal.any([options.signal, this.deps.closing]) : this.deps.closing;
    const state: RetryState = {
      deadlineAt: this.deps.clock.now() + deadlineMs,
      signal,
      attempts: 0,
      backoffs: 0,
      asked: undefined,
      mayHaveApplied: false,
      lastError: undefined,
    };
    for (;;) {
      this.throwIfStopped(plan, state);
      const address = plan.endpoint ?? this.nextTarget(state);
      const remainingMs = state.deadlineAt - this.deps.clock.now();
      const timeoutMs = Math.min(this.deps.options.requestTimeoutMs, remainingMs);
      const result = await this.connection(address).call(method, request, { timeoutMs, signal });
      state.attempts += 1;
      if (result.ok) {
        if (plan.leaderOnly && plan.endpoint === undefined) {
          this.deps.tracker.onLeaderAnswer(address, leaderIdOf(result.response));
        }
        return result.response;
      }
      await this.afterFailure(plan, state, address, result);
    }
  }

  /** The known leader, else the pool's next endpoint, skipping the nodes asked in this round. */
  private nextTarget(state: RetryState): string {
    const tracker = this.deps.tracker;
    // Another call may have changed the pool since this call's last failure so that every endpoint
    // was asked: then the tracker's choice, as at the start of a round.
    const unasked = state.asked === undefined ? undefined : tracker.nextUnasked(state.asked);
    return unasked ?? tracker.target();
  }

  private throwIfStopped(plan: CallPlan, state: RetryState): void {
    if (this.deps.closing.aborted) throw this.giveUp(plan, state, new ClosedError());
    if (state.signal.aborted) throw this.giveUp(plan, state, new AbortedError());
    const last = state.lastError;
    if (this.deps.clock.now() >= state.deadlineAt || state.attempts >= ATTEMPTS_MAX) {
      // A call that only ever met unreachable nodes reports that, not a timeout.
      const error =
        last?.code === 'UNAVAILABLE'
          ? last
          : new TimeoutError(`deadline exceeded after ${state.attempts} attempts${last ? ` (last: ${last.code})` : ''}`, { cause: last });
      throw this.giveUp(plan, state, error);
    }
  }

  /** Decides what follows a failed attempt: returns to retry, throws to give up. */
  private async afterFailure(plan: CallPlan, state: RetryState, address: string, result: CallResult<never>): Promise<void> {
    assert(!result.ok);
    const asked = (state.asked ??= new Set());
    asked.add(address);
    const error = result.error;
    const kind = ERROR_KINDS[error.code];
    // An attempt cut short by the call's deadline before it reached any node
    // says less than the UNAVAILABLE before it: keep reporting that.
    const unreachedTimeout = error.code === 'TIMEOUT' && !result.fromServer && !result.mayHaveReachedServer;
    if (!(unreachedTimeout && state.lastError?.code === 'UNAVAILABLE')) state.lastError = error;
    if (result.fromServer ? !kind.provesNotApplied : result.mayHaveReachedServer) state.mayHaveApplied = true;
    if (error.code === 'ABORTED' || error.code === 'CLOSED') this.throwIfStopped(plan, state);
    if (plan.mode === 'admin' && state.mayHaveApplied) throw this.giveUp(plan, state, error);
    const pinned = plan.endpoint !== undefined;
    switch (kind.retry) {
      case 'never':
        throw this.giveUp(plan, state, error);
      case 'redirect': {
        assert(error instanceof NotLeaderError, 'NOT_LEADER is a NotLeaderError');
        if (pinned) throw this.giveUp(plan, state, error);
        if (this.deps.tracker.redirect(address, error, asked) !== undefined) return;
        break;
      }
      case 'rotate':
        if (!pinned) this.deps.tracker.onFailure(address);
        break;
      case 'backoff':
        break;
    }
    this.deps.status.emit({ type: 'unavailable', address, attempt: state.attempts, code: error.code });
    // Another node may answer at once: back off only when every endpoint was asked in this round.
    // A node that asked for a pause (TOO_MANY_REQUESTS, UNKNOWN_OUTCOME) and a pinned call back off now.
    if (kind.retry !== 'backoff' && !pinned && this.deps.tracker.nextUnasked(asked) !== undefined) return;
    if (!pinned) this.deps.onRoundFailed();
    await this.backoff(plan, state);
  }

  private async backoff(plan: CallPlan, state: RetryState): Promise<void> {
    const delayMs = backoffDelayMs(state.backoffs, this.deps.options.retry, this.deps.random);
    state.backoffs += 1;
    state.asked?.clear();
    const remainingMs = state.deadlineAt - this.deps.clock.now();
    try {
      await this.deps.clock.sleep(Math.max(0, Math.min(delayMs, remainingMs)), state.signal);
    } catch {
      this.throwIfStopped(plan, state);
      throw this.giveUp(plan, state, new AbortedError());
    }
  }

  /** The error the caller sees; see the file comment for the UnknownOutcomeError rule. */
  private giveUp(plan: CallPlan, state: RetryState, error: ClerkError): ClerkError {
    if (plan.mode === 'read' || !state.mayHaveApplied || DETERMINISTIC_REJECTIONS.has(error.code)) return error;
    if (error.code === 'UNKNOWN_OUTCOME') return error;
    return new UnknownOutcomeError(
      `the ${plan.mode} may or may not have been applied (gave up on ${error.code} after ${state.attempts} attempts)`,
      { cause: error },
    );
  }
}

/** The leader id a response names, or 0. */
function leaderIdOf(response: object): number {
  if ('header' in response) {
    const header = response.header as { leaderId?: number; memberId?: number } | undefined;
    return header?.leaderId || header?.memberId || 0;
  }
  if ('leaderId' in response && typeof response.leaderId === 'number') return response.leaderId;
  return 0;
}
