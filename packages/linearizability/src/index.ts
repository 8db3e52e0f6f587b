/**
 * The Cairn KV linearizability checker: parse a clerk history, check it, render the verdict.
 *
 * ```ts
 * const result = checkHistory(parseHistory(await readFile('history.jsonl', 'utf8')));
 * if (result.verdict !== 'linearizable') console.log(checkResultText(result, { verbose: false }));
 * ```
 *
 * Histories with a txn are checked over all keys at once with revisions (`model` option).
 * Assumptions: every key is absent when the history starts (use fresh keys),
 * and all times come from one clock (clerks of one Node process).
 */
export { parseHistory } from './history.js';
export type {
  HistoryOp,
  HistoryRecord,
  HistoryRecordType,
  HistoryCompare,
  HistoryKeyMeta,
  HistoryKv,
  HistoryTxn,
  HistoryTxnOp,
  HistoryTxnOpResult,
  HistoryTxnResult,
} from './history.js';
export { checkHistory, DEFAULT_MAX_STATES_PER_KEY, DEFAULT_MAX_SHRINK_STATES } from './check.js';
export type { CheckModel, CheckOptions, CheckResult, CheckVerdict, CheckFailure, KeyCheckStats, WindowOperation } from './check.js';
export type { PairingStats } from './operations.js';
export { HistoryFormatError } from './errors.js';
export type { HistoryErrorCode } from './errors.js';
export { checkResultText, checkResultJson, windowTable, keyStatsTable } from './render.js';
export { decodeUtf8, displayBytes, layoutTable } from './text.js';
export type { TextTable } from './text.js';
