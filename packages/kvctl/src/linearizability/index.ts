/** The Cairn KV linearizability checker: parse a clerk history, check it, render the verdict. */
export { parseHistory } from './history.js';
export { checkHistory, DEFAULT_MAX_STATES_PER_KEY, DEFAULT_MAX_SHRINK_STATES } from './check.js';
export type { CheckOptions, CheckResult, CheckVerdict, CheckFailure, KeyCheckStats, WindowOperation } from './check.js';
export type { PairingStats } from './operations.js';
export { HistoryFormatError } from './errors.js';
export type { HistoryErrorCode } from './errors.js';
export { checkResultText, checkResultJson, windowTable, keyStatsTable } from './render.js';
