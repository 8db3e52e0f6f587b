/**
 * Applying a transaction and a prefix delete. A txn evaluates its compares
 * against the state before it, then runs the success or the failure ops in
 * order; reads see the txn's earlier writes; every change gets the command's
 * one revision (putKey/deleteKey with its ApplyContext).
 *
 * All-or-nothing without undo: everything that could fail is checked before
 * the first write (op counts, operands, value sizes, leases, reads at a past
 * revision, a key changed twice), so once writing starts nothing fails. A key
 * may be changed at most once per txn (as etcd): two puts of one key, or a
 * put of a key a delete of the same branch covers, is INVALID_ARGUMENT.
 *
 * Compares (as etcd): an absent key has version, create and mod revision and
 * lease 0, and a compare on its value is false whatever the operator.
 */
import {
  type CommandResult,
  type Compare,
  CompareResult,
  CompareTarget,
  type DeleteRequest,
  type DeleteResponse,
  type RangeRequest,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
} from '@cairn/proto';
import { InvalidArgumentError, type KvError, ValueTooLargeError } from '../errors.js';
import { RANGE_LIMIT_DEFAULT, RANGE_LIMIT_MAX, TXN_OPS_MAX } from '../limits.js';
import type { NodeDatabase } from '../storage/database.js';
import { type ApplyContext, deleteKey, headerAt, leaseMissing, putKey, readForApply } from './apply-command.js';
import { mapKey } from './pending-batch.js';
import { scanRangeForApply } from './range-scan.js';
import type { StoredValue } from './records.js';

/** What a txn or prefix delete reads beyond the batch: LevelDB, for its scans. */
export interface TxnStore {
  readonly database: NodeDatabase;
}

export async function applyTxn(request: TxnRequest, ctx: ApplyContext, store: TxnStore): Promise<CommandResult | KvError> {
  const invalid = checkTxn(request, ctx);
  if (invalid !== undefined) return invalid;
  // Loaded with the batch's other keys already (batch-keys.ts); this covers a txn whose keys were not.
  await ctx.load(txnKeys(request));
  const succeeded = request.compare.every((c) => compareHolds(c, readForApply(Buffer.from(c.key), ctx.batch)));
  const ops = succeeded ? request.success : request.failure;
  const conflict = findConflict(ops);
  if (conflict !== undefined) return conflict;
  const responses: ResponseOp[] = [];
  for (const op of ops) responses.push(await applyOp(op, ctx, store));
  const header = headerAt(ctx);
  for (const response of responses) {
    const inner = response.put ?? response.delete ?? response.get ?? response.range;
    if (inner !== undefined) inner.header = header;
  }
  return { txn: { header, succeeded, responses } };
}

/** A Delete command with `prefix`: every key starting with `key`, at one revision. */
export async function applyDeletePrefix(request: DeleteRequest, ctx: ApplyContext, store: TxnStore): Promise<CommandResult | KvError> {
  const deleted = await deleteRange(request, ctx, store);
  return { delete: { ...deleted, header: headerAt(ctx) } };
}

/** A txn with more than TXN_OPS_MAX compares or ops in a branch (checked by the API and again at apply). */
export function txnTooLarge(request: TxnRequest): InvalidArgumentError | undefined {
  for (const [name, list] of [
    ['compare', request.compare],
    ['success', request.success],
    ['failure', request.failure],
  ] as const) {
    if (list.length > TXN_OPS_MAX)
      return new InvalidArgumentError(`a txn's ${name} list has ${list.length} entries, at most ${TXN_OPS_MAX}`);
  }
  return undefined;
}

/** Everything that could make the txn fail, checked before it writes. */
function checkTxn(request: TxnRequest, ctx: ApplyContext): KvError | undefined {
  const tooLarge = txnTooLarge(request);
  if (tooLarge !== undefined) return tooLarge;
  for (const compare of request.compare) {
    if (compare.key.length === 0) return new InvalidArgumentError('a txn compare needs a key');
    if (compareOperand(compare) === undefined)
      return new InvalidArgumentError(`a txn compare on ${targetName(compare.target)} needs that operand`);
  }
  for (const op of [...request.success, ...request.failure]) {
    if (op.put !== undefined) {
      if (op.put.key.length === 0) return new InvalidArgumentError('a txn put needs a key');
      if (op.put.value.length > ctx.valueBytesMax) return new ValueTooLargeError(op.put.value.length, ctx.valueBytesMax);
      const missing = leaseMissing(ctx, op.put.lease ?? 0);
      if (missing !== undefined) return missing;
    } else if (op.delete !== undefined) {
      if (op.delete.key.length === 0 && op.delete.prefix !== true) return new InvalidArgumentError('a txn delete needs a key');
    } else if (op.get !== undefined || op.range !== undefined) {
      if ((op.get?.revision ?? op.range?.revision ?? 0) !== 0)
        return new InvalidArgumentError('a read inside a txn is at the txn revision (revision must be 0)');
      if (op.get !== undefined && op.get.key.length === 0) return new InvalidArgumentError('a txn get needs a key');
      if (op.range !== undefined && op.range.limit > RANGE_LIMIT_MAX)
        return new InvalidArgumentError(`limit must be at most ${RANGE_LIMIT_MAX}`);
    } else return new InvalidArgumentError('a txn op has no operation');
  }
  return undefined;
}

/** The single keys a txn compares, puts, gets or deletes (a prefix delete scans instead). */
export function txnKeys(request: TxnRequest): Buffer[] {
  const keys: Buffer[] = request.compare.map((c) => Buffer.from(c.key));
  for (const op of [...request.success, ...request.failure]) {
    const key = op.put?.key ?? op.get?.key ?? (op.delete?.prefix === true ? undefined : op.delete?.key);
    if (key !== undefined) keys.push(Buffer.from(key));
  }
  return keys;
}

/** INVALID_ARGUMENT if one branch may change a key twice (a put twice, or a put a delete covers). */
export function findConflict(ops: readonly RequestOp[]): KvError | undefined {
  const puts = new Set<string>();
  for (const op of ops) {
    if (op.put === undefined) continue;
    const mapped = mapKey(Buffer.from(op.put.key));
    if (puts.has(mapped)) return duplicate(op.put.key);
    puts.add(mapped);
  }
  for (const op of ops) {
    if (op.delete === undefined) continue;
    const target = Buffer.from(op.delete.key);
    for (const mapped of puts) {
      const key = Buffer.from(mapped, 'latin1');
      if (op.delete.prefix === true ? key.subarray(0, target.length).equals(target) : key.equals(target)) return duplicate(key);
    }
  }
  return undefined;
}

function duplicate(key: Uint8Array): KvError {
  return new InvalidArgumentError(`a txn changes key ${JSON.stringify(Buffer.from(key).toString())} more than once`);
}

async function applyOp(op: RequestOp, ctx: ApplyContext, store: TxnStore): Promise<ResponseOp> {
  if (op.put !== undefined) {
    const key = Buffer.from(op.put.key);
    const previous = readForApply(key, ctx.batch);
    const next = putKey(ctx, key, Buffer.from(op.put.value), previous, op.put.lease ?? 0);
    return { put: { version: next.version, prevKv: op.put.prevKv && previous !== undefined ? { key, ...previous } : undefined } };
  }
  if (op.delete !== undefined) return { delete: await deleteRange(op.delete, ctx, store) };
  if (op.get !== undefined) {
    const key = Buffer.from(op.get.key);
    const stored = readForApply(key, ctx.batch);
    return { get: { kv: stored === undefined ? undefined : { key, ...stored } } };
  }
  const range = op.range as RangeRequest;
  const limit = Math.min(range.limit === 0 ? RANGE_LIMIT_DEFAULT : range.limit, RANGE_LIMIT_MAX);
  const startAfter = range.startAfter.length > 0 ? Buffer.from(range.startAfter) : undefined;
  const query = { prefix: Buffer.from(range.prefix), startAfter, limit, keysOnly: range.keysOnly };
  return { range: await scanRangeForApply(store.database, ctx.state.generation, ctx.batch.values, query) };
}

/** Deletes one key, or every key with the prefix (in key order); what a DeleteResponse reports. */
async function deleteRange(request: DeleteRequest, ctx: ApplyContext, store: TxnStore): Promise<Omit<DeleteResponse, 'header'>> {
  const target = Buffer.from(request.key);
  let victims: Array<{ key: Buffer; stored: StoredValue }>;
  if (request.prefix === true) {
    const query = { prefix: target, startAfter: undefined, limit: Infinity, keysOnly: false };
    const { kvs } = await scanRangeForApply(store.database, ctx.state.generation, ctx.batch.values, query);
    victims = kvs.map(({ key, ...stored }) => ({ key: Buffer.from(key), stored }));
  } else {
    await ctx.load([target]);
    const stored = readForApply(target, ctx.batch);
    victims = stored === undefined ? [] : [{ key: target, stored }];
  }
  for (const { key, stored } of victims) deleteKey(ctx, key, stored);
  const prevKvs = request.prevKv === true ? victims.map(({ key, stored }) => ({ key, ...stored })) : [];
  return { deleted: victims.length > 0, count: victims.length, prevKvs };
}

function compareOperand(compare: Compare): number | Uint8Array | undefined {
  switch (compare.target) {
    case CompareTarget.VERSION:
      return compare.version;
    case CompareTarget.CREATE:
      return compare.createRevision;
    case CompareTarget.MOD:
      return compare.modRevision;
    case CompareTarget.VALUE:
      return compare.value;
    case CompareTarget.LEASE:
      return compare.lease;
    default:
      return undefined;
  }
}

function targetName(target: CompareTarget): string {
  return ['version', 'create_revision', 'mod_revision', 'value', 'lease'][target] ?? `target ${target}`;
}

function compareHolds(compare: Compare, stored: StoredValue | undefined): boolean {
  const operand = compareOperand(compare)!;
  let order: number;
  if (compare.target === CompareTarget.VALUE) {
    if (stored === undefined) return false;
    order = Buffer.compare(stored.value, operand as Uint8Array);
  } else {
    const actual =
      compare.target === CompareTarget.VERSION
        ? (stored?.version ?? 0)
        : compare.target === CompareTarget.CREATE
          ? (stored?.createRevision ?? 0)
          : compare.target === CompareTarget.MOD
            ? (stored?.modRevision ?? 0)
            : (stored?.lease ?? 0);
    order = Math.sign(actual - (operand as number));
  }
  switch (compare.result) {
    case CompareResult.EQUAL:
      return order === 0;
    case CompareResult.NOT_EQUAL:
      return order !== 0;
    case CompareResult.LESS:
      return order < 0;
    case CompareResult.GREATER:
      return order > 0;
    default:
      return false;
  }
}
