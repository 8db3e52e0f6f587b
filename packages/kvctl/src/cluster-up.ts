import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Clerk } from '@cairn/clerk';
import type { StatusResponse } from '@cairn/proto';
import { render } from 'ink';
import { createElement } from 'react';
import { runBench, type BenchSnapshot } from './bench.js';
import type { ClerkLike } from './clerk-like.js';
import type { CliIo } from './cli.js';
import type { Command, GlobalOptions } from './commands.js';
import { NotImplementedError, describeError } from './errors.js';
import { benchLine, layoutTable } from './format.js';
import { buildStatusRows, type MemberStatusRow } from './run.js';
import { ClusterView, clusterTable, type NodeProcessState } from './ui/cluster-view.js';

/** gRPC (peers and clients) of node N listens on GRPC_PORT_BASE + N: 7001, 7002, ... (kvctl's default endpoints). */
export const GRPC_PORT_BASE = 7000;
/** HTTP (status, metrics, dashboard) of node N listens on HTTP_PORT_BASE + N. */
export const HTTP_PORT_BASE = 7100;
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
}

export function planCluster(nodes: number, dataDir: string): ClusterNodePlan[] {
  return Array.from({ length: nodes }, (_unused, index) => {
    const id = index + 1;
    return {
      id,
      address: `127.0.0.1:${GRPC_PORT_BASE + id}`,
      httpAddress: `127.0.0.1:${HTTP_PORT_BASE + id}`,
      dataDir: join(dataDir, `node-${id}`),
    };
  });
}

/** The repository root, from this module's URL (src/ or dist/ of packages/kvctl). */
export function repoRootFrom(moduleUrl: string): string {
  return resolve(dirname(fileURLToPath(moduleUrl)), '..', '..', '..');
}

export function serverEntryOf(repoRoot: string): string {
  return join(repoRoot, 'packages', 'kv-server', 'src', 'main.ts');
}

/** The command line starting one node: the server from source through tsx, every member as a --peer. */
export function serverCommandLine(
  node: ClusterNodePlan,
  cluster: readonly ClusterNodePlan[],
  repoRoot: string,
  execPath: string,
): { command: string; args: string[] } {
  const peers = cluster.flatMap((member) => ['--peer', `${member.id}=${member.address}`]);
  return {
    command: execPath,
    args: [
      '--conditions=@cairn/source', '--import', 'tsx', serverEntryOf(repoRoot),
      '--id', String(node.id), '--addr', node.address, '--client-addr', node.httpAddress,
      ...peers, '--data-dir', node.dataDir,
    ],
  };
}

/** A child process to supervise. */
export interface ChildSpec {
  readonly id: number;
  readonly command: string;
  readonly args: readonly string[];
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
      // Own process group: Ctrl-C in the terminal reaches only kvctl, which then
      // stops the nodes once, in order (the server takes a second signal as "exit now").
      const child = spawn(spec.command, [...spec.args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    }
  }

  processStates(): NodeProcessState[] {
    return [...this.states.values()].sort((a, b) => a.id - b.id);
  }

  /** SIGTERM to every live child, SIGKILL to those still alive after graceMs; resolves when all have exited. */
  async stop(graceMs: number): Promise<void> {
    const live = [...this.children.values()].filter((child) => child.exitCode === null && child.signalCode === null && child.pid !== undefined);
    const exited = live.map((child) => new Promise<void>((resolveExit) => child.once('exit', () => resolveExit())));
    for (const child of live) child.kill('SIGTERM');
    const killTimer = setTimeout(() => {
      for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, graceMs);
    await Promise.all(exited);
    clearTimeout(killTimer);
  }
}

/** Asks each planned node for its status directly; a node that does not answer gets its error code. */
export async function pollClusterStatus(clerk: Pick<ClerkLike, 'status'>, plans: readonly ClusterNodePlan[]): Promise<MemberStatusRow[]> {
  const answers = await Promise.all(plans.map(async (plan): Promise<StatusResponse | { error: string }> => {
    try {
      return await clerk.status({ endpoint: plan.address });
    } catch (error) {
      return { error: describeError(error).code };
    }
  }));
  return buildStatusRows(plans.map((plan) => ({ id: plan.id, clientAddress: plan.address, learner: false })), answers);
}

/**
 * `kvctl cluster up`: starts the nodes, shows their status every second until
 * Ctrl-C or SIGTERM, then stops them cleanly. Resolves to the exit code.
 */
export async function runClusterUp(command: Extract<Command, { kind: 'cluster-up' }>, _global: GlobalOptions, io: CliIo): Promise<number> {
  const repoRoot = repoRootFrom(import.meta.url);
  if (!existsSync(serverEntryOf(repoRoot))) throw new NotImplementedError(`cairn-server not found at ${serverEntryOf(repoRoot)}`);
  const dataDir = command.dataDir ?? mkdtempSync(join(tmpdir(), 'cairn-cluster-'));
  const plans = planCluster(command.nodes, dataDir);
  const screen = new ClusterScreen(io, dataDir);
  const group = new ProcessGroup(() => screen.update({ processes: group.processStates() }));
  group.start(plans.map((plan) => ({
    id: plan.id,
    ...serverCommandLine(plan, plans, repoRoot, process.execPath),
    logPath: join(dataDir, `node-${plan.id}.log`),
  })));
  screen.update({ processes: group.processStates() });
  const clerk = Clerk.lazy({ endpoints: plans.map((plan) => plan.address), requestTimeoutMs: 800, deadlineMs: 900 });
  const stopDemo = new AbortController();
  const demo = command.demo ? runDemo(clerk, stopDemo.signal, (bench) => screen.update({ bench })) : Promise.resolve();
  const poller = setInterval(() => {
    void pollClusterStatus(clerk, plans).then((rows) => screen.update({ rows }));
  }, STATUS_POLL_INTERVAL_MS);
  await waitForStopSignal();
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
  await runBench(clerk, { concurrency: 2, durationMs: Number.MAX_SAFE_INTEGER, keys: 100, valueBytes: 64, readRatio: 0.8, progressIntervalMs: 1000 }, { signal, onProgress });
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

  constructor(private readonly io: CliIo, private readonly dataDir: string) {
    this.view = io.stdout.isTTY === true
      ? render(createElement(ClusterView, { dataDir, ...this.state }), { stdout: io.stdout as NodeJS.WriteStream, patchConsole: false })
      : undefined;
    if (this.view === undefined) io.stdout.write(`cluster up: data in ${dataDir}; Ctrl-C to stop\n`);
  }

  update(change: Partial<ScreenState>): void {
    this.state = { ...this.state, ...change };
    if (this.view !== undefined) {
      this.view.rerender(createElement(ClusterView, { dataDir: this.dataDir, ...this.state }));
      return;
    }
    if (change.rows !== undefined) this.io.stdout.write(`${layoutTable(clusterTable(this.state.processes, change.rows))}\n\n`);
    if (change.bench !== undefined) this.io.stdout.write(`demo: ${benchLine(change.bench)}\n`);
    if (change.stopping === true) this.io.stdout.write('stopping nodes…\n');
    if (change.stopped === true) this.io.stdout.write('all nodes stopped\n');
  }

  close(): void {
    this.view?.unmount();
  }
}
