/** Plain-text tables and the JSON document of a benchmark run. */
import type { LevelResult, WorkloadName } from './load.js';
import { etcdBaseline, PROTOCOLS, type Protocol } from './target.js';

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
  /** CPU seconds of every member together over exactly the measured window (/proc/<pid>/stat utime + stime). */
  readonly serverCpuSeconds: number;
  /** serverCpuSeconds ÷ successful ops, in µs. */
  readonly serverCpuMicrosPerOp: number;
}

export interface Ratio {
  /** The Cairn row's protocol. */
  readonly protocol: Protocol;
  /** The etcd protocol it is compared with (etcdBaseline). */
  readonly etcdProtocol: Protocol;
  readonly workload: WorkloadName;
  readonly concurrency: number;
  /** Cairn ops/s ÷ etcd ops/s: above 1 = Cairn is faster. */
  readonly opsPerSec: number;
  /** Cairn latency ÷ etcd latency: above 1 = Cairn is slower. */
  readonly p50: number;
  readonly p99: number;
  /** Cairn servers' CPU µs per op ÷ etcd's: above 1 = Cairn spends more. */
  readonly serverCpuPerOp: number;
}

export interface RssSample {
  readonly system: string;
  readonly keys: number;
  /** Right after loading, while the node still carries the load's garbage. */
  readonly leaderRssMiB: number;
  /** RssAnon (the process's own memory, no mapped files such as the executable) at the same moment. */
  readonly leaderRssAnonMiB: number;
  /** After `--rss-steady` seconds of random overwrites of the loaded keys: comparable across key counts. */
  readonly leaderSteadyRssMiB: number;
  readonly leaderSteadyRssAnonMiB: number;
  readonly leaderDataDirMiB: number;
  /** Seconds spent loading since the previous sample. */
  readonly loadSeconds: number;
  readonly putsPerSec: number;
}

/** The etcd row a Cairn row is compared with: same workload and concurrency, the baseline protocol. */
function etcdRowFor(results: readonly MeasuredLevel[], cairn: MeasuredLevel): MeasuredLevel | undefined {
  if (cairn.system !== 'cairn' || cairn.interrupted) return undefined;
  const protocol = etcdBaseline(cairn.protocol);
  return results.find(
    (r) =>
      r.system === 'etcd' &&
      r.protocol === protocol &&
      !r.interrupted &&
      r.workload === cairn.workload &&
      r.concurrency === cairn.concurrency,
  );
}

function ratioOf(cairn: MeasuredLevel, etcd: MeasuredLevel): Ratio {
  return {
    protocol: cairn.protocol,
    etcdProtocol: etcd.protocol,
    workload: cairn.workload,
    concurrency: cairn.concurrency,
    opsPerSec: cairn.opsPerSec / etcd.opsPerSec,
    p50: cairn.latencyMs.p50 / etcd.latencyMs.p50,
    p99: cairn.latencyMs.p99 / etcd.latencyMs.p99,
    serverCpuPerOp: cairn.serverCpuMicrosPerOp / etcd.serverCpuMicrosPerOp,
  };
}

/** Every Cairn row that has an etcd row to compare with, in table order. */
export function ratios(results: readonly MeasuredLevel[]): Ratio[] {
  return tableOrder(results).flatMap((cairn) => {
    const etcd = etcdRowFor(results, cairn);
    return etcd === undefined ? [] : [ratioOf(cairn, etcd)];
  });
}

/**
 * Rows by protocol (PROTOCOLS order: unary first, the comparison every gRPC
 * user cares about), then workload and concurrency as run, etcd before Cairn.
 */
export function tableOrder(results: readonly MeasuredLevel[]): MeasuredLevel[] {
  const firstSeen = <T>(values: readonly T[]): ((v: T) => number) => {
    const order = [...new Set(values)];
    return (v) => order.indexOf(v);
  };
  const workload = firstSeen(results.map((r) => r.workload));
  const concurrency = firstSeen(results.map((r) => r.concurrency));
  const key = (r: MeasuredLevel): number[] => [
    PROTOCOLS.indexOf(r.protocol),
    workload(r.workload),
    concurrency(r.concurrency),
    r.system === 'etcd' ? 0 : 1,
  ];
  return [...results].sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    const differs = ka.findIndex((v, i) => v !== kb[i]);
    return differs < 0 ? 0 : ka[differs]! - kb[differs]!;
  });
}

/** One table of every level, protocols in groups, with Cairn ÷ etcd on each Cairn row that has an etcd row to match. */
export function formatResults(results: readonly MeasuredLevel[]): string {
  const ordered = tableOrder(results);
  const rows = ordered.map((r) => {
    const etcd = etcdRowFor(results, r);
    const ratio = etcd === undefined ? undefined : ratioOf(r, etcd);
    return [
      r.protocol,
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
      Number.isFinite(r.serverCpuMicrosPerOp) ? r.serverCpuMicrosPerOp.toFixed(0) : '-',
      times(ratio?.opsPerSec),
      times(ratio?.p50),
      times(ratio?.p99),
      times(ratio?.serverCpuPerOp),
    ];
  });
  const lines = table(
    [
      'protocol',
      'system',
      'workload',
      'conc',
      'ops/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'errors',
      'gen cpu%',
      'leader cpu%',
      'srv µs/op',
      'ops/s ÷etcd',
      'p50 ÷etcd',
      'p99 ÷etcd',
      'µs/op ÷etcd',
    ],
    rows,
  ).split('\n');
  // A blank line between protocols: header, rule, then rows.
  const body = lines.slice(2).flatMap((line, i) => (i > 0 && ordered[i]!.protocol !== ordered[i - 1]!.protocol ? ['', line] : [line]));
  const text = [...lines.slice(0, 2), ...body].join('\n');
  return results.some((r) => r.interrupted) ? `${text}\n* interrupted: measured over a shorter window than --duration` : text;
}

function times(ratio: number | undefined): string {
  return ratio === undefined || !Number.isFinite(ratio) ? '-' : ratio.toFixed(2);
}

export function formatRss(samples: readonly RssSample[]): string {
  return table(
    [
      'system',
      'keys',
      'leader RSS MiB',
      'RssAnon MiB',
      'RSS after steady load',
      'RssAnon after steady',
      'leader data dir MiB',
      'load s',
      'puts/s',
    ],
    samples.map((s) => [
      s.system,
      String(s.keys),
      s.leaderRssMiB.toFixed(1),
      s.leaderRssAnonMiB.toFixed(1),
      s.leaderSteadyRssMiB.toFixed(1),
      s.leaderSteadyRssAnonMiB.toFixed(1),
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
