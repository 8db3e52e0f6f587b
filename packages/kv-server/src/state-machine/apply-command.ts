/**
 * One command's operation (put, append, delete, cas) applied to the pending
 * batch: a pure function of the command, the batch's view of its key and the
 * applied state, so every node computes the same result. Synchronous:
 * prefetch put every key the batch touches into the batch first.
 *
 * Revisions: every change of one command goes through `putKey`/`deleteKey`
 * with the command's ApplyContext, so all of them share one revision (the
 * next one), and the command's events are recorded for history and watch.
 * A command that changes nothing leaves the revision where it was.
 */
import { assert, type Command, type CommandResult, type Event, EventType } from '@cairn/proto';
import { InvalidArgumentError, type KvError, LeaseNotFoundError, ValueTooLargeError } from '../errors.js';
import { RECORD_HEADER_BYTES } from '../storage/codec.js';
import { NodeDatabase } from '../storage/database.js';
import { kvKey } from '../storage/keys.js';
import type { LeaseTable } from './leases.js';
import { historyOps, tombstone } from './history.js';
import { mapKey, type PendingBatch } from './pending-batch.js';
import { type AppliedState, encodeStoredValue, type StoredValue } from './records.js';

/** What applying one command works with; `events` collects its changes (all at `revision`). */
export interface ApplyContext {
  readonly index: number;
  readonly state: AppliedState;
  readonly batch: PendingBatch;
  readonly valueBytesMax: number;
  /** The revision this command's changes get: state.revision + 1 when it started. */
  readonly revision: number;
  readonly events: Event[];
  /**
   * Loads keys a command reads beyond the one prefetch() knew about (a txn's
   * keys, a revoked lease's keys) into `batch.values`, so readForApply finds
   * them. Only such commands await it; the common path stays synchronous.
   */
  readonly load: (keys: readonly Buffer[]) => Promise<void>;
  /** The lease table: a put with a lease checks it (leaseMissing), putKey/deleteKey keep its key index. */
  readonly leases: LeaseTable;
}

export function applyContext(
  command: Command,
  index: number,
  state: AppliedState,
  batch: PendingBatch,
  valueBytesMaxDefault: number,
  load: (keys: readonly Buffer[]) => Promise<void>,
  leases: LeaseTable,
): ApplyContext {
  // The leader's limit travels in the command, so every node decides alike.
  const valueBytesMax = command.valueBytesMax > 0 ? command.valueBytesMax : valueBytesMaxDefault;
  return { index, state, batch, valueBytesMax, revision: state.revision + 1, events: [], load, leases };
}

/**
 * Ends a command: if it changed anything, the store moves to its revision and
 * its events join the batch (written to history with it, then sent to watchers).
 */
export function finishCommand(ctx: ApplyContext): void {
  if (ctx.events.length === 0) return;
  assert(ctx.state.revision + 1 === ctx.revision, 'one revision per command');
  ctx.state.revision = ctx.revision;
  const revision = { revision: ctx.revision, events: ctx.events };
  ctx.batch.revisions.push(revision);
  for (const op of historyOps(ctx.state.generation, revision)) ctx.batch.ops.push(op);
}

/**
 * Applies `command`'s operation at log `index`. Errors are results (the
 * command changes nothing).
 */
export function applyOperation(command: Command, ctx: ApplyContext): CommandResult | KvError {
  const revisionHeader = (): { header: ReturnType<typeof headerAt> } => ({ header: headerAt(ctx) });
  if (command.put !== undefined) {
    const { key, value, prevKv } = command.put;
    if (value.length > ctx.valueBytesMax) return new ValueTooLargeError(value.length, ctx.valueBytesMax);
    const missing = leaseMissing(ctx, command.put.lease ?? 0);
    if (missing !== undefined) return missing;
    const previous = readForApply(key, ctx.batch);
    const next = putKey(ctx, key, value, previous, command.put.lease ?? 0);
    return { put: { ...revisionHeader(), version: next.version, prevKv: prevKv && previous ? { key, ...previous } : undefined } };
  }
  if (command.append !== undefined) {
    const { key, value } = command.append;
    const previous = readForApply(key, ctx.batch);
    const length = (previous?.value.length ?? 0) + value.length;
    if (length > ctx.valueBytesMax) return new ValueTooLargeError(length, ctx.valueBytesMax);
    const combined = previous ? Buffer.concat([previous.value, value]) : Buffer.from(value);
    const next = putKey(ctx, key, combined, previous, previous?.lease ?? 0);
    return { append: { ...revisionHeader(), version: next.version, length } };
  }
  if (command.delete !== undefined && !command.delete.prefix) {
    const { key } = command.delete;
    const previous = readForApply(key, ctx.batch);
    if (previous !== undefined) deleteKey(ctx, key, previous);
    const prevKvs = command.delete.prevKv && previous !== undefined ? [{ key, ...previous }] : [];
    return { delete: { ...revisionHeader(), deleted: previous !== undefined, count: previous === undefined ? 0 : 1, prevKvs } };
  }
  if (command.cas !== undefined) return applyCas(command.cas, ctx);
  return new InvalidArgumentError('the command has no operation');
}

function applyCas(cas: NonNullable<Command['cas']>, ctx: ApplyContext): CommandResult | KvError {
  const { key, value, expectedValue, expectedVersion } = cas;
  if (expectedValue === undefined && expectedVersion === undefined) {
    return new InvalidArgumentError('cas needs an expected value or an expected version');
  }
  if (value.length > ctx.valueBytesMax) return new ValueTooLargeError(value.length, ctx.valueBytesMax);
  const previous = readForApply(key, ctx.batch);
  const matches =
    expectedVersion !== undefined
      ? (previous?.version ?? 0) === expectedVersion
      : previous !== undefined && previous.value.equals(expectedValue!);
  if (!matches) return { cas: { header: headerAt(ctx), succeeded: false, kv: previous ? { key, ...previous } : undefined } };
  const next = putKey(ctx, key, value, previous, previous?.lease ?? 0);
  return { cas: { header: headerAt(ctx), succeeded: true, kv: { key, ...next } } };
}

/** The revision a result names: the command's own if it changed something, else the current one. */
export function headerAt(ctx: ApplyContext): {
  memberId: number;
  term: number;
  appliedIndex: number;
  leaderId: number;
  revision: number;
  clusterId: string;
} {
  return {
    memberId: 0,
    term: 0,
    appliedIndex: 0,
    leaderId: 0,
    revision: ctx.events.length > 0 ? ctx.revision : ctx.state.revision,
    clusterId: '',
  };
}

/** A put naming a lease that does not exist is refused, before anything changes (a txn checks all its puts first). */
export function leaseMissing(ctx: ApplyContext, lease: number): KvError | undefined {
  return lease === 0 || ctx.leases.has(lease) ? undefined : new LeaseNotFoundError(lease);
}

/** Writes `key` = `value` at the command's revision (attached to `lease`, which exists); records the put event. */
export function putKey(ctx: ApplyContext, key: Buffer, value: Buffer, previous: StoredValue | undefined, lease: number): StoredValue {
  const next: StoredValue = {
    value: Buffer.from(value),
    version: (previous?.version ?? 0) + 1,
    createIndex: previous?.createIndex ?? ctx.index,
    modIndex: ctx.index,
    createRevision: previous?.createRevision ?? ctx.revision,
    modRevision: ctx.revision,
    lease,
  };
  if (previous === undefined) ctx.state.keyCount += 1;
  ctx.leases.move(ctx.batch, key, previous?.lease ?? 0, lease);
  ctx.batch.values.set(mapKey(key), next);
  ctx.batch.ops.push(NodeDatabase.putSealed(kvKey(ctx.state.generation, key), encodeStoredValue(next, RECORD_HEADER_BYTES)));
  ctx.events.push({ type: EventType.PUT, kv: { key, ...next }, prevKv: previous === undefined ? undefined : { key, ...previous } });
  return next;
}

/** Deletes `key` (which exists) at the command's revision; records the delete event. */
export function deleteKey(ctx: ApplyContext, key: Buffer, previous: StoredValue): void {
  ctx.batch.values.set(mapKey(key), null);
  ctx.leases.move(ctx.batch, key, previous.lease, 0);
  ctx.batch.ops.push({ type: 'del', key: kvKey(ctx.state.generation, key) });
  ctx.state.keyCount -= 1;
  ctx.events.push({ type: EventType.DELETE, kv: tombstone(key, ctx.revision, ctx.index), prevKv: { key, ...previous } });
}

/** The key's value as of this point in the batch: prefetch loaded every key a command touches. */
export function readForApply(key: Buffer, batch: PendingBatch): StoredValue | undefined {
  const pending = batch.values.get(mapKey(key));
  assert(pending !== undefined, 'prefetch() loads every key the batch touches');
  return pending ?? undefined;
}
