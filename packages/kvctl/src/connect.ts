import type { ClerkLike } from './clerk-like.js';

export interface ConnectOptions {
  readonly endpoints: readonly string[];
  /** `--cluster-id`: nodes of any other cluster are refused (WRONG_CLUSTER). */
  readonly clusterId?: string | undefined;
  /** `--timeout`: bounds each attempt and the whole call, retries included. */
  readonly timeoutMs?: number | undefined;
}

/** Opens a clerk; `Clerk.connect` in production, a fake in tests. */
export type ClerkConnector = (options: ConnectOptions) => Promise<ClerkLike>;

/** Connects with @cairn/clerk; `Clerk.connect` fails with UNAVAILABLE when no endpoint answers. */
export const connectClerk: ClerkConnector = async (options) => {
  // Loaded on first use: help and usage errors need no gRPC stack.
  const { Clerk } = await import('@cairn/clerk');
  const timeouts = options.timeoutMs === undefined ? {} : { requestTimeoutMs: options.timeoutMs, deadlineMs: options.timeoutMs };
  const cluster = options.clusterId === undefined ? {} : { clusterId: options.clusterId };
  const clerk: ClerkLike = await Clerk.connect({ endpoints: [...options.endpoints], ...timeouts, ...cluster });
  return clerk;
};
