/** One attempt of a call on one node: its options and its outcome, shared by the unary and pipelined carriers. */
import type { ClerkError } from './errors.js';

export interface AttemptOptions {
  /** Timeout of this one attempt. */
  readonly timeoutMs: number;
  /** Cancels the attempt. */
  readonly signal: AbortSignal;
}

/** The outcome of one attempt: a result, not an exception. */
export type CallResult<R> =
  | { readonly ok: true; readonly response: R }
  | {
      readonly ok: false;
      readonly error: ClerkError;
      /** True when a node answered with an error (as opposed to a transport failure). */
      readonly fromServer: boolean;
      /** False only when the request provably never left this process (no connection was ever ready). */
      readonly mayHaveReachedServer: boolean;
    };
