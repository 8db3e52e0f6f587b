/**
 * The one place the demo calls the linearizability checker
 * (`checkHistory`/`parseHistory` from @cairn/kvctl). The module is loaded
 * lazily and typed by the small shape the demo needs, so the demo keeps
 * working (verdict `unavailable`) with a kvctl that does not export it.
 */
import { readFile } from 'node:fs/promises';

export type DemoVerdict = 'linearizable' | 'not-linearizable' | 'unknown' | 'unavailable';

export interface HistoryVerdict {
  readonly verdict: DemoVerdict;
  /** Why the verdict is not `linearizable`, one line. */
  readonly reason: string | undefined;
  /** Operations checked (ok plus unknown outcome). */
  readonly operations: number;
  readonly records: number;
  /** For a violation: the smallest failing window, one line per operation. */
  readonly window: readonly string[];
  readonly checkMs: number;
}

/** The part of @cairn/kvctl's checker API the demo uses. */
interface CheckerApi {
  parseHistory(text: string): unknown[];
  checkHistory(records: unknown[]): {
    verdict: 'linearizable' | 'not-linearizable' | 'unknown';
    reason: string | undefined;
    operations: number;
    failure?: { window: ReadonlyArray<{ process: string; id: number; op: string; args: string; result: string; invokeNs: number; returnNs: number | null }> } | undefined;
  };
}

async function loadChecker(): Promise<CheckerApi | undefined> {
  const kvctl = (await import('@cairn/kvctl')) as Partial<CheckerApi>;
  if (typeof kvctl.checkHistory === 'function' && typeof kvctl.parseHistory === 'function') return kvctl as CheckerApi;
  return undefined;
}

export async function checkHistoryFile(path: string): Promise<HistoryVerdict> {
  const started = performance.now();
  const checker = await loadChecker();
  const text = await readFile(path, 'utf8');
  const records = checker?.parseHistory(text) ?? text.split('\n').filter((line) => line.trim() !== '');
  if (checker === undefined) {
    return { verdict: 'unavailable', reason: '@cairn/kvctl does not export checkHistory yet', operations: 0, records: records.length, window: [], checkMs: 0 };
  }
  const result = checker.checkHistory(records);
  const window = (result.failure?.window ?? []).map((op) => {
    const returned = op.returnNs === null ? 'never returned' : `returned at ${(op.returnNs / 1e6).toFixed(1)} ms`;
    return `${op.process}#${op.id} ${op.op} ${op.args} → ${op.result} (invoked at ${(op.invokeNs / 1e6).toFixed(1)} ms, ${returned})`;
  });
  return { verdict: result.verdict, reason: result.reason, operations: result.operations, records: records.length, window, checkMs: performance.now() - started };
}
