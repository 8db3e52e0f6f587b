/**
 * Which module applies a command's operation: the single-key operations
 * (apply-command.ts), lease grant and revoke (lease-apply.ts), compaction
 * (compaction.ts), txn and prefix delete (txn.ts). Synchronous except for
 * the commands that read more than the prefetched key (revoke, txn, prefix
 * delete), which return a promise.
 */
import type { Command, CommandResult } from '@cairn/proto';
import type { KvError } from '../errors.js';
import { type ApplyContext, applyOperation } from './apply-command.js';
import { applyCompact } from './compaction.js';
import { applyLeaseGrant, applyLeaseRevoke } from './lease-apply.js';
import { applyDeletePrefix, applyTxn, type TxnStore } from './txn.js';

export function applyAnyOperation(
  command: Command,
  ctx: ApplyContext,
  store: TxnStore,
): CommandResult | KvError | Promise<CommandResult | KvError> {
  if (command.leaseGrant !== undefined) return applyLeaseGrant(command.leaseGrant, ctx);
  if (command.leaseRevoke !== undefined) return applyLeaseRevoke(command.leaseRevoke, ctx);
  if (command.compact !== undefined) return applyCompact(command.compact, ctx);
  if (command.txn !== undefined) return applyTxn(command.txn, ctx, store);
  if (command.delete?.prefix === true) return applyDeletePrefix(command.delete, ctx, store);
  return applyOperation(command, ctx);
}
