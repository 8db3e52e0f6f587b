/**
 * The one place the demo calls the linearizability checker
 * (@cairn/linearizability, the same code as `kvctl check`).
 */
import { readFile } from 'node:fs/promises';
import { checkHistory, checkResultText, parseHistory } from '@cairn/linearizability';

export type DemoVerdict = 'linearizable' | 'not-linearizable' | 'unknown';

export interface HistoryVerdict {
  readonly verdict: DemoVerdict;
  /** Why the verdict is not `linearizable`, one line. */
  readonly reason: string | undefined;
  /** Operations checked (ok plus unknown outcome). */
  readonly operations: number;
  readonly records: number;
  /** kvctl check's report: the verdict, the failing window if any, the counts. */
  readonly report: string;
  readonly checkMs: number;
}

export async function checkHistoryFile(path: string): Promise<HistoryVerdict> {
  const started = performance.now();
  const records = parseHistory(await readFile(path, 'utf8'));
  const result = checkHistory(records);
  return {
    verdict: result.verdict,
    reason: result.reason,
    operations: result.operations,
    records: records.length,
    report: checkResultText(result, { verbose: false }).trimEnd(),
    checkMs: performance.now() - started,
  };
}
