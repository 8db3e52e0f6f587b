/** Plain-text tables and the JSON document of a benchmark run. */
import type { LevelResult, WorkloadName } from './load.js';

/** A level's result plus the CPU use seen during it (warm-up included), in % of one core. */
export interface MeasuredLevel extends LevelResult {
  /** The member (1-based) that led when the level started. */
  readonly leaderMember: number;
  readonly cpuPercent: {
    /** This process: the load generator and its gRPC clients (100% = its one event loop is saturated). */
    readonly loadGenerator: number;
    readonly leader: number;
    /** Every member, in member order. */
    readonly members: readonly number[];
  };
}

export interface Ratio {
  readonly workload: WorkloadName;
  readonly concurrency: number;
  /** Cairn ops/s ÷ etcd ops/s: above 1 = Cairn is faster. */
  readonly opsPerSec: number;
  /** Cairn latency ÷ etcd latency: above 1 = Cairn is slower. */
  readonly p50: number;
  readonly p99: number;
}

export interface RssSample {
  readonly system: string;
  readonly keys: number;
  /** Right after loading, while the node still carries the load's garbage. */
  readonly leaderRssMiB: number;
  /** After `--rss-steady` seconds of random overwrites of the loaded keys: comparable across key counts. */
  readonly leaderSteadyRssMiB: number;
  readonly leaderDataDirMiB: number;
  /** Seconds spent loading since the previous sample. */
  readonly loadSeconds: number;
  readonly putsPerSec: number;
}

/** Rows of both systems matched by workload and concurrency. */
export function ratios(results: readonly MeasuredLevel[]): Ratio[] {
  const out: Ratio[] = [];
  for (const cairn of results.filter((r) => r.system === 'cairn' && !r.interrupted)) {
    const etcd = results.find(
      (r) => r.system === 'etcd' && !r.interrupted && r.workload === cairn.workload && r.concurrency === cairn.concurrency,
    );
    if (etcd === undefined) continue;
    out.push({
      workload: cairn.workload,
      concurrency: cairn.concurrency,
      opsPerSec: cairn.opsPerSec / etcd.opsPerSec,
      p50: cairn.latencyMs.p50 / etcd.latencyMs.p50,
      p99: cairn.latencyMs.p99 / etcd.latencyMs.p99,
    });
  }
  return out;
}

export function formatResults(results: readonly MeasuredLevel[]): string {
  const rows = results.map((r) => [
    r.interrupted ? `${r.system}*` : r.system,
    r.workload,
    String(r.concurrency),
    r.opsPerSec.toFixed(0),
    ms(r.latencyMs.p50),
    ms(r.latencyMs.p90),
    ms(r.latencyMs.p99),
    ms(r.latencyMs.max),
    formatErrors(r),
    r.cpuPercent.loadGenerator.toFixed(0),
    r.cpuPercent.leader.toFixed(0),
  ]);
  const text = table(
    ['system', 'workload', 'conc', 'ops/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors', 'gen cpu%', 'leader cpu%'],
    rows,
  );
  return results.some((r) => r.interrupted) ? `${text}\n* interrupted: measured over a shorter window than --duration` : text;
}

export function formatRatios(rows: readonly Ratio[]): string {
  return table(
    ['workload', 'conc', 'ops/s cairn÷etcd', 'p50 cairn÷etcd', 'p99 cairn÷etcd'],
    rows.map((r) => [r.workload, String(r.concurrency), r.opsPerSec.toFixed(2), r.p50.toFixed(2), r.p99.toFixed(2)]),
  );
}

export function formatRss(samples: readonly RssSample[]): string {
  return table(
    ['system', 'keys', 'leader RSS MiB', 'RSS MiB after steady load', 'leader data dir MiB', 'load s', 'puts/s'],
    samples.map((s) => [
      s.system,
      String(s.keys),
      s.leaderRssMiB.toFixed(1),
      s.leaderSteadyRssMiB.toFixed(1),
      s.leaderDataDirMiB.toFixed(1),
      s.loadSeconds.toFixed(1),
      s.putsPerSec.toFixed(0),
    ]),
  );
}

/** `0`, or the count and its codes: `3 (TIMEOUT:2 UNAVAILABLE:1)`. */
export function formatErrors(result: Pick<LevelResult, 'errors' | 'errorsByCode'>): string {
  if (result.errors === 0) return '0';
  const byCode = Object.entries(result.errorsByCode)
    .map(([code, n]) => `${code}:${n}`)
    .join(' ');
  return `${result.errors} (${byCode})`;
}

function ms(value: number): string {
  if (Number.isNaN(value)) return '-';
  return value < 10 ? value.toFixed(2) : value.toFixed(1);
}

/** Left-aligned text columns, right-aligned numeric ones. */
function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const numeric = header.map((_, column) => rows.length > 0 && rows.every((row) => /^[\d.\-]+$/.test(row[column]!)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => (numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
