/**
 * A scripted fake transport for tests: each call consumes the next matching
 * step of a script and gets its canned reply; every call is logged, so tests
 * assert on the call sequence (address, method, request).
 */
import type { Clock } from './clock.js';
import type { AttemptOptions, CallResult, Connection, RpcMethod, RpcRequest, RpcResponse, Transport } from './connection.js';
import { AbortedError, type ClerkErrorCode, errorFromCode, TimeoutError, UnavailableError } from './errors.js';

export type ScriptedReply =
  /** Success with this response (the generated response type of the method). */
  | { readonly kind: 'ok'; readonly response: object }
  /** A node answered with an ErrorDetail. */
  | {
      readonly kind: 'server-error';
      readonly code: ClerkErrorCode;
      readonly leaderId?: number;
      readonly leaderAddress?: string;
      readonly message?: string;
    }
  /** A transport failure; `reached` says whether the request may have been sent. */
  | { readonly kind: 'transport-error'; readonly code: 'UNAVAILABLE' | 'TIMEOUT'; readonly reached: boolean }
  /** No answer: the attempt times out on the clock (or ends when aborted). */
  | { readonly kind: 'hang' };

/** Builders for script replies. */
export const reply = {
  ok: (response: object = {}): ScriptedReply => ({ kind: 'ok', response }),
  notLeader: (leaderAddress = '', leaderId = 0): ScriptedReply => ({ kind: 'server-error', code: 'NOT_LEADER', leaderAddress, leaderId }),
  noLeader: (): ScriptedReply => ({ kind: 'server-error', code: 'NO_LEADER' }),
  serverError: (code: ClerkErrorCode, message?: string): ScriptedReply => ({ kind: 'server-error', code, ...(message ? { message } : {}) }),
  /** Connection refused: the request never left the client. */
  unreachable: (): ScriptedReply => ({ kind: 'transport-error', code: 'UNAVAILABLE', reached: false }),
  /** The connection dropped after the request was sent. */
  dropped: (): ScriptedReply => ({ kind: 'transport-error', code: 'UNAVAILABLE', reached: true }),
  hang: (): ScriptedReply => ({ kind: 'hang' }),
};

export interface ScriptStep {
  /** Only calls of this method consume the step; unset matches any method except `members`. */
  readonly method?: RpcMethod;
  readonly reply: ScriptedReply;
  /** Runs when the step is consumed (e.g. to abort a signal mid-call). */
  readonly onCall?: () => void;
}

export interface ScriptedCall {
  readonly address: string;
  readonly method: RpcMethod;
  readonly request: unknown;
  readonly timeoutMs: number;
}

export interface ScriptedTransportOptions {
  readonly steps?: readonly ScriptStep[];
  /** Advances on `hang`; without it a hang ends only when aborted. */
  readonly clock?: Clock;
  /** Answers `members` calls that no step matches. @default unreachable */
  readonly members?: (address: string) => ScriptedReply;
  /**
   * Answers the other calls that no step matches, by node: a model of a
   * cluster whose state may change with the clock (a leader that dies, an
   * election that ends). @default INTERNAL "script exhausted"
   */
  readonly respond?: (address: string, method: RpcMethod, request: unknown) => ScriptedReply;
}

export class ScriptedTransport implements Transport {
  readonly calls: ScriptedCall[] = [];
  readonly closed: string[] = [];
  private readonly steps: ScriptStep[];

  constructor(private readonly options: ScriptedTransportOptions = {}) {
    this.steps = [...(options.steps ?? [])];
  }

  /** Adds steps to the end of the script. */
  push(...steps: ScriptStep[]): void {
    this.steps.push(...steps);
  }

  /** Steps not consumed yet. */
  remaining(): number {
    return this.steps.length;
  }

  /** Calls of the given method (or all KV/cluster calls except `members`). */
  callsOf(method?: RpcMethod): ScriptedCall[] {
    return this.calls.filter((call) => (method === undefined ? call.method !== 'members' : call.method === method));
  }

  connect(address: string): Connection {
    return {
      address,
      call: <M extends RpcMethod>(method: M, request: RpcRequest<M>, options: AttemptOptions) =>
        this.answer<M>(address, method, request, options),
      close: () => {
        this.closed.push(address);
      },
    };
  }

  private takeStep(method: RpcMethod): ScriptStep | undefined {
    const index = this.steps.findIndex((step) => (step.method === undefined ? method !== 'members' : step.method === method));
    if (index < 0) return undefined;
    return this.steps.splice(index, 1)[0];
  }

  private async answer<M extends RpcMethod>(
    address: string,
    method: M,
    request: RpcRequest<M>,
    options: AttemptOptions,
  ): Promise<CallResult<RpcResponse<M>>> {
    this.calls.push({ address, method, request, timeoutMs: options.timeoutMs });
    await Promise.resolve();
    if (options.signal.aborted) return { ok: false, error: new AbortedError(), fromServer: false, mayHaveReachedServer: false };
    const step = this.takeStep(method);
    step?.onCall?.();
    const scripted = step?.reply ?? this.unscripted(address, method, request);
    if (scripted === undefined) {
      const error =
        method === 'members' ? reply.unreachable() : reply.serverError('INTERNAL', `script exhausted at ${method} to ${address}`);
      return this.toResult(error, options);
    }
    return this.toResult(scripted, options);
  }

  private unscripted(address: string, method: RpcMethod, request: unknown): ScriptedReply | undefined {
    if (method === 'members') return this.options.members?.(address);
    return this.options.respond?.(address, method, request);
  }

  private toResult<R>(scripted: ScriptedReply, options: AttemptOptions): Promise<CallResult<R>> {
    switch (scripted.kind) {
      case 'ok':
        return Promise.resolve({ ok: true, response: scripted.response as R });
      case 'server-error': {
        const hint = { leaderId: scripted.leaderId ?? 0, leaderAddress: scripted.leaderAddress ?? '' };
        return Promise.resolve({
          ok: false,
          error: errorFromCode(scripted.code, scripted.message, hint),
          fromServer: true,
          mayHaveReachedServer: true,
        });
      }
      case 'transport-error': {
        const error = scripted.code === 'TIMEOUT' ? new TimeoutError('request timed out') : new UnavailableError();
        return Promise.resolve({ ok: false, error, fromServer: false, mayHaveReachedServer: scripted.reached });
      }
      case 'hang':
        return this.hang(options);
    }
  }

  private async hang<R>(options: AttemptOptions): Promise<CallResult<R>> {
    try {
      if (this.options.clock) await this.options.clock.sleep(options.timeoutMs, options.signal);
      else await new Promise((_, reject) => options.signal.addEventListener('abort', reject, { once: true }));
    } catch {
      return { ok: false, error: new AbortedError(), fromServer: false, mayHaveReachedServer: true };
    }
    return { ok: false, error: new TimeoutError('request timed out'), fromServer: false, mayHaveReachedServer: true };
  }
}
