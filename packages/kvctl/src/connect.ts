import type { ClerkLike, MemberStatusFetcher } from './clerk-like.js';
import { NotImplementedError } from './errors.js';

export interface ConnectOptions {
  readonly endpoints: readonly string[];
  readonly requestTimeoutMs?: number | undefined;
}

/** Opens a clerk; `Clerk.connect` in production, a fake in tests. */
export type ClerkConnector = (options: ConnectOptions) => Promise<ClerkLike>;

interface ClerkClass {
  connect(options: { endpoints: string[]; requestTimeoutMs?: number }): Promise<ClerkLike>;
}

/**
 * Finds `Clerk.connect` in @cairn/clerk. Loaded dynamically and checked at run
 * time so kvctl builds and its other commands work while the SDK is still
 * being written; a missing SDK is a NOT_IMPLEMENTED error, not a crash.
 */
export async function loadClerkConnector(): Promise<ClerkConnector> {
  const clerkModule = (await import('@cairn/clerk')) as unknown as Record<string, unknown>;
  const clerkClass = clerkModule['Clerk'] as ClerkClass | undefined;
  if (clerkClass === undefined || typeof clerkClass.connect !== 'function') {
    throw new NotImplementedError('@cairn/clerk does not provide Clerk.connect yet');
  }
  return (options) => clerkClass.connect({
    endpoints: [...options.endpoints],
    ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
  });
}

/**
 * Status of one specific member: a short-lived clerk pinned to that single
 * address, so the answer comes from that node and not from the leader.
 */
export function memberStatusVia(connect: ClerkConnector, requestTimeoutMs: number | undefined): MemberStatusFetcher {
  return async (clientAddress) => {
    const clerk = await connect({ endpoints: [clientAddress], requestTimeoutMs });
    try {
      return await clerk.status();
    } finally {
      await clerk.close();
    }
  };
}
