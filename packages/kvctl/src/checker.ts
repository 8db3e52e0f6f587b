import { readFile } from 'node:fs/promises';
import { UsageError } from './errors.js';
import { EXIT_NOT_FOUND, EXIT_OK, EXIT_UNKNOWN_OUTCOME } from './exit-codes.js';
import { checkHistory, HistoryFormatError, parseHistory, type CheckOptions, type CheckResult } from '@cairn/linearizability';

/** What a linearizability check of a recorded history found. */
export interface HistoryCheckReport {
  readonly linearizable: boolean;
  readonly operations: number;
  /** One line about the first violation (or why the check could not decide). */
  readonly detail?: string | undefined;
  /** The full result (verdict, smallest failing window, per-key stats) from the built-in checker. */
  readonly result?: CheckResult | undefined;
}

/** Checks a JSONL history file. */
export interface HistoryChecker {
  check(historyPath: string): Promise<HistoryCheckReport>;
}

/**
 * The built-in checker: reads the file, parses it and runs checkHistory().
 * A file that cannot be read or is not a clerk history is a UsageError (exit 2).
 */
export function fileHistoryChecker(options: CheckOptions = {}): HistoryChecker {
  return {
    async check(historyPath: string): Promise<HistoryCheckReport> {
      let text: string;
      try {
        text = await readFile(historyPath, 'utf8');
      } catch (error) {
        const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'unreadable';
        throw new UsageError(`cannot read history ${historyPath} (${code})`);
      }
      let result: CheckResult;
      try {
        result = checkHistory(parseHistory(text), options);
      } catch (error) {
        if (error instanceof HistoryFormatError) throw new UsageError(`${historyPath} is not a clerk history: ${error.message}`);
        throw error;
      }
      return { linearizable: result.verdict === 'linearizable', operations: result.operations, detail: result.reason, result };
    },
  };
}

export const FILE_HISTORY_CHECKER: HistoryChecker = fileHistoryChecker();

/** 0 linearizable, 1 a violation, 6 undecided (search bound reached: like an unknown outcome, neither yes nor no). */
export function exitCodeForCheckReport(report: HistoryCheckReport): number {
  if (report.linearizable) return EXIT_OK;
  return report.result?.verdict === 'unknown' ? EXIT_UNKNOWN_OUTCOME : EXIT_NOT_FOUND;
}
