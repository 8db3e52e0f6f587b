/**
 * The one place the demo calls the linearizability checker
 * (`parseHistory`/`checkHistory` from @cairn/kvctl, the same code as
 * `kvctl check`). Loaded only when needed: kvctl brings its terminal UI along.
 */
import { readFile } from 'node:fs/promises';

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

type Kvctl = typeof import('@cairn/kvctl');
let kvctl: Promise<Kvctl> | undefined;

/**
 * Starts loading the checker (a few seconds from TypeScript sources) so it is
 * ready when the demo stops; the demo calls this once the workload runs.
 */
export function preloadChecker(): void {
  kvctl ??= import('@cairn/kvctl');
  // A load failure surfaces from checkHistoryFile; keep it from being reported as unhandled here.
  kvctl.catch(() => undefined);
}

export async function checkHistoryFile(path: string): Promise<HistoryVerdict> {
  preloadChecker();
  const { checkHistory, checkResultText, parseHistory } = await kvctl!;
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
