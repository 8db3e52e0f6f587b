/**
 * The live demo: a local cluster of `cairn-server` processes (all --chaos),
 * a recorded client workload, leader preemption, a membership cycle and
 * injected faults, until stopped; then an orderly shutdown and a
 * linearizability check of the recorded history.
 */
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Clerk, JsonLinesHistory } from '@cairn/clerk';
import { ActionLog, type DemoOutput, displayPath } from './action-log.js';
import { type DisruptionCounts, Disruptions } from './disruptions.js';
import { checkHistoryFile, type HistoryVerdict } from './history-check.js';
import { DemoNode, type NodeExit, type NodeSpec, nodeSpec } from './node-process.js';
import type { DemoOptions } from './options.js';
import { assertPortsFree, freePorts } from './ports.js';
import { type OutcomeCounts, Workload } from './workload.js';

/** Marks a data dir the demo made, so it only ever wipes its own. */
const DATA_DIR_MARKER = '.cairn-demo';
const LEADER_DEADLINE_MS = 30_000;
const SUMMARY_EVERY_MS = 5_000;
const HTTP_PORT_OFFSET = 1000;

export class DemoSetupError extends Error {
  readonly code = 'DEMO_SETUP';
  constructor(message: string) {
    super(message);
    this.name = 'DemoSetupError';
  }
}

export interface DemoSummary {
  readonly check: HistoryVerdict;
  readonly workload: OutcomeCounts;
  readonly disruptions: DisruptionCounts | undefined;
  /** Every node process that ended, in order; `expected: false` is a crash. */
  readonly nodeExits: readonly NodeExit[];
  readonly crashed: boolean;
  readonly durationS: number;
  readonly historyFile: string;
  readonly endpoints: readonly string[];
}

export class Demo {
  private readonly log: ActionLog;
  private readonly nodes = new Map<number, DemoNode>();
  private readonly nodeExits: NodeExit[] = [];
  private readonly seenClusterEvents = new Set<string>();
  private spareSpecFor: ((id: number) => NodeSpec) | undefined;
  private readonly historyFile: string;

  constructor(
    private readonly options: DemoOptions,
    private readonly output: DemoOutput,
  ) {
    this.log = new ActionLog(output);
    this.historyFile = join(options.dataDir, 'history.jsonl');
  }

  /** Runs until `stop` fires (or --duration passes), then shuts down and checks the history. */
  async run(stop: AbortSignal): Promise<DemoSummary> {
    prepareDataDir(this.options.dataDir);
    const voters = await this.planNodes();
    const endpoints = voters.map((spec) => spec.grpcAddress);
    const history = createWriteStream(this.historyFile);
    const admin = Clerk.lazy({ endpoints, clientId: `demo-admin-${process.pid}`, requestTimeoutMs: 1_000 });
    let workload: Workload | undefined;
    let disruptions: Disruptions | undefined;
    try {
      await this.startVoters(voters);
      this.printBanner(voters);
      await this.waitForLeader(admin, stop);
      workload = new Workload(
        {
          endpoints,
          clerks: this.options.clerks,
          keys: this.options.keys,
          verbose: this.options.verbose,
          history: new JsonLinesHistory(history),
        },
        this.log,
      );
      disruptions = new Disruptions(
        {
          admin,
          log: this.log,
          runningNodes: () => this.runningNodes(),
          launchSpare: (id) => this.launchSpare(id),
          retireSpare: (node) => this.retireSpare(node),
        },
        {
          transfers: this.options.transfers,
          faults: this.options.faults,
          membership: this.options.membership,
          firstSpareId: this.options.nodes + 1,
        },
      );
      if (!stop.aborted) {
        workload.start();
        disruptions.start();
        await this.runUntilStopped(workload, stop);
      }
    } finally {
      await this.shutDown(admin, workload, disruptions, history);
    }
    return this.finish(workload, disruptions, endpoints);
  }

  /** Emergency stop (second Ctrl-C, or the demo itself failing): SIGKILL every node. */
  killNow(): void {
    for (const node of this.nodes.values()) node.killNow();
  }

  private async planNodes(): Promise<NodeSpec[]> {
    const { nodes, basePort, membership, dataDir } = this.options;
    const slots = nodes + (membership ? 1 : 0);
    let grpcPorts: number[];
    let httpPorts: number[];
    if (basePort === 0) {
      const ports = await freePorts(2 * slots);
      grpcPorts = ports.slice(0, slots);
      httpPorts = ports.slice(slots);
    } else {
      grpcPorts = Array.from({ length: slots }, (_, i) => basePort + i);
      httpPorts = grpcPorts.map((port) => port + HTTP_PORT_OFFSET);
      await assertPortsFree([...grpcPorts, ...httpPorts]);
    }
    // Every spare (a new id per membership cycle) reuses the last port pair.
    this.spareSpecFor = (id) => nodeSpec(dataDir, id, grpcPorts[slots - 1]!, httpPorts[slots - 1]!);
    return Array.from({ length: nodes }, (_, i) => nodeSpec(dataDir, i + 1, grpcPorts[i]!, httpPorts[i]!));
  }

  private commonNodeArgs(): string[] {
    // Frequent snapshots so a demo of a few minutes shows compaction and snapshot catch-up.
    return [
      '--cluster-id',
      'demo',
      '--chaos',
      '--tick-ms',
      String(this.options.tickMs),
      '--snapshot-entries',
      '2000',
      '--log-level',
      'info',
    ];
  }

  private newNode(spec: NodeSpec): DemoNode {
    const node = new DemoNode(spec, this.commonNodeArgs(), {
      onEvent: (id, event, fields) => this.echoNodeEvent(id, event, fields),
      onExit: (exit) => {
        this.nodeExits.push(exit);
        if (!exit.expected) this.log.note(`node ${exit.id} CRASHED (exit ${exit.signal ?? exit.code}); see ${displayPath(spec.logFile)}`);
      },
    });
    this.nodes.set(spec.id, node);
    return node;
  }

  /**
   * Cluster-wide events (a new leader, a membership change) are shown once,
   * by the first node that reports them; per-node events name the node.
   */
  private echoNodeEvent(id: number, event: string, fields: Record<string, unknown>): void {
    if (event === 'leader-changed') {
      const leaderId = Number(fields['leaderId']);
      if (leaderId === 0 || !this.firstSighting(`leader ${fields['term']}/${leaderId}`)) return;
      this.log.note(`leader: node ${leaderId} (term ${String(fields['term'])})`);
    } else if (event === 'membership-changed') {
      if (!this.firstSighting(`membership ${fields['index']}`)) return;
      this.log.note(`membership: ${String(fields['change'])} node ${String(fields['nodeId'])} (index ${String(fields['index'])})`);
    } else {
      this.log.note(`node ${id} ${event} ${JSON.stringify(fields)}`);
    }
  }

  private firstSighting(key: string): boolean {
    if (this.seenClusterEvents.has(key)) return false;
    this.seenClusterEvents.add(key);
    return true;
  }

  private async startVoters(voters: readonly NodeSpec[]): Promise<void> {
    const peerArgs = voters.flatMap((spec) => ['--peer', `${spec.id}=${spec.grpcAddress}`]);
    this.log.note(`starting ${voters.length} nodes…`);
    const started = performance.now();
    await Promise.all(voters.map((spec) => this.newNode(spec).start(peerArgs)));
    this.log.note(`${voters.length} nodes serving ${Math.round(performance.now() - started)} ms`);
  }

  private async launchSpare(id: number): Promise<DemoNode> {
    const spec = this.spareSpecFor!(id);
    rmSync(spec.dataDir, { recursive: true, force: true });
    const node = this.newNode(spec);
    await node.start(['--join']);
    return node;
  }

  private async retireSpare(node: DemoNode): Promise<number | null> {
    const code = await node.stop();
    rmSync(node.spec.dataDir, { recursive: true, force: true });
    return code;
  }

  private runningNodes(): DemoNode[] {
    return [...this.nodes.values()].filter((node) => node.running);
  }

  private async waitForLeader(admin: Clerk, stop: AbortSignal): Promise<void> {
    const found = await this.log.timed(
      'wait-for-leader',
      '',
      async () => {
        const deadline = performance.now() + LEADER_DEADLINE_MS;
        while (!stop.aborted) {
          const status = await admin.status({ deadlineMs: 1_000 }).catch(() => undefined);
          if (status !== undefined && status.leaderId !== 0) return status;
          if (performance.now() > deadline)
            throw new DemoSetupError(`no leader elected within ${LEADER_DEADLINE_MS / 1000} s; see the node logs`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return undefined;
      },
      (status) => (status === undefined ? '(stopped)' : `leader ${status.leaderId}, term ${status.term}`),
    );
    if (found === undefined && !stop.aborted) throw new DemoSetupError('no leader elected; see the node logs');
  }

  private async runUntilStopped(workload: Workload, stop: AbortSignal): Promise<void> {
    const durationMs = this.options.durationS === undefined ? undefined : this.options.durationS * 1000;
    await new Promise<void>((resolve) => {
      const summary = setInterval(() => this.log.note(workload.takeSummary()), SUMMARY_EVERY_MS);
      const timer = durationMs === undefined ? undefined : setTimeout(done, durationMs);
      if (stop.aborted) done();
      stop.addEventListener('abort', done, { once: true });
      function done(): void {
        clearInterval(summary);
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      }
    });
    this.log.note(workload.takeSummary());
  }

  private async shutDown(
    admin: Clerk,
    workload: Workload | undefined,
    disruptions: Disruptions | undefined,
    history: WriteStream,
  ): Promise<void> {
    this.log.note('stopping: workload and disruptions…');
    await disruptions?.stop();
    await workload?.stop();
    await Promise.all(
      this.runningNodes().map((node) =>
        this.log.timed('clear-faults', `node ${node.id}`, () =>
          admin.injectFault({ kind: 'clear' }, { endpoint: node.spec.grpcAddress, deadlineMs: 2_000 }),
        ),
      ),
    );
    admin.close();
    await Promise.all(
      this.runningNodes().map((node) =>
        this.log.timed(
          'stop-node',
          `${node.id}`,
          () => node.stop(),
          (code) => `(exit ${code ?? 'signal'})`,
        ),
      ),
    );
    await new Promise<void>((resolve) => history.end(resolve));
  }

  private async finish(
    workload: Workload | undefined,
    disruptions: Disruptions | undefined,
    endpoints: readonly string[],
  ): Promise<DemoSummary> {
    this.log.note(`checking the history (${displayPath(this.historyFile)})…`);
    const check = await checkHistoryFile(this.historyFile);
    const crashed = this.nodeExits.some((exit) => !exit.expected || exit.code !== 0);
    const summary: DemoSummary = {
      check,
      workload: workload?.totals ?? { ok: 0, fail: 0, unknown: 0 },
      disruptions: disruptions?.counts,
      nodeExits: this.nodeExits,
      crashed,
      durationS: Number(this.log.elapsedS().toFixed(1)),
      historyFile: this.historyFile,
      endpoints,
    };
    for (const line of describeSummary(summary)) this.output.line(line);
    if (this.options.summaryFile !== undefined) writeFileSync(this.options.summaryFile, JSON.stringify(summary, null, 2) + '\n');
    return summary;
  }

  private printBanner(voters: readonly NodeSpec[]): void {
    const endpoints = voters.map((spec) => spec.grpcAddress).join(',');
    const lines = [
      `Cairn demo: ${voters.length} nodes${this.options.membership ? ' (+1 spare for membership cycles)' : ''}, data and logs in ${displayPath(this.options.dataDir)}`,
      `  gRPC endpoints : ${endpoints}`,
      `  dashboards     : ${voters.map((spec) => `http://${spec.httpAddress}/`).join('  ')}`,
      `  status         : npx kvctl --endpoints ${endpoints} status`,
      `  history        : ${displayPath(this.historyFile)}`,
      `  disruptions    : ${[this.options.transfers && 'leader preemption', this.options.membership && 'membership cycle', this.options.faults && 'faults'].filter(Boolean).join(', ') || 'none'}`,
      this.options.durationS === undefined
        ? 'Ctrl-C stops the workload, shuts the nodes down and checks the history.'
        : `Runs for ${this.options.durationS} s (Ctrl-C stops earlier).`,
    ];
    for (const line of lines) this.output.line(line);
  }
}

/** The closing report: verdict first, then the counts. */
export function describeSummary(summary: DemoSummary): string[] {
  const { check, workload, disruptions } = summary;
  const lines = [`verdict: ${check.verdict.toUpperCase()}${check.reason === undefined ? '' : ` — ${check.reason}`}`];
  for (const line of check.report.split('\n')) lines.push(`  ${line}`);
  lines.push(`  history: ${check.records} records, checked in ${Math.round(check.checkMs)} ms`);
  lines.push(`  workload: ok ${workload.ok}, failed ${workload.fail}, unknown outcome ${workload.unknown}`);
  if (disruptions !== undefined) {
    const pair = (counts: { ok: number; failed: number }): string => `${counts.ok} ok / ${counts.failed} failed`;
    lines.push(
      `  disruptions: transfers ${pair(disruptions.transfers)}, faults ${pair(disruptions.faults)}, membership cycles ${pair(disruptions.membershipCycles)}`,
    );
  }
  const bad = summary.nodeExits.filter((exit) => !exit.expected || exit.code !== 0);
  lines.push(
    bad.length === 0
      ? `  nodes: all ${summary.nodeExits.length} node processes exited cleanly`
      : `  nodes: ${bad.map((exit) => `node ${exit.id} ${exit.expected ? 'exited' : 'CRASHED'} (${exit.signal ?? exit.code})`).join(', ')}`,
  );
  return lines;
}

function prepareDataDir(dir: string): void {
  if (existsSync(dir)) {
    const entries = readdirSync(dir);
    if (entries.length > 0 && !entries.includes(DATA_DIR_MARKER)) {
      throw new DemoSetupError(`${dir} is not empty and was not made by the demo; pick another --data-dir`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, DATA_DIR_MARKER), 'made by the Cairn demo (tools/demo); wiped at each start\n');
}
