/**
 * One command's operation (put, append, delete, cas) applied to the pending
 * batch: a pure function of the command, the batch's view of its key and the
 * applied state, so every node computes the same result. Synchronous:
 * prefetch put every key the batch touches into the batch first.
 */
import { assert, type Command, type CommandResult } from '@cairn/proto';
import { InvalidArgumentError, type KvError, ValueTooLargeError } from '../errors.js';
import { RECORD_HEADER_BYTES } from '../storage/codec.js';
import { NodeDatabase } from '../storage/database.js';
import { kvKey } from '../storage/keys.js';
import { mapKey, type PendingBatch } from './pending-batch.js';
import { type AppliedState, encodeStoredValue, type StoredValue } from './records.js';

/**
 * Applies `command`'s operation at log `index`. Errors are results (the
 * command changes nothing); `valueBytesMaxDefault` applies when the command
 * carries no limit of its own.
 */
export function applyOperation(
  command: Command,
  index: number,
  state: AppliedState,
  batch: PendingBatch,
  valueBytesMaxDefault: number,
): CommandResult | KvError {
  // The leader's limit travels in the command, so every node decides alike.
  const valueBytesMax = command.valueBytesMax > 0 ? command.valueBytesMax : valueBytesMaxDefault;
  if (command.put !== undefined) {
    const { key, value, prevKv } = command.put;
    if (value.length > valueBytesMax) return new ValueTooLargeError(value.length, valueBytesMax);
    const previous = readForApply(key, batch);
    const next = writeValue(key, value, previous, index, state, batch);
    return { put: { version: next.version, prevKv: prevKv && previous ? { key, ...previous } : undefined } };
  }
  if (command.append !== undefined) {
    const { key, value } = command.append;
    const previous = readForApply(key, batch);
    const length = (previous?.value.length ?? 0) + value.length;
    if (length > valueBytesMax) return new ValueTooLargeError(length, valueBytesMax);
    const combined = previous ? Buffer.concat([previous.value, value]) : Buffer.from(value);
    const next = writeValue(key, combined, previous, index, state, batch);
    return { append: { version: next.version, length } };
  }
  if (command.delete !== undefined) {
    const { key } = command.delete;
    const previous = readForApply(key, batch);
    if (previous !== undefined) {
      batch.values.set(mapKey(key), null);
      batch.ops.push({ type: 'del', key: kvKey(state.generation, key) });
      state.keyCount -= 1;
    }
    return { delete: { deleted: previous !== undefined } };
  }
  if (command.cas !== undefined) return applyCas(command.cas, index, state, batch, valueBytesMax);
  return new InvalidArgumentError('the command has no operation');
}

function applyCas(
  cas: NonNullable<Command['cas']>,
  index: number,
  state: AppliedState,
  batch: PendingBatch,
  valueBytesMax: number,
): CommandResult | KvError {
  const { key, value, expectedValue, expectedVersion } = cas;
  if (expectedValue === undefined && expectedVersion === undefined) {
    return new InvalidArgumentError('cas needs an expected value or an expected version');
  }
  if (value.length > valueBytesMax) return new ValueTooLargeError(value.length, valueBytesMax);
  const previous = readForApply(key, batch);
  const matches =
    expectedVersion !== undefined
      ? (previous?.version ?? 0) === expectedVersion
      : previous !== undefined && previous.value.equals(expectedValue!);
  if (!matches) return { cas: { succeeded: false, kv: previous ? { key, ...previous } : undefined } };
  const next = writeValue(key, value, previous, index, state, batch);
  return { cas: { succeeded: true, kv: { key, ...next } } };
}

function writeValue(
  key: Buffer,
  value: Buffer,
  previous: StoredValue | undefined,
  index: number,
  state: AppliedState,
  batch: PendingBatch,
): StoredValue {
  const next: StoredValue = {
    value: Buffer.from(value),
    version: (previous?.version ?? 0) + 1,
    createIndex: previous?.createIndex ?? index,
    modIndex: index,
  };
  if (previous === undefined) state.keyCount += 1;
  batch.values.set(mapKey(key), next);
  batch.ops.push(NodeDatabase.putSealed(kvKey(state.generation, key), encodeStoredValue(next, RECORD_HEADER_BYTES)));
  return next;
}

/** The key's value as of this point in the batch: prefetch loaded every key a command touches. */
function readForApply(key: Buffer, batch: PendingBatch): StoredValue | undefined {
  const pending = batch.values.get(mapKey(key));
  assert(pending !== undefined, 'prefetch() loads every key the batch touches');
  return pending ?? undefined;
}
