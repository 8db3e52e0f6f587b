/**
 * `kvctl`, the Cairn command-line client. The binary is `bin/kvctl.js`; this
 * entry point exposes its layers for embedding and tests.
 *
 * ### Usage
 * ```ts
 * const parsed = parseArgs(['get', 'config/feature-x'], process.env);
 * if (parsed.kind === 'command' && parsed.command.kind !== 'cluster-up') {
 *   const result = await execute(parsed.command, clerk);
 *   process.stdout.write(renderPlain(result, { verbose: false }).stdout);
 *   process.exitCode = exitCodeForResult(result);
 * }
 * ```
 */
export { parseArgs, DEFAULT_ENDPOINTS, ENDPOINTS_ENV } from './commands.js';
export type { Command, CommandKind, GlobalOptions, ParsedArgs, ValueSource, OutputFormat, BenchCommand } from './commands.js';
export { execute, exitCodeForResult, collectStatus, isHealthy, MEMBER_STATUS_DEADLINE_MS } from './run.js';
export type { Result, ExecuteContext, ExecutableCommand, MemberStatusRow } from './run.js';
export { runBench } from './bench.js';
export { parseTxn, TXN_HELP } from './txn-parse.js';
export type { TxnInput, TxnCompareInput, TxnOpInput } from './txn-parse.js';
export type { CoordCommand, LiveCommand } from './coord-commands.js';
export type { CoordResult } from './run-coord.js';
export { runLive } from './live.js';
export type { LiveIo } from './live.js';
export type { BenchOptions, BenchDeps, BenchSnapshot, BenchClerk, LatencySummaryMs } from './bench.js';
export { LatencyHistogram } from './latency-histogram.js';
export type { ClerkLike, KeyValueLike, MemberStatusFetcher, NewMember, CasExpectation, RangeOptions, Consistency } from './clerk-like.js';
export type { HistoryChecker, HistoryCheckReport } from './checker.js';
export { fileHistoryChecker, FILE_HISTORY_CHECKER, exitCodeForCheckReport } from './checker.js';
export { KvctlError, UsageError, NotImplementedError, describeError, hintForErrorCode } from './errors.js';
export type { ErrorInfo, KvctlErrorCode } from './errors.js';
export {
  exitCodeForErrorCode,
  EXIT_OK,
  EXIT_NOT_FOUND,
  EXIT_USAGE,
  EXIT_UNAVAILABLE,
  EXIT_INVALID_ARGUMENT,
  EXIT_PRECONDITION_FAILED,
  EXIT_UNKNOWN_OUTCOME,
  EXIT_DEGRADED,
  EXIT_REVISION,
  EXIT_INTERNAL,
} from './exit-codes.js';
export { renderPlain, renderJson, renderErrorPlain, renderErrorJson } from './output/plain.js';
export { main } from './cli.js';
export type { CliIo } from './cli.js';
