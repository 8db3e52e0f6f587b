/**
 * A cluster of real cairn-server processes for fault tests, each in its own
 * network namespace (see netns.ts), with faults made outside the processes
 * as a production network, kernel or operator would make them:
 *
 * - partitions as nftables drop rules (symmetric, one-way, isolate a node,
 *   any split into groups) and heal (nft.ts);
 * - SIGSTOP/SIGCONT, SIGKILL, SIGTERM, and restart with the same flags;
 * - a wiped data dir, or one rolled back to a copy taken earlier;
 * - with `proxy: true`, every peer link A→B runs through its own TcpProxy
 *   (delay, connection cuts): A's namespace rewrites B's address to the
 *   proxy's, and the proxy dials B from an address that names A, so the
 *   drop rules still tell the sources apart.
 *
 * The test process reaches every node at `10.77.x.N:7001` (gRPC) and
 * `:7002` (HTTP); the ports are fixed because each namespace has its own
 * stack. `stop()` removes everything (processes, namespaces, veths, bridge,
 * nftables tables, temp dirs), and `start()` first removes what a killed
 * run left behind. Needs root, `ip` and `nft`: check `unsupportedReason()`
 * and skip with it.
 */
import type { ChildProcess } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { launchNode, type NodeIdentity } from '@cairn/kv-server/launch';
import { ClusterServiceClient, type StatusResponse } from '@cairn/proto';
import { unaryCall } from './cluster.js';
import { FaultHarnessError, NAME_PREFIX, NetworkLab, type NamespaceNode } from './netns.js';
import { NodeFirewall } from './nft.js';
import { TcpProxy } from './tcp-proxy.js';
import { waitFor } from './wait-for.js';

export const GRPC_PORT = 7001;
export const HTTP_PORT = 7002;
/** Proxy for link A→B listens on B's proxy address at this port plus A. */
const PROXY_PORT_BASE = 17_000;
/** Bytes of each node's output kept in memory for failure messages. */
const OUTPUT_TAIL_BYTES = 64 * 1024;
const STATUS_DEADLINE_MS = 1000;
const START_DEADLINE_MS = 30_000;

export interface FaultClusterOptions {
  /** Number of nodes, ids 1..size. */
  readonly size: number;
  /** More cairn-server flags for every node, after the harness's own. */
  readonly extraArgs?: readonly string[];
  /** Route every peer link through its own TcpProxy (`linkProxy`). @default false */
  readonly proxy?: boolean;
  /** Keep each node's log here (one file per node, appended over restarts). @default $CAIRN_TEST_LOGS, else removed on stop */
  readonly logDir?: string;
}

/** A node process that ended. `expected` when the harness ended it. */
export interface NodeExit {
  readonly id: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly expected: boolean;
  /** It ended before it announced it was serving (a refusal to start, or a crash while starting). */
  readonly duringStart: boolean;
  readonly atMs: number;
  readonly outputTail: string;
}

export type NodeState = 'stopped' | 'running' | 'paused';

export class FaultNode {
  state: NodeState = 'stopped';
  process: ChildProcess | undefined;
  /** The last OUTPUT_TAIL_BYTES of stdout and stderr, interleaved. */
  output = '';
  readonly exits: NodeExit[] = [];
  readonly client: ClusterServiceClient;
  /** Set while the harness itself is ending the process. */
  expectingExit = false;
  served = false;

  constructor(
    readonly net: NamespaceNode,
    readonly dataDir: string,
    readonly logFile: string,
  ) {
    this.client = new ClusterServiceClient(this.grpcAddress, grpc.credentials.createInsecure());
  }

  get id(): number {
    return this.net.id;
  }

  get grpcAddress(): string {
    return `${this.net.address}:${GRPC_PORT}`;
  }

  get httpAddress(): string {
    return `${this.net.address}:${HTTP_PORT}`;
  }
}

export class FaultCluster {
  readonly nodes: FaultNode[] = [];
  private readonly firewalls = new Map<number, NodeFirewall>();
  /** `from>to` for every one-way cut now in force. */
  private readonly cuts = new Set<string>();
  private readonly proxies = new Map<string, TcpProxy>();
  private readonly logs = new Map<number, WriteStream>();
  private readonly savedDirs = new Map<string, string>();
  private savedCount = 0;
  private stopped = false;

  private constructor(
    private readonly options: FaultClusterOptions,
    private readonly lab: NetworkLab,
    readonly root: string,
  ) {}

  /**
   * Builds the network, starts every node and returns once each serves
   * (not once a leader exists: see waitForLeader). Whatever was created is
   * removed again if any step fails.
   */
  static async start(options: FaultClusterOptions): Promise<FaultCluster> {
    if (!Number.isInteger(options.size) || options.size < 1)
      throw new FaultHarnessError('BAD_ARGUMENT', `size must be a positive integer, got ${options.size}`);
    const lab = await NetworkLab.create();
    const cluster = new FaultCluster(options, lab, mkdtempSync(join(tmpdir(), `${NAME_PREFIX}-${process.pid}-`)));
    try {
      await cluster.build();
      await Promise.all(cluster.nodes.map((node) => cluster.launch(node)));
      return cluster;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  }

  private async build(): Promise<void> {
    const logDir = this.options.logDir ?? process.env['CAIRN_TEST_LOGS'] ?? join(this.root, 'logs');
    mkdirSync(logDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (let id = 1; id <= this.options.size; id++) {
      const net = await this.lab.addNode(id);
      this.nodes.push(new FaultNode(net, join(this.root, `node-${id}`), join(logDir, `${stamp}-node-${id}.log`)));
      this.firewalls.set(id, await NodeFirewall.install(net.namespace));
    }
    if (this.options.proxy) await this.startProxies();
  }

  /** One proxy per ordered pair; each node's namespace sends its peer connections to them. */
  private async startProxies(): Promise<void> {
    for (const from of this.nodes) {
      const redirects = [];
      for (const to of this.nodes) {
        if (from === to) continue;
        const port = PROXY_PORT_BASE + from.id;
        const proxy = await TcpProxy.start({
          target: to.grpcAddress,
          listen: { host: to.net.proxyAddress, port },
          localAddress: from.net.proxyAddress,
        });
        this.proxies.set(`${from.id}>${to.id}`, proxy);
        redirects.push({ from: to.grpcAddress, to: `${to.net.proxyAddress}:${port}` });
      }
      await this.firewalls.get(from.id)!.addRedirects(redirects);
    }
  }

  node(id: number): FaultNode {
    const node = this.nodes.find((n) => n.id === id);
    if (node === undefined) throw new FaultHarnessError('BAD_ARGUMENT', `no node ${id}`);
    return node;
  }

  /** Every node's gRPC address, for a client's endpoint list. */
  grpcEndpoints(): string[] {
    return this.nodes.map((n) => n.grpcAddress);
  }

  /** Who node `id` is, the same on every start: its addresses, data dir and every member as a peer. */
  private identity(node: FaultNode): NodeIdentity {
    const peers = this.nodes.map((n) => ({ id: n.id, address: n.grpcAddress }));
    return { id: node.id, address: node.grpcAddress, clientAddress: node.httpAddress, dataDir: node.dataDir, peers };
  }

  /**
   * Starts node `id` (again) with its flags and waits until it serves. A
   * node that exits first rejects with FaultHarnessError NODE_START_FAILED
   * carrying its output (a node may rightly refuse to start).
   */
  async restart(id: number): Promise<void> {
    const node = this.node(id);
    if (node.state !== 'stopped') throw new FaultHarnessError('BAD_ARGUMENT', `node ${id} is ${node.state}; stop it first`);
    await this.launch(node);
  }

  private async launch(node: FaultNode): Promise<void> {
    const args = ['--log-level', 'info', ...(this.options.extraArgs ?? [])];
    // The IPC channel makes the server stop when this process dies, even by SIGKILL (see kv-server main.ts).
    const { child, serving } = launchNode({
      ...this.identity(node),
      args,
      wrapper: ['ip', 'netns', 'exec', node.net.namespace],
      ipc: true,
    });
    node.process = child;
    node.state = 'running';
    node.served = false;
    node.expectingExit = false;
    const log = this.logFor(node);
    log.write(`--- ${new Date().toISOString()} start: node ${node.id}\n`);
    const onOutput = (chunk: Buffer): void => {
      log.write(chunk);
      node.output = (node.output + chunk.toString()).slice(-OUTPUT_TAIL_BYTES);
    };
    // An exit before this is reported below, with the node's output.
    serving.then(
      () => (node.served = true),
      () => undefined,
    );
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const exited = new Promise<NodeExit>((resolve) => {
      child.once('exit', (code, signal) => {
        const exit: NodeExit = {
          id: node.id,
          code,
          signal,
          expected: node.expectingExit,
          duringStart: !node.served,
          atMs: Date.now(),
          outputTail: node.output.slice(-2000),
        };
        node.exits.push(exit);
        log.write(`--- ${new Date().toISOString()} exit: code ${code} signal ${signal}${exit.expected ? '' : ' (not asked for)'}\n`);
        if (node.process === child) {
          node.process = undefined;
          node.state = 'stopped';
        }
        resolve(exit);
      });
    });
    const outcome = await Promise.race([
      waitFor(() => node.served, { deadlineMs: START_DEADLINE_MS, what: `node ${node.id} to serve` }).then(() => undefined),
      exited,
    ]);
    if (outcome !== undefined) {
      throw new FaultHarnessError(
        'NODE_START_FAILED',
        `node ${node.id} exited with ${outcome.code ?? outcome.signal} before serving: ${lastLines(outcome.outputTail, 5)}`,
      );
    }
  }

  private logFor(node: FaultNode): WriteStream {
    let log = this.logs.get(node.id);
    if (log === undefined) {
      log = createWriteStream(node.logFile, { flags: 'a' });
      this.logs.set(node.id, log);
    }
    return log;
  }

  /** kill -9: no shutdown, no flush. Resolves once the process is gone. */
  kill(id: number): Promise<NodeExit | undefined> {
    return this.signalAndWait(this.node(id), 'SIGKILL');
  }

  /** SIGTERM: a graceful stop. */
  terminate(id: number): Promise<NodeExit | undefined> {
    return this.signalAndWait(this.node(id), 'SIGTERM');
  }

  private async signalAndWait(node: FaultNode, signal: NodeJS.Signals): Promise<NodeExit | undefined> {
    const child = node.process;
    if (child === undefined) return undefined;
    node.expectingExit = true;
    const before = node.exits.length;
    const gone = waitFor(() => node.exits[before], { deadlineMs: 30_000, what: `node ${node.id} to exit` });
    child.kill(signal);
    // A stopped process handles SIGTERM only once it runs again.
    if (node.state === 'paused' && signal !== 'SIGKILL') child.kill('SIGCONT');
    return gone;
  }

  /** SIGSTOP: the process freezes, its sockets stay open (a long GC pause, a VM stall). */
  pause(id: number): void {
    const node = this.node(id);
    if (node.state !== 'running') throw new FaultHarnessError('BAD_ARGUMENT', `node ${id} is ${node.state}, not running`);
    node.process!.kill('SIGSTOP');
    node.state = 'paused';
  }

  /** SIGCONT after pause(). */
  resume(id: number): void {
    const node = this.node(id);
    if (node.state !== 'paused') return;
    node.process!.kill('SIGCONT');
    node.state = 'running';
  }

  /** Deletes a stopped node's data dir (a replaced disk). */
  wipe(id: number): void {
    const node = this.requireStopped(id, 'wipe');
    rmSync(node.dataDir, { recursive: true, force: true });
  }

  /** Copies a stopped node's data dir aside; restore it later with rollBack(). Returns the copy's label. */
  saveDataDir(id: number): string {
    const node = this.requireStopped(id, 'copy the data dir of');
    const label = `node-${id}-copy-${++this.savedCount}`;
    const target = join(this.root, 'saved', label);
    if (existsSync(node.dataDir)) cpSync(node.dataDir, target, { recursive: true });
    else mkdirSync(target, { recursive: true });
    this.savedDirs.set(label, target);
    return label;
  }

  /** Replaces a stopped node's data dir with an earlier copy (a restored VM image or backup). */
  rollBack(id: number, label: string): void {
    const node = this.requireStopped(id, 'roll back');
    const saved = this.savedDirs.get(label);
    if (saved === undefined || !label.startsWith(`node-${id}-`))
      throw new FaultHarnessError('BAD_ARGUMENT', `no saved copy ${label} of node ${id}`);
    rmSync(node.dataDir, { recursive: true, force: true });
    cpSync(saved, node.dataDir, { recursive: true });
  }

  private requireStopped(id: number, what: string): FaultNode {
    const node = this.node(id);
    if (node.state !== 'stopped') throw new FaultHarnessError('BAD_ARGUMENT', `cannot ${what} node ${id} while it is ${node.state}`);
    return node;
  }

  /** Packets from `from` no longer reach `to` (one way). */
  async cut(from: number, to: number): Promise<void> {
    this.node(from);
    this.node(to);
    if (from !== to) this.cuts.add(`${from}>${to}`);
    await this.applyCuts();
  }

  /** No packet crosses between the groups, either way; nodes in no group form one more group. */
  async partition(...groups: readonly (readonly number[])[]): Promise<void> {
    const listed = new Set(groups.flat());
    const rest = this.nodes.map((n) => n.id).filter((id) => !listed.has(id));
    const all = rest.length > 0 ? [...groups, rest] : groups;
    const groupOf = new Map<number, number>();
    all.forEach((group, index) => group.forEach((id) => groupOf.set(this.node(id).id, index)));
    for (const a of this.nodes) {
      for (const b of this.nodes) if (groupOf.get(a.id) !== groupOf.get(b.id)) this.cuts.add(`${a.id}>${b.id}`);
    }
    await this.applyCuts();
  }

  /** Cuts `id` off from every other node, both ways. */
  isolate(id: number): Promise<void> {
    return this.partition([id]);
  }

  /**
   * Removes every cut, and every proxy's delay and blackhole, except that
   * nodes in `keepIsolated` stay cut off both ways, in the same step. Use it
   * for a node that is down and must stay silent: a SIGKILLed process's
   * kernel still retransmits what its sockets had queued (a crashed machine
   * would not), and a heal would deliver that.
   */
  async heal(options: { keepIsolated?: readonly number[] } = {}): Promise<void> {
    this.cuts.clear();
    for (const proxy of this.proxies.values()) proxy.heal();
    for (const id of options.keepIsolated ?? []) {
      for (const other of this.nodes) {
        if (other.id === this.node(id).id) continue;
        this.cuts.add(`${id}>${other.id}`);
        this.cuts.add(`${other.id}>${id}`);
      }
    }
    await this.applyCuts();
  }

  /** The one-way cuts in force, as `from>to`. */
  activeCuts(): string[] {
    return [...this.cuts].sort();
  }

  private async applyCuts(): Promise<void> {
    await Promise.all(
      this.nodes.map((to) => {
        const sources = this.nodes
          .filter((from) => this.cuts.has(`${from.id}>${to.id}`))
          .flatMap((from) => [from.net.address, from.net.proxyAddress]);
        return this.firewalls.get(to.id)!.blockSources(sources);
      }),
    );
  }

  /** The proxy carrying connections node `from` opens to node `to` (needs `proxy: true`). */
  linkProxy(from: number, to: number): TcpProxy {
    const proxy = this.proxies.get(`${from}>${to}`);
    if (proxy === undefined)
      throw new FaultHarnessError(
        'BAD_ARGUMENT',
        this.options.proxy ? `no link ${from}>${to}` : 'start the cluster with proxy: true to use link proxies',
      );
    return proxy;
  }

  /** Resets every connection between two nodes, both directions (needs `proxy: true`). */
  cutConnections(a: number, b: number): void {
    this.linkProxy(a, b).cut();
    this.linkProxy(b, a).cut();
  }

  /** Adds `ms` of latency to every connection between two nodes, each way (needs `proxy: true`). */
  delayLink(a: number, b: number, ms: number): void {
    this.linkProxy(a, b).delay(ms);
    this.linkProxy(b, a).delay(ms);
  }

  /** Node `id`'s /status, or undefined if it does not answer within a second. */
  async status(id: number): Promise<StatusResponse | undefined> {
    const node = this.node(id);
    if (node.state !== 'running') return undefined;
    return unaryCall<StatusResponse>((cb) =>
      node.client.status({}, new grpc.Metadata(), { deadline: Date.now() + STATUS_DEADLINE_MS }, cb),
    ).catch(() => undefined);
  }

  /** Waits until one running node leads and a majority of the cluster names it; returns its id. */
  async waitForLeader(deadlineMs = 30_000): Promise<number> {
    return waitFor(
      async () => {
        const statuses = await Promise.all(this.nodes.map((n) => this.status(n.id)));
        const leaders = statuses.filter((s) => s?.role === 'leader');
        if (leaders.length !== 1) return undefined;
        const leaderId = leaders[0]!.id;
        const agreeing = statuses.filter((s) => s?.leaderId === leaderId).length;
        return agreeing * 2 > this.nodes.length ? leaderId : undefined;
      },
      { deadlineMs, intervalMs: 50, what: 'a leader named by a majority' },
    );
  }

  /**
   * The structured log records of node `id` (every start, in order) whose
   * `event` is `event`, read from its log file. The file is written
   * asynchronously: poll with waitFor for a record that is still to come.
   */
  logEvents(id: number, event: string): Array<Record<string, unknown>> {
    const node = this.node(id);
    if (!existsSync(node.logFile)) return [];
    const records: Array<Record<string, unknown>> = [];
    for (const line of readFileSync(node.logFile, 'utf8').split('\n')) {
      // Cheap filter first: most lines are other events, and the harness's own lines are not JSON.
      if (!line.startsWith('{') || !line.includes(event)) continue;
      try {
        const record = JSON.parse(line) as Record<string, unknown>;
        if (record['event'] === event) records.push(record);
      } catch {
        // A line cut short by a SIGKILL.
      }
    }
    return records;
  }

  /** Node exits the harness did not ask for, except clean refusals to start (a crash, an assertion). */
  crashes(): NodeExit[] {
    return this.nodes
      .flatMap((n) => n.exits)
      .filter((e) => !e.expected && (!e.duringStart || /INTERNAL|AssertionError|FATAL/.test(e.outputTail)));
  }

  /** One line per node: state and the end of its output; for a failure message. */
  describe(): string {
    return this.nodes.map((n) => `node ${n.id} (${n.state}, ${n.net.namespace}): ${lastLines(n.output, 3)}`).join('\n');
  }

  /** Kills every node and removes every resource. Safe to call twice, and after a failed start. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      await Promise.all(this.nodes.map((n) => this.kill(n.id).catch(() => undefined)));
      await Promise.all([...this.proxies.values()].map((p) => p.close()));
      for (const n of this.nodes) n.client.close();
      await Promise.all([...this.logs.values()].map((log) => new Promise((resolve) => log.end(resolve))));
    } finally {
      await this.lab.remove();
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join(' | ');
}
