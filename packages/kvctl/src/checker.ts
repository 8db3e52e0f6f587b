import { NotImplementedError } from './errors.js';

/** What a linearizability check of a recorded history found. */
export interface HistoryCheckReport {
  readonly linearizable: boolean;
  readonly operations: number;
  /** One line about the first violation, when there is one. */
  readonly detail?: string | undefined;
}

/** Checks a JSONL history file; the real checker is built in a later issue. */
export interface HistoryChecker {
  check(historyPath: string): Promise<HistoryCheckReport>;
}

/** Placeholder until the checker exists: `kvctl check` fails with NOT_IMPLEMENTED (exit 10). */
export const UNAVAILABLE_HISTORY_CHECKER: HistoryChecker = {
  check(): Promise<HistoryCheckReport> {
    return Promise.reject(new NotImplementedError('the history checker is not built yet'));
  },
};
