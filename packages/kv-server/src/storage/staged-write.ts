/**
 * A write prepared by one store and made by whoever owns the batch: the ops
 * go into one LevelDB batch, and each store's in-memory view moves only once
 * the batch is written (the mirrors only ever show what is durable).
 */
import type { BatchOp } from './database.js';

/** Ops to add to a LevelDB batch, and the mirror update to run once it is written. */
export interface StagedWrite {
  ops: BatchOp[];
  onWritten(): void;
}

/** One staged write made of `parts`: their ops in order, their updates in order. */
export function combineStaged(parts: readonly StagedWrite[]): StagedWrite {
  const ops: BatchOp[] = [];
  for (const part of parts) for (const op of part.ops) ops.push(op);
  return {
    ops,
    onWritten: () => {
      for (const part of parts) part.onWritten();
    },
  };
}
