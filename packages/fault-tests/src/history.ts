/**
 * Histories of real-fault runs: every clerk operation's invoke and return
 * (ok / fail / info = unknown outcome, with times), kept in memory and
 * checked with the project's linearizability checker (@cairn/linearizability,
 * the code behind `kvctl check`). The records are the clerk's own history format, so
 * a failing history can be written out and replayed with `kvctl check`.
 */
import { writeFileSync } from 'node:fs';
import type { HistoryRecord, HistoryRecorder } from '@cairn/clerk';
import { checkHistory, checkResultText, type CheckResult } from '@cairn/linearizability';

/** Counts of completed operations by outcome. */
export interface OutcomeCounts {
  ok: number;
  /** Certainly had no effect (every failed read, writes refused). */
  fail: number;
  /** A write whose outcome is unknown (`info`). */
  unknown: number;
}

/** A HistoryRecorder that keeps every record in memory. Give the same one to every clerk of a run. */
export class HistoryLog implements HistoryRecorder {
  readonly records: HistoryRecord[] = [];

  record(record: HistoryRecord): void {
    this.records.push(record);
  }

  counts(): OutcomeCounts {
    const counts: OutcomeCounts = { ok: 0, fail: 0, unknown: 0 };
    for (const r of this.records) {
      if (r.type === 'ok') counts.ok++;
      else if (r.type === 'fail') counts.fail++;
      else if (r.type === 'info') counts.unknown++;
    }
    return counts;
  }

  /** Writes the history as JSON lines (for `kvctl check FILE`). */
  save(path: string): void {
    writeFileSync(path, this.records.map((r) => `${JSON.stringify(r)}\n`).join(''));
  }
}

export interface HistoryVerdict {
  readonly result: CheckResult;
  /** kvctl check's report: the verdict, the failing window if any, the counts. */
  readonly report: string;
}

/** Checks the history for linearizability (per key; every key must start absent). */
export function checkLinearizable(records: readonly HistoryRecord[]): HistoryVerdict {
  const result = checkHistory(records);
  return { result, report: checkResultText(result, { verbose: false }).trimEnd() };
}
