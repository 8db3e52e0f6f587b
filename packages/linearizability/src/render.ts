/** Plain-text and JSON forms of a CheckResult, shared by the plain, JSON and Ink renderers. */
import type { CheckResult, KeyCheckStats, WindowOperation } from './check.js';
import { layoutTable, type TextTable } from './text.js';

/** The failing window as a table: who did what, and when relative to the window's first invoke. */
export function windowTable(window: readonly WindowOperation[]): TextTable {
  return {
    headers: ['PROCESS', 'OP', 'ARGS', 'RESULT', 'INVOKE', 'RETURN'],
    rows: window.map((operation) => [
      `${operation.process}#${operation.id}`,
      operation.op,
      operation.args || '-',
      operation.result,
      relativeMs(operation.invokeNs),
      operation.returnNs === null ? '?' : relativeMs(operation.returnNs),
    ]),
  };
}

export function keyStatsTable(keys: readonly KeyCheckStats[]): TextTable {
  return {
    headers: ['KEY', 'OPS', 'INFO', 'STATES', 'VERDICT'],
    rows: keys.map((key) => [key.key, String(key.operations), String(key.info), String(key.statesExplored), key.verdict]),
  };
}

/** The verdict line first (what scripts grep), then the window, then a summary. */
export function checkResultText(result: CheckResult, options: { verbose: boolean }): string {
  const lines: string[] = [];
  const scope = result.model === 'kv' ? 'all keys together (kv model: transactions, revisions)' : plural(result.keys.length, 'key');
  if (result.verdict === 'linearizable') lines.push(`linearizable: ${result.operations} operations on ${scope}`);
  if (result.verdict === 'unknown') lines.push(`unknown: ${result.reason ?? 'the search did not finish'}`);
  const failure = result.failure;
  if (failure !== undefined) {
    lines.push(`NOT linearizable: ${result.reason ?? ''}`);
    const shrunk =
      failure.prefix === true
        ? 'shortest failing prefix'
        : failure.minimal
          ? 'smallest failing window'
          : 'failing window (shrinking stopped at its budget)';
    const versions = failure.versionBlind ? ' (fails on values alone)' : '';
    const where = failure.prefix === true ? 'of the history' : `on key ${JSON.stringify(failure.key)}`;
    lines.push(
      `${shrunk}${versions}, ${failure.window.length} of ${failure.keyOperations} operations ${where}; times in ms after its first invoke:`,
    );
    lines.push(layoutTable(windowTable(failure.window)));
  }
  const { failed, info, unfinished } = result.pairing;
  const undecided = result.keys.filter((key) => key.verdict !== 'linearizable').length;
  lines.push(
    `checked ${result.operations} operations (${info + unfinished} with unknown outcome; ${failed} failed, not checked) on ${scope}` +
      (undecided > 0 ? `, ${undecided} not linearizable or undecided` : ''),
  );
  if (options.verbose) lines.push(layoutTable(keyStatsTable(result.keys)));
  return `${lines.join('\n')}\n`;
}

/** JSON document for `--output json`: the whole result, with the verdict first. */
export function checkResultJson(result: CheckResult): Record<string, unknown> {
  return {
    verdict: result.verdict,
    model: result.model,
    reason: result.reason ?? null,
    operations: result.operations,
    pairing: result.pairing,
    failure: result.failure ?? null,
    keys: result.keys,
  };
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function relativeMs(ns: number): string {
  return (ns / 1e6).toFixed(3);
}
