import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Clerk } from '@cairn/clerk';
import { launchNode, serverEntry } from '@cairn/kv-server/launch';
import type { StatusResponse } from '@cairn/proto';
import { render } from 'ink';
import { createElement } from 'react';
import { runBench, type BenchSnapshot } from './bench.js';
import type { ClerkLike } from './clerk-like.js';
import type { CliIo } from './cli-io.js';
import { CLUSTER_HTTP_PORT_OFFSET, DEFAULT_CLUSTER_BASE_PORT, type ClusterUpCommand, type GlobalOptions } from './commands.js';
import { NotImplementedError, describeError } from './errors.js';
import { benchLine, layoutTable } from './format.js';
import { buildStatusRows, type MemberStatusRow } from './run.js';
import { ClusterView, clusterTable, type NodeProcessState } from './ui/cluster-view.js';

export const STATUS_POLL_INTERVAL_MS = 1000;
/** After SIGTERM, children get this long to exit before SIGKILL. */
export const STOP_GRACE_MS = 5000;

/** One node of a local cluster, fully decided before anything starts. */
export interface ClusterNodePlan {
  readonly id: number;
  /** gRPC address, for peers and clients. */
  readonly address: string;
  readonly httpAddress: string;
  readonly dataDir: string;
  readonly logPath: string;
}

/** Node N: gRPC on basePort+N-1 (7001.. = kvctl's default endpoints), HTTP 100 above, data in dataDir/node-N. */
export function planCluster(nodes: number, dataDir: string, basePort: number = DEFAULT_CLUSTER_BASE_PORT): ClusterNodePlan[] {
  return Array.from({ length: nodes }, (_unused, index) => {
    const id = index + 1;
    return {
      id,
      address: `127.0.0.1:${basePort + index}`,
      httpAddress: `127.0.0.1:${basePort + CLUSTER_HTTP_PORT_OFFSET + index}`,
      dataDir: join(dataDir, `node-${id}`),
      logPath: join(dataDir, `node-${id}.log`),
    };
  });
}

/** The repository root, from this module's URL (src/ or dist/ of packages/kvctl). */
export function repoRootFrom(moduleUrl: string): string {
  return resolve(dirname(fileURLToPath(moduleUrl)), '..', '..', '..');
}

/** tsx's loader as an absolute URL (for the repository demo), or undefined when tsx is not installed. */
function resolveTsx(): string | undefined {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return undefined;
  }
}

/**
 * Starts one planned node with every member as a peer, in its own process
 * group: Ctrl-C in the terminal reaches only kvctl, which then stops the
 * nodes once, in order (the server takes a second signal as "exit now").
 */
export function launchPlannedNode(plan: ClusterNodePlan, cluster: readonly ClusterNodePlan[]): ChildProcess {
  const peers = cluster.map((member) => ({ id: member.id, address: member.address }));
  return launchNode({ id: plan.id, address: plan.address, clientAddress: plan.httpAddress, dataDir: plan.dataDir, peers, detached: true })
    .child;
}

/** `--fresh`: removes what a previous `cluster up` left for these nodes, nothing else in the directory. */
export function wipeNodeData(plans: readonly ClusterNodePlan[]): void {
  for (const plan of plans) {
    rmSync(plan.dataDir, { recursive: true, force: true });
    rmSync(plan.logPath, { force: true });
  }
}

/** A child process to supervise. */
export interface ChildSpec {
  readonly id: number;
  /** Spawns it with stdout and stderr piped, in its own process group (detached). */
  readonly spawn: () => ChildProcess;
  /** Where its stdout and stderr go. */
  readonly logPath: string;
}

/**
 * Owns the child processes of a local cluster: starts them, tracks their exits,
 * and stops them: SIGTERM, wait up to a grace period, then SIGKILL.
 */
export class ProcessGroup {
  private readonly children = new Map<number, ChildProcess>();
  private readonly states = new Map<number, NodeProcessState>();

  constructor(private readonly onChange: () => void = () => {}) {}

  start(specs: readonly ChildSpec[]): void {
    // If kvctl dies without stop(), do not leave detached nodes running.
    process.once('exit', () => this.killAll('SIGKILL'));
    for (const spec of specs) {
      mkdirSync(dirname(spec.logPath), { recursive: true });
      const log = createWriteStream(spec.logPath, { flags: 'a' });
      const child = spec.spawn();
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
      this.children.set(spec.id, child);
      this.states.set(spec.id, { id: spec.id, pid: child.pid, state: 'running' });
      child.on('exit', (code, signal) => {
        this.states.set(spec.id, { id: spec.id, pid: child.pid, state: `exited (${signal ?? code})` });
        this.onChange();
      });
      child.on('error', (error) => {
        this.states.set(spec.id, { id: spec.id, pid: undefined, state: `failed: ${error.message}` });
        this.onChange();
      });
    }
  }

  private killAll(signal: NodeJS.Signals): void {
    for (const child of this.children.values()) {
      if (child.exitCode === null && child.signalCode === null) killGroup(child, signal);
    }
  }

  processStates(): NodeProcessState[] {
    return [...this.states.values()].sort((a, b) => a.id - b.id);
  }

  /** SIGTERM to every live child, SIGKILL to those still alive after graceMs; resolves when all have exited. */
  async stop(graceMs: number): Promise<void> {
    const live = [...this.children.values()].filter(
      (child) => child.exitCode === null && child.signalCode === null && child.pid !== undefined,
    );
    const exited = live.map((child) => new Promise<void>((resolveExit) => child.once('exit', () => resolveExit())));
    for (const child of live) child.kill('SIGTERM');
    const killTimer = setTimeout(() => {
      for (const child of live) if (child.exitCode === null && child.signalCode === null) killGroup(child, 'SIGKILL');
    }, graceMs);
    await Promise.all(exited);
    clearTimeout(killTimer);
  }
}

/**
 * Signals the child's whole process group (it leads one: spawned detached), so
 * a launcher's own child (the bin shim's server) dies with it.
 */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

/** Asks each planned node for its status directly; a node that does not answer gets its error code. */
export async function pollClusterStatus(clerk: Pick<ClerkLike, 'status'>, plans: readonly ClusterNodePlan[]): Promise<MemberStatusRow[]> {
  const answers = await Promise.all(
    plans.map(async (plan): Promise<StatusResponse | { error: string }> => {
      try {
        return await clerk.status({ endpoint: plan.address });
      } catch (error) {
        return { error: describeError(error).code };
      }
    }),
  );
  return buildStatusRows(
    plans.map((plan) => ({ id: plan.id, clientAddress: plan.address, learner: false })),
    answers,
  );
}

/**
 * `kvctl cluster up`: starts the nodes, shows their status every second until
 * Ctrl-C or SIGTERM, then stops them cleanly. Resolves to the exit code.
 */
export async function runClusterUp(command: ClusterUpCommand, _global: GlobalOptions, io: CliIo): Promise<number> {
  const repoRoot = repoRootFrom(import.meta.url);
  try {
    serverEntry();
  } catch (error) {
    throw new NotImplementedError(`cairn-server cannot be started: ${describeError(error).message}`);
  }
  const tsxUrl = resolveTsx();
  const demoMain = join(repoRoot, 'tools', 'demo', 'main.ts');
  if (command.demo && tsxUrl !== undefined && existsSync(demoMain)) return runLiveDemo(repoRoot, tsxUrl, command);
  const dataDir = resolve(command.dataDir);
  const plans = planCluster(command.nodes, dataDir, command.basePort);
  if (command.fresh) wipeNodeData(plans);
  const screen = new ClusterScreen(io, dataDir);
  const group = new ProcessGroup(() => screen.update({ processes: group.processStates() }));
  group.start(plans.map((plan) => ({ id: plan.id, spawn: () => launchPlannedNode(plan, plans), logPath: plan.logPath })));
  screen.update({ processes: group.processStates() });
  const clerk = Clerk.lazy({ endpoints: plans.map((plan) => plan.address), requestTimeoutMs: 800, deadlineMs: 900 });
  const stopDemo = new AbortController();
  const demo = command.demo ? runDemo(clerk, stopDemo.signal, (bench) => screen.update({ bench })) : Promise.resolve();
  let polling = true;
  const poller = setInterval(() => {
    // A poll still in flight when the stop begins must not print a stale (CLOSED) table afterwards.
    void pollClusterStatus(clerk, plans).then((rows) => polling && screen.update({ rows }));
  }, STATUS_POLL_INTERVAL_MS);
  await waitForStopSignal();
  polling = false;
  // A second Ctrl-C while stopping: give up on grace; the exit hook SIGKILLs the nodes.
  const forceExit = (): never => process.exit(130);
  process.once('SIGINT', forceExit);
  clearInterval(poller);
  stopDemo.abort();
  screen.update({ stopping: true });
  await demo;
  clerk.close();
  await group.stop(STOP_GRACE_MS);
  screen.update({ processes: group.processStates(), stopped: true });
  screen.close();
  process.off('SIGINT', forceExit);
  return 0;
}

/** A light closed-loop load (2 workers, 20 % writes) so the indexes move; errors are shown, not fatal. */
async function runDemo(clerk: ClerkLike, signal: AbortSignal, onProgress: (snapshot: BenchSnapshot) => void): Promise<void> {
  await runBench(
    clerk,
    { concurrency: 2, durationMs: Number.MAX_SAFE_INTEGER, keys: 100, valueBytes: 64, readRatio: 0.8, progressIntervalMs: 1000 },
    { signal, onProgress },
  );
}

function waitForStopSignal(): Promise<string> {
  return new Promise((resolveSignal) => {
    const onSignal = (signal: string): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolveSignal(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

interface ScreenState {
  processes: NodeProcessState[];
  rows: MemberStatusRow[] | undefined;
  bench: BenchSnapshot | undefined;
  stopping: boolean;
  stopped: boolean;
}

/** Shows the cluster: a live Ink view on a TTY, a status table per change otherwise. */
class ClusterScreen {
  private state: ScreenState = { processes: [], rows: undefined, bench: undefined, stopping: false, stopped: false };
  private readonly view: ReturnType<typeof render> | undefined;
  private lastTable = '';
  private readonly reportedExits = new Set<number>();

  constructor(
    private readonly io: CliIo,
    private readonly dataDir: string,
  ) {
    this.view =
      io.stdout.isTTY === true
        ? render(createElement(ClusterView, { dataDir, ...this.state }), { stdout: io.stdout as NodeJS.WriteStream, patchConsole: false })
        : undefined;
    if (this.view === undefined) io.stdout.write(`cluster up: data in ${dataDir}; Ctrl-C to stop\n`);
  }

  update(change: Partial<ScreenState>): void {
    this.state = { ...this.state, ...change };
    if (change.processes !== undefined && !this.state.stopping) this.reportUnexpectedExits(change.processes);
    if (this.view !== undefined) {
      this.view.rerender(createElement(ClusterView, { dataDir: this.dataDir, ...this.state }));
      return;
    }
    // Plain mode (a log or a pipe): a table only when something in it changed.
    const table = layoutTable(clusterTable(this.state.processes, this.state.rows));
    if ((change.rows !== undefined || change.processes !== undefined) && this.state.rows !== undefined && table !== this.lastTable) {
      this.lastTable = table;
      this.io.stdout.write(`${table}\n\n`);
    }
    if (change.bench !== undefined) this.io.stdout.write(`demo: ${benchLine(change.bench)}\n`);
    if (change.stopping === true) this.io.stdout.write('stopping nodes…\n');
    if (change.stopped === true) this.io.stdout.write('all nodes stopped\n');
  }

  /** A node that dies on its own (port in use, bad data dir): say where its log is, once, on stderr. */
  private reportUnexpectedExits(processes: readonly NodeProcessState[]): void {
    for (const node of processes) {
      if (node.state === 'running' || this.reportedExits.has(node.id)) continue;
      this.reportedExits.add(node.id);
      this.io.stderr.write(`node ${node.id} ${node.state}; see ${join(this.dataDir, `node-${node.id}.log`)}\n`);
    }
  }

  close(): void {
    this.view?.unmount();
  }
}

/**
 * `cluster up --demo`: the repository's live demo (tools/demo, also `npm start`):
 * a 5-node cluster with workloads, leader preemption, membership changes and
 * injected faults, ending with a linearizability verdict. Signals are passed on;
 * the demo's exit code is ours.
 */
export function demoCommandLine(repoRoot: string, tsxUrl: string, command: Pick<ClusterUpCommand, 'nodes' | 'basePort'>): string[] {
  const nodes = Math.min(7, Math.max(3, command.nodes === 3 ? 5 : command.nodes));
  return [
    '--conditions=@cairn/source',
    '--import',
    tsxUrl,
    join(repoRoot, 'tools', 'demo', 'main.ts'),
    '--nodes',
    String(nodes),
    '--base-port',
    String(command.basePort),
  ];
}

function runLiveDemo(repoRoot: string, tsxUrl: string, command: ClusterUpCommand): Promise<number> {
  return new Promise((resolveExit) => {
    const child = spawn(process.execPath, demoCommandLine(repoRoot, tsxUrl, command), { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    process.on('SIGINT', forward('SIGINT'));
    process.on('SIGTERM', forward('SIGTERM'));
    child.on('exit', (code, signal) => resolveExit(code ?? (signal ? 130 : 1)));
  });
}
