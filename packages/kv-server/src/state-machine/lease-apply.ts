/**
 * Applying the lease commands. A grant records the lease (no revision: no key
 * changes); a revoke deletes every key attached to the lease at ONE revision,
 * through deleteKey with the command's context, then drops the lease. Both are
 * pure functions of the command and the replicated state: the TTL bounds
 * checked here are constants, the id a node picks is the entry's index.
 * (The shortest TTL depends on the election timeout, a node setting, so the
 * leader checks it before proposing: lease-api.ts.)
 */
import type { CommandResult, LeaseGrantRequest, LeaseRevokeRequest } from '@cairn/proto';
import { FailedPreconditionError, InvalidArgumentError, type KvError, LeaseNotFoundError } from '../errors.js';
import { LEASE_TTL_SECONDS_MAX } from '../limits.js';
import { type ApplyContext, deleteKey, headerAt, readForApply } from './apply-command.js';

export function applyLeaseGrant(request: LeaseGrantRequest, ctx: ApplyContext): CommandResult | KvError {
  const { ttl } = request;
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > LEASE_TTL_SECONDS_MAX)
    return new InvalidArgumentError(`lease ttl must be between 1 and ${LEASE_TTL_SECONDS_MAX} seconds, not ${ttl}`);
  let id = request.id;
  if (!Number.isSafeInteger(id) || id < 0) return new InvalidArgumentError(`lease id ${id} is not a valid id`);
  if (id !== 0 && ctx.leases.has(id)) return new FailedPreconditionError(`lease ${id} already exists`);
  if (id === 0) {
    // The entry's index is unique in the log; a client may have taken it as an explicit id.
    id = ctx.index;
    while (ctx.leases.has(id)) id += 1;
  }
  ctx.leases.grant(ctx.batch, id, ttl);
  return { leaseGrant: { header: headerAt(ctx), id, ttl } };
}

export async function applyLeaseRevoke(request: LeaseRevokeRequest, ctx: ApplyContext): Promise<CommandResult | KvError> {
  const { id } = request;
  if (!ctx.leases.has(id)) return new LeaseNotFoundError(id);
  // Sorted: which keys are still in this batch differs between nodes (their
  // batches differ), the order of the revision's events must not.
  const keys = (await ctx.leases.keysForApply(id, ctx.batch)).sort(Buffer.compare);
  await ctx.load(keys);
  let deleted = 0;
  for (const key of keys) {
    const previous = readForApply(key, ctx.batch);
    // An index record may outlive its key within the batch (detached or deleted since): the key's own record decides.
    if (previous === undefined || previous.lease !== id) continue;
    deleteKey(ctx, key, previous);
    deleted += 1;
  }
  ctx.leases.revoke(ctx.batch, id);
  return { leaseRevoke: { header: headerAt(ctx), deleted } };
}
