/**
 * The whole-store check: transactions touch many keys and revisions count
 * every change of every key, so keys are no longer independent and the
 * history is searched as one against the kv model (kv-model.ts). A violation
 * is cut down to the shortest failing prefix (by invoke time).
 */
import { kvModel } from './kv-model.js';
import { toKvOperation } from './kv-operations.js';
import type { HistoryOperation } from './operations.js';
import { searchLinearization, type SearchResult } from './search.js';

export interface KvCheckOptions {
  readonly maxStates: number;
  /** The store's revision when the history starts, when known; else the first observed revision fixes it. */
  readonly startRevision: number | undefined;
}

export interface KvCheckOutcome {
  readonly search: SearchResult;
  /** For a violation: the shortest failing prefix, or every operation when the budget ran out first. */
  readonly window: readonly HistoryOperation[] | undefined;
  readonly minimal: boolean;
}

/** `operations` must be in invoke-time order, as pairOperations (operations.ts) returns them. */
export function checkWholeHistory(operations: readonly HistoryOperation[], options: KvCheckOptions): KvCheckOutcome {
  const ordered = operations;
  const model = kvModel(options.startRevision);
  const kvOperations = ordered.map(toKvOperation);
  const run = (count: number): SearchResult => searchLinearization(kvOperations.slice(0, count), options.maxStates, model);
  const search = run(kvOperations.length);
  if (search.verdict !== 'not-linearizable') return { search, window: undefined, minimal: false };
  // Binary search for the shortest failing prefix: a prefix that fails stays failing when extended in practice.
  let low = 0;
  let high = kvOperations.length;
  let undecided = false;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    const verdict = run(middle).verdict;
    if (verdict === 'unknown') undecided = true;
    if (verdict === 'not-linearizable') high = middle;
    else low = middle;
  }
  return { search, window: ordered.slice(0, high), minimal: !undecided };
}
