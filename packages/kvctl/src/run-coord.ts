/** execute() for the one-shot coordination commands: txn, compact, lease grant/revoke/ttl/list. */
import { assertNever } from '@cairn/proto';
import type { ClerkLike, TxnOpResultLike } from './clerk-like.js';
import type { CoordCommand } from './coord-commands.js';
import { NotImplementedError } from './errors.js';
import { EXIT_NOT_FOUND, EXIT_OK, EXIT_PRECONDITION_FAILED } from './exit-codes.js';
import { parseTxn } from './txn-parse.js';
import { clerkTxnSpec } from './txn-spec.js';

export type CoordResult =
  | { readonly kind: 'txn'; readonly succeeded: boolean; readonly revision: number; readonly responses: readonly TxnOpResultLike[] }
  | { readonly kind: 'compact'; readonly revision: number }
  | { readonly kind: 'lease-grant'; readonly id: number; readonly ttl: number }
  | { readonly kind: 'lease-revoke'; readonly id: number; readonly deleted: number }
  | {
      readonly kind: 'lease-ttl';
      readonly id: number;
      /** Remaining seconds; -1 when the lease does not exist. */
      readonly ttl: number;
      readonly grantedTtl: number;
      /** Only with --keys. */
      readonly keys: readonly Buffer[] | undefined;
    }
  | { readonly kind: 'lease-list'; readonly ids: readonly number[] };

export const COORD_RESULT_KINDS: ReadonlySet<string> = new Set<CoordResult['kind']>([
  'txn',
  'compact',
  'lease-grant',
  'lease-revoke',
  'lease-ttl',
  'lease-list',
]);

export function isCoordResult(result: { readonly kind: string }): result is CoordResult {
  return COORD_RESULT_KINDS.has(result.kind);
}

/** The clerk's method, or NOT_IMPLEMENTED when this clerk lacks it. */
export function need<K extends keyof ClerkLike>(clerk: ClerkLike, method: K): NonNullable<ClerkLike[K]> {
  const found = clerk[method];
  if (typeof found !== 'function') throw new NotImplementedError(`this clerk has no ${String(method)}()`);
  return (found as (...args: unknown[]) => unknown).bind(clerk) as NonNullable<ClerkLike[K]>;
}

export async function executeCoord(command: CoordCommand, clerk: ClerkLike, readStdin: () => Promise<Buffer>): Promise<CoordResult> {
  switch (command.kind) {
    case 'txn': {
      const spec = await clerkTxnSpec(parseTxn((await readStdin()).toString('utf8')));
      const result = await need(clerk, 'txn')(spec as never);
      return { kind: 'txn', succeeded: result.succeeded, revision: result.revision, responses: result.responses };
    }
    case 'compact':
      await need(clerk, 'compact')(command.revision);
      return { kind: 'compact', revision: command.revision };
    case 'lease-grant': {
      const granted = await need(clerk, 'grant')(command.ttl);
      return { kind: 'lease-grant', id: granted.id, ttl: granted.ttl };
    }
    case 'lease-revoke':
      return { kind: 'lease-revoke', id: command.id, deleted: (await need(clerk, 'revoke')(command.id)).deleted };
    case 'lease-ttl': {
      const answer = await need(clerk, 'timeToLive')(command.id, { keys: command.keys });
      return {
        kind: 'lease-ttl',
        id: command.id,
        ttl: answer.ttl,
        grantedTtl: answer.grantedTtl,
        keys: command.keys ? answer.keys : undefined,
      };
    }
    case 'lease-list':
      return { kind: 'lease-list', ids: [...(await need(clerk, 'leases')())].sort((a, b) => a - b) };
    default:
      return assertNever(command, 'unhandled coordination command');
  }
}

/** txn: 5 when the compares failed (as cas); lease ttl of a lease that does not exist: 1. */
export function exitCodeForCoordResult(result: CoordResult): number {
  if (result.kind === 'txn') return result.succeeded ? EXIT_OK : EXIT_PRECONDITION_FAILED;
  if (result.kind === 'lease-ttl') return result.ttl < 0 ? EXIT_NOT_FOUND : EXIT_OK;
  return EXIT_OK;
}
