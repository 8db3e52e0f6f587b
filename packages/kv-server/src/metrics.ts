/**
 * A small Prometheus registry: counters, gauges read at scrape time, and
 * fixed-bucket histograms, rendered in the text exposition format. Hand-written
 * because the node needs only these three kinds and no default process metrics.
 */
type Labels = Record<string, string>;

const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

interface LabelNode {
  text?: string;
  next: Map<string, LabelNode>;
}

/**
 * Label sets' rendered text, looked up by walking their names and values:
 * inc() and observe() run for every request, and formatting the labels each
 * time was a visible share of a node's garbage per write.
 */
class LabelTexts {
  private readonly root: LabelNode = { next: new Map() };

  text(labels: Labels): string {
    let node = this.root;
    for (const name in labels) node = child(child(node, name), labels[name]!);
    return (node.text ??= formatLabels(labels));
  }
}

function child(node: LabelNode, part: string): LabelNode {
  let next = node.next.get(part);
  if (next === undefined) {
    next = { next: new Map() };
    node.next.set(part, next);
  }
  return next;
}

const NO_LABELS: Labels = Object.freeze({});

class Counter {
  private readonly values = new Map<string, number>();
  private readonly labelTexts = new LabelTexts();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = NO_LABELS, by = 1): void {
    const key = this.labelTexts.text(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [labels, value] of this.values) lines.push(`${this.name}${labels} ${value}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();
  private readonly labelTexts = new LabelTexts();
  constructor(readonly name: string, readonly help: string, readonly buckets = LATENCY_BUCKETS_S) {}
  observe(value: number, labels: Labels = NO_LABELS): void {
    const key = this.labelTexts.text(labels);
    let s = this.series.get(key);
    if (s === undefined) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, s] of this.series) {
      const inner = key === '' ? '' : key.slice(1, -1) + ',';
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{${inner}le="${b}"} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket{${inner}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${key} ${s.sum}`);
      lines.push(`${this.name}_count${key} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Metrics {
  readonly requests = new Counter('cairn_requests_total', 'Client requests by operation and outcome code.');
  readonly requestSeconds = new Histogram('cairn_request_duration_seconds', 'Client request latency by operation.');
  readonly readyBatches = new Counter('cairn_raft_ready_total', 'Raft Ready batches handled by the node loop.');
  readonly entriesPersisted = new Counter('cairn_raft_entries_persisted_total', 'Log entries written to disk.');
  readonly fsyncSeconds = new Histogram('cairn_raft_fsync_duration_seconds', 'Duration of synced log writes (group commits).');
  private readonly gauges: Array<{ name: string; help: string; read: () => number }> = [];
  private readonly labelledGauges: Array<{ name: string; help: string; read: () => ReadonlyArray<{ labels: Labels; value: number }> }> = [];

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.push({ name, help, read });
  }

  /** A gauge with one series per label set (e.g. one per peer), all read at scrape time. */
  labelledGauge(name: string, help: string, read: () => ReadonlyArray<{ labels: Labels; value: number }>): void {
    this.labelledGauges.push({ name, help, read });
  }

  render(): string {
    const parts = [this.requests.render(), this.requestSeconds.render(), this.readyBatches.render(), this.entriesPersisted.render(), this.fsyncSeconds.render()];
    for (const g of this.gauges) parts.push(`# HELP ${g.name} ${g.help}\n# TYPE ${g.name} gauge\n${g.name} ${g.read()}`);
    for (const g of this.labelledGauges) {
      const series = g.read().map(({ labels, value }) => `${g.name}${formatLabels(labels)} ${value}`);
      parts.push([`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`, ...series].join('\n'));
    }
    return parts.join('\n') + '\n';
  }
}
