/**
 * checkHistory(): linearizability of a clerk history. Without transactions,
 * against the Cairn register model: keys are independent there, so each key's
 * operations are searched alone (P-compositionality) and a violation is shrunk
 * to the smallest failing window of the first failing key. With a txn (or when
 * asked), against the whole-store kv model with revisions (check-kv.ts).
 */
import type { HistoryRecord } from './history.js';
import { describeArgs, describeKey, describeOutcome } from './describe.js';
import { pairOperations, type HistoryOperation, type PairingStats } from './operations.js';
import { searchLinearization, type SearchVerdict } from './search.js';
import { checkWholeHistory } from './check-kv.js';
import { shrinkViolation } from './shrink.js';

export type CheckVerdict = SearchVerdict;

/**
 * `register`: per key, values and versions (revisions ignored). `kv`: the whole
 * store at once, transactions and revisions included (each change gets exactly
 * the next revision; reads see the key's revisions). `auto`: kv when the history
 * has a txn, else register.
 */
export type CheckModel = 'auto' | 'register' | 'kv';

export interface CheckOptions {
  /** Model steps the search may try per key before the key's verdict is `unknown`. @default 1_000_000 */
  readonly maxStatesPerKey?: number;
  /** Shrink a violation to its smallest failing window. @default true */
  readonly shrink?: boolean;
  /** Model steps the shrink may spend in total. @default 2_000_000 */
  readonly maxShrinkStates?: number;
  /** @default 'auto' */
  readonly model?: CheckModel;
  /** kv model: the store's revision when the history starts, if known (else the first observed revision fixes it). */
  readonly startRevision?: number;
}

export const DEFAULT_MAX_STATES_PER_KEY = 1_000_000;
export const DEFAULT_MAX_SHRINK_STATES = 2_000_000;

export interface KeyCheckStats {
  readonly key: string;
  readonly operations: number;
  /** Operations with an unknown outcome (optional in the search). */
  readonly info: number;
  readonly verdict: CheckVerdict;
  readonly statesExplored: number;
  readonly cacheSize: number;
}

/** One operation of a failing window; times are nanoseconds after the window's first invoke. */
export interface WindowOperation {
  readonly process: string;
  readonly id: number;
  readonly op: HistoryRecord['op'];
  readonly args: string;
  readonly result: string;
  readonly invokeNs: number;
  /** null when the outcome is unknown. */
  readonly returnNs: number | null;
}

export interface CheckFailure {
  readonly key: string;
  /** Operations of the key in the whole history. */
  readonly keyOperations: number;
  readonly window: readonly WindowOperation[];
  /** true when removing any one operation of the window makes it linearizable. */
  readonly minimal: boolean;
  /** true when the window fails on values alone (returned versions were not needed to show it). */
  readonly versionBlind: boolean;
  /** kv model: the window is the shortest failing prefix of the history (by invoke time), not a shrunk set. */
  readonly prefix?: boolean;
}

export interface CheckResult {
  readonly verdict: CheckVerdict;
  /** The model the history was checked against (`kv`: one search over all keys, listed as one entry `*`). */
  readonly model: 'register' | 'kv';
  /** One line: why the verdict is not `linearizable`. */
  readonly reason: string | undefined;
  /** Operations checked (ok plus unknown outcome). */
  readonly operations: number;
  readonly pairing: PairingStats;
  /** Per key, in order of first invoke. */
  readonly keys: readonly KeyCheckStats[];
  /** The first non-linearizable key and its smallest failing window. */
  readonly failure: CheckFailure | undefined;
}

/** Checks a parsed history (see parseHistory). Throws HistoryFormatError when records do not pair up. */
export function checkHistory(records: readonly HistoryRecord[], options: CheckOptions = {}): CheckResult {
  const maxStatesPerKey = options.maxStatesPerKey ?? DEFAULT_MAX_STATES_PER_KEY;
  const { operations, stats: pairing } = pairOperations(records);
  const model = options.model ?? 'auto';
  if (model === 'kv' || (model === 'auto' && operations.some((operation) => operation.op === 'txn'))) {
    return checkKv(operations, pairing, maxStatesPerKey, options.startRevision);
  }
  const byKey = new Map<string, HistoryOperation[]>();
  for (const operation of operations) {
    const list = byKey.get(operation.modelKey);
    if (list === undefined) byKey.set(operation.modelKey, [operation]);
    else list.push(operation);
  }
  const keys: KeyCheckStats[] = [];
  let failing: HistoryOperation[] | undefined;
  for (const keyOperations of byKey.values()) {
    const search = searchLinearization(keyOperations, maxStatesPerKey);
    keys.push({
      key: describeKey(keyOperations[0]!),
      operations: keyOperations.length,
      info: keyOperations.filter((operation) => !operation.required).length,
      verdict: search.verdict,
      statesExplored: search.statesExplored,
      cacheSize: search.cacheSize,
    });
    if (search.verdict === 'not-linearizable') failing ??= keyOperations;
  }
  const failure = failing === undefined ? undefined : describeFailure(failing, options);
  const verdict: CheckVerdict =
    failure !== undefined ? 'not-linearizable' : keys.some((key) => key.verdict === 'unknown') ? 'unknown' : 'linearizable';
  return {
    verdict,
    model: 'register',
    reason: reasonFor(verdict, keys, failure, maxStatesPerKey),
    operations: operations.length,
    pairing,
    keys,
    failure,
  };
}

/** The kv model's check: one search over every key; a violation's window is its shortest failing prefix. */
function checkKv(
  operations: readonly HistoryOperation[],
  pairing: PairingStats,
  maxStates: number,
  startRevision: number | undefined,
): CheckResult {
  const { search, window, minimal } = checkWholeHistory(operations, { maxStates, startRevision });
  const stats: KeyCheckStats = {
    key: '*',
    operations: operations.length,
    info: operations.filter((operation) => !operation.required).length,
    verdict: search.verdict,
    statesExplored: search.statesExplored,
    cacheSize: search.cacheSize,
  };
  const failure =
    window === undefined ? undefined : { ...windowOf('*', operations.length, window), minimal, versionBlind: false, prefix: true };
  const reason =
    search.verdict === 'not-linearizable'
      ? `no order of the ${operations.length} operations fits the kv model (values, versions, revisions, transactions)`
      : search.verdict === 'unknown'
        ? `search bound of ${maxStates} states reached`
        : undefined;
  return { verdict: search.verdict, model: 'kv', reason, operations: operations.length, pairing, keys: [stats], failure };
}

function windowOf(
  key: string,
  keyOperations: number,
  window: readonly HistoryOperation[],
): Pick<CheckFailure, 'key' | 'keyOperations' | 'window'> {
  const start = window.reduce((earliest, operation) => Math.min(earliest, operation.invokeTime), Infinity);
  return {
    key,
    keyOperations,
    window: window.map((operation) => ({
      process: operation.process,
      id: operation.id,
      op: operation.op,
      args: describeArgs(operation),
      result: describeOutcome(operation),
      invokeNs: operation.invokeTime - start,
      returnNs: Number.isFinite(operation.returnTime) ? operation.returnTime - start : null,
    })),
  };
}

function describeFailure(operations: readonly HistoryOperation[], options: CheckOptions): CheckFailure {
  const shrunk =
    options.shrink === false
      ? { window: operations, minimal: false, versionBlind: false }
      : shrinkViolation(operations, {
          maxStatesPerCandidate: options.maxStatesPerKey ?? DEFAULT_MAX_STATES_PER_KEY,
          maxStatesTotal: options.maxShrinkStates ?? DEFAULT_MAX_SHRINK_STATES,
        });
  return {
    ...windowOf(describeKey(operations[0]!), operations.length, shrunk.window),
    minimal: shrunk.minimal,
    versionBlind: shrunk.versionBlind,
  };
}

function reasonFor(
  verdict: CheckVerdict,
  keys: readonly KeyCheckStats[],
  failure: CheckFailure | undefined,
  maxStates: number,
): string | undefined {
  if (failure !== undefined) {
    const failingKeys = keys.filter((key) => key.verdict === 'not-linearizable').length;
    const others = failingKeys > 1 ? ` (${failingKeys} keys fail; the first is shown)` : '';
    return `key ${JSON.stringify(failure.key)}: no order of its ${failure.keyOperations} operations fits the model${others}`;
  }
  if (verdict === 'unknown') {
    const undecided = keys.filter((key) => key.verdict === 'unknown').map((key) => JSON.stringify(key.key));
    return `search bound of ${maxStates} states per key reached for ${undecided.slice(0, 5).join(', ')}${undecided.length > 5 ? ', ...' : ''}`;
  }
  return undefined;
}
